//! The product's proof: `examples/cicd/pipeline.yaml`, deployed to a real `sluice server`,
//! started by signed GitHub push webhooks, shipping the real service of `examples/cicd/service`
//! (see `support_cicd` for the pieces, every one real on 127.0.0.1). Three pushes:
//! 1. the first version: tested, gated, built, pushed, released whole, announced;
//! 2. a change that answers 500 for part of the traffic: its canary fails the Prometheus check,
//!    is rolled back by itself, PagerDuty is paged, the execution names the failed check;
//! 3. a change that breaks a unit test: it stops at the test gate, nothing is built or deployed.
//!
//! The slow test of the suite (a few minutes: real containers, real rollouts), and the only one
//! in this file, so it runs once.

#![allow(clippy::unwrap_used)]
// `common` and `support_git`'s suite both load `common/doc.rs`, each for its own users.
#![allow(clippy::duplicate_mod)]

mod common;
#[path = "../../sandbox/tests/docker_env/mod.rs"]
mod docker_env;
#[allow(dead_code)]
#[path = "support_tickets/jira.rs"]
mod jira;
mod support_cicd;
mod support_git;
mod support_kube;
mod support_notify;
/// Only the recording server of the ticket doubles, which the Jira double runs on.
mod support_tickets {
    #![allow(dead_code)]
    pub mod http;
}

use std::time::Duration;

use serde_json::Value;
use support_cicd::shoppers::Shoppers;
use support_cicd::{IMAGE, SHOP_URL, World};
use support_kube::eventually;
use support_notify::pagerduty;

const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_pushes_ship_then_roll_back_a_bad_canary_then_stop_at_the_test_gate() {
    let world = World::start().await;

    // 1. The first version ships.
    let first = world.push_head();
    let doc = world.push(NO_COMMIT, &first, "shop: the first version").await;
    assert_eq!(doc["state"], "SUCCESS", "{doc:#}");
    report_stages("first push", &doc);
    let outputs = &doc["outputs"];
    let tests = &outputs["testGate"]["summary"];
    assert_eq!((tests["kind"].as_str(), tests["failed"].as_u64()), (Some("tests"), Some(0)), "{tests}");
    assert!(tests["tests"].as_u64().unwrap() >= 5, "{tests}");
    assert!(outputs["coverageGate"]["line"].as_f64().unwrap() >= 85.0, "{:#}", outputs["coverageGate"]);
    assert_eq!(outputs["lintGate"]["summary"]["findings"], 0, "{:#}", outputs["lintGate"]);
    let digest = outputs["push"]["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(world.registry_tags(), std::slice::from_ref(&first));
    let released = format!("{IMAGE}@{digest}");
    assert_eq!(world.deployed_image("shop").as_deref(), Some(released.as_str()));
    assert_eq!(world.replicas("shop"), Some(5));
    assert!(world.kube.object("apps/v1", "Deployment", "shop", "shop-canary").is_none());
    let v1 = format!("shop {}", &first[..7]);
    let shoppers = Shoppers::start(SHOP_URL);
    serves_only(&shoppers, &v1).await;
    let link = execution_link(&world, &doc);
    let slack = slack_texts(&world);
    assert_eq!(slack.len(), 1, "{slack:?}");
    assert!(slack[0].contains("is live on 100% of the pods") && slack[0].contains(&link), "{slack:?}");
    let comments = world.jira.issue(1).unwrap().comments;
    assert_eq!(comments.len(), 1);
    let comment = comments[0].to_string();
    assert!(comment.contains(&link) && comment.contains(&released), "{comment}");
    assert!(world.pagerduty.received().is_empty());

    // 2. A change that fails every third item: the canary's error rate rolls it back.
    shoppers.take();
    let (second, doc) =
        push_change(&world, &first, "2-faulty-discount.patch", "shop: bundle discounts").await;
    assert_eq!(doc["state"], "FAILED", "{doc:#}");
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.starts_with("task `release` failed: failed: the analysis at step 3 of 6 failed: prometheus"),
        "{error}"
    );
    assert!(error.contains("< 0.05 failed 3 time(s)"), "{error}");
    assert!(
        error.ends_with("rolled back: weight 0, Deployment shop-canary scaled to 0, Deployment shop left at revision 1 with 5 replicas"),
        "{error}"
    );
    let during = shoppers.take();
    assert!(
        during.get("500").copied().unwrap_or(0) > 0,
        "the canary answered shoppers with errors: {during:?}"
    );
    assert_eq!(world.registry_tags(), sorted([first.clone(), second.clone()]));
    assert_eq!(world.deployed_image("shop").as_deref(), Some(released.as_str()));
    assert_eq!(world.replicas("shop"), Some(5));
    assert_eq!(world.replicas("shop-canary"), Some(0));
    eventually("the canary's pods are gone", Duration::from_secs(30), || {
        world.live_pods(("sluice.dev/track", "canary")).is_empty()
    });
    let stable = world.live_pods(("app", "shop"));
    assert_eq!(stable.len(), 5);
    assert!(stable.iter().all(|p| p["spec"]["containers"][0]["image"] == released.as_str()));
    serves_only(&shoppers, &v1).await;
    let pages = world.pagerduty.received();
    assert_eq!(pages.len(), 1, "one page");
    let event = pages[0].json().unwrap();
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["routing_key"], pagerduty::ROUTING_KEY);
    assert_eq!(event["payload"]["severity"], "critical");
    let summary = event["payload"]["summary"].as_str().unwrap();
    assert_eq!(summary, format!("shop {}: the canary release failed and was rolled back", &second[..7]));
    let slack = slack_texts(&world);
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(
        slack[1].contains("did not ship") && slack[1].contains(&execution_link(&world, &doc)),
        "{slack:?}"
    );

    // 3. A change that breaks a unit test stops at the gate: nothing is built, pushed or deployed.
    let (third, doc) =
        push_change(&world, &second, "3-broken-test.patch", "shop: new home page wording").await;
    assert_eq!(doc["state"], "FAILED", "{doc:#}");
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.starts_with("task `testGate` failed: failed: gate.tests: 1 tests failed (1 failures, 0 errors), more than maxFailures 0. First failure:"),
        "{error}"
    );
    assert_eq!(
        run_state(&doc, "unitTests"),
        Some("WARNING"),
        "the test run failed and was let through to the gate"
    );
    for never in ["image", "push", "release", "tellSlack", "tellJira", "page"] {
        assert!(matches!(run_state(&doc, never), None | Some("SKIPPED")), "{never} ran: {doc:#}");
    }
    assert_eq!(world.registry_tags(), sorted([first.clone(), second.clone()]));
    let built = docker_env::docker_output(&["image", "inspect", &format!("{IMAGE}:{third}")]);
    assert!(!built.status.success(), "no image was built for the third push");
    assert_eq!(world.deployed_image("shop").as_deref(), Some(released.as_str()));
    assert_eq!(world.pagerduty.received().len(), 1, "a red test pages nobody");
    assert_eq!(slack_texts(&world).len(), 3);
    serves_only(&shoppers, &v1).await;

    if std::env::var_os("SLUICE_CICD_KEEP").is_some() {
        keep_serving(&world).await;
    }
    shoppers.stop();
    for commit in [&first, &second] {
        docker_env::docker_output(&["image", "rm", &format!("{IMAGE}:{commit}")]);
    }
}

/// Commits `examples/cicd/changes/<patch>` over `before` and pushes it: the commit and the
/// document of the execution its webhook started.
async fn push_change(world: &World, before: &str, patch: &str, message: &str) -> (String, Value) {
    let commit = world.commit_and_push(message, |work| World::apply_patch(work, patch));
    let doc = world.push(before, &commit, message).await;
    report_stages(patch, &doc);
    (commit, doc)
}

/// `examples/cicd/run.sh --keep`: everything stays up to be looked at until Ctrl-C.
async fn keep_serving(world: &World) {
    let kubeconfig = std::env::temp_dir().join("sluice-cicd-kubeconfig");
    world.kube.write_kubeconfig(&kubeconfig).unwrap();
    eprintln!(
        "\nEverything stays up until Ctrl-C:\n  sluice API   {}/api/v1/executions\n  the shop     {SHOP_URL}/?item=7\n  Prometheus   {}\n  registry     http://{}/v2/_catalog\n  repository   {}\n  kubectl      --kubeconfig {}",
        world.server.base,
        world.prometheus.url,
        world.registry.address,
        world.clone_url,
        kubeconfig.display(),
    );
    tokio::signal::ctrl_c().await.unwrap();
}

/// The execution's page, as the server's `--public-url` makes it.
fn execution_link(world: &World, doc: &Value) -> String {
    format!("{}/executions/{}", world.server.base, doc["executionId"].as_str().unwrap())
}

fn slack_texts(world: &World) -> Vec<String> {
    world.slack.received().iter().map(|r| r.json().unwrap()["text"].as_str().unwrap().to_string()).collect()
}

fn run_state<'a>(doc: &'a Value, id: &str) -> Option<&'a str> {
    doc["taskRuns"].as_array().unwrap().iter().find(|r| r["id"] == id).and_then(|r| r["state"].as_str())
}

fn sorted<const N: usize>(mut tags: [String; N]) -> Vec<String> {
    tags.sort();
    tags.to_vec()
}

/// Two seconds of shoppers' answers, all from `version`.
async fn serves_only(shoppers: &Shoppers, version: &str) {
    shoppers.take();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = shoppers.take();
    assert_eq!(seen.keys().collect::<Vec<_>>(), [version], "{seen:?}");
}

/// Prints each stage's wall time (the README's performance section quotes them).
fn report_stages(push: &str, doc: &Value) {
    let runs = doc["taskRuns"].as_array().unwrap();
    let stages: Vec<String> = runs
        .iter()
        .filter(|r| r["parent"].is_null() || r["taskId"] == "unitTests" || r["taskId"] == "lint")
        .map(|r| {
            format!("{} {} ms ({})", r["id"].as_str().unwrap(), r["durationMs"], r["state"].as_str().unwrap())
        })
        .collect();
    eprintln!("{push}: {} — {}; error: {}", doc["state"], stages.join(", "), doc["error"]);
}
