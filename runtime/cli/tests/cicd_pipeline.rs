//! The product's proof: `examples/cicd/pipeline.yaml`, deployed to a real `sluice server`,
//! started by signed GitHub push webhooks, shipping the real service of `examples/cicd/service`
//! (see `support_cicd` for the pieces, every one real on 127.0.0.1). Four pushes:
//! 1. the first version: tested, gated, built, pushed, released whole, announced;
//! 2. a harmless change: released through the canary (10% → 50% → 100%, HTTP and Prometheus
//!    checks passing), shoppers meeting both versions and no error on the way;
//! 3. a change that answers 500 for part of the traffic: its canary fails the Prometheus check,
//!    is rolled back by itself, PagerDuty is paged, the execution names the failed check;
//! 4. a change that breaks a unit test: it stops at the test gate, nothing is built or deployed.
//!
//! The slow test of the suite (a minute or two: real containers, real rollouts), and the only
//! one in this file, so it runs once.

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
async fn pushes_ship_through_a_canary_roll_a_bad_one_back_and_stop_at_the_test_gate() {
    let world = World::start().await;
    let first = first_version(&world).await;
    let shoppers = Shoppers::start(SHOP_URL);
    serves_only(&shoppers, &version(&first.commit)).await;
    let second = good_change_through_the_canary(&world, &shoppers, &first).await;
    let third = bad_change_rolled_back(&world, &shoppers, &second).await;
    broken_test_stops_at_the_gate(&world, &shoppers, &second, &third).await;

    if std::env::var_os("SLUICE_CICD_KEEP").is_some() {
        keep_serving(&world).await;
    }
    shoppers.stop();
    for commit in [&first.commit, &second.commit, &third] {
        docker_env::docker_output(&["image", "rm", &format!("{IMAGE}:{commit}")]);
    }
}

/// A commit that shipped: its id and the image reference the cluster runs.
struct Shipped {
    commit: String,
    image: String,
}

/// What a shopper reads from a version: `shop <first 7 of the commit>`.
fn version(commit: &str) -> String {
    format!("shop {}", &commit[..7])
}

/// 1. The first version: tested, gated, built, pushed and released whole (there is no stable
///    version to compare a canary with), then announced on Slack and Jira with its link.
async fn first_version(world: &World) -> Shipped {
    let commit = world.push_head();
    let doc = world.push(NO_COMMIT, &commit, "shop: the first version").await;
    assert_eq!(doc["state"], "SUCCESS", "{doc:#}");
    report_stages("first push", &doc);
    let outputs = &doc["outputs"];
    let tests = &outputs["testGate"]["summary"];
    assert_eq!((tests["kind"].as_str(), tests["failed"].as_u64()), (Some("tests"), Some(0)), "{tests}");
    assert!(tests["tests"].as_u64().unwrap() >= 5, "{tests}");
    assert!(outputs["coverageGate"]["line"].as_f64().unwrap() >= 85.0, "{:#}", outputs["coverageGate"]);
    assert_eq!(outputs["lintGate"]["summary"]["findings"], 0, "{:#}", outputs["lintGate"]);
    let shipped = shipped(world, &doc, &commit);
    assert_eq!(world.registry_tags(), std::slice::from_ref(&commit));
    assert_eq!(outputs["release"]["message"], "first release of shop, in whole", "{:#}", outputs["release"]);
    assert!(world.kube.object("apps/v1", "Deployment", "shop", "shop-canary").is_none());
    announced(world, &doc, &shipped, 1);
    assert!(world.pagerduty.received().is_empty());
    shipped
}

/// 2. A harmless change goes through the canary: 10%, checks, 50%, checks, 100%; shoppers meet
///    both versions on the way and no error.
async fn good_change_through_the_canary(world: &World, shoppers: &Shoppers, before: &Shipped) -> Shipped {
    shoppers.take();
    let commit = world.commit_and_push("shop: a changelog", |work| {
        std::fs::write(work.join("CHANGELOG.md"), "# shop\n\n- the first version\n").unwrap();
    });
    let (doc, trace) = world.traced(world.push(&before.commit, &commit, "shop: a changelog")).await;
    report_stages("good change", &doc);
    assert_eq!(doc["state"], "SUCCESS", "{doc:#}\n{trace}");
    let release = &doc["outputs"]["release"];
    assert_eq!(
        (release["outcome"].as_str(), release["revision"].as_str()),
        (Some("released"), Some("2")),
        "{release:#}"
    );
    // Both analyses passed on real samples: every health check a 200, every error ratio 0.
    let analysis = release["analysis"].as_array().unwrap();
    let stages: Vec<&str> = analysis.iter().map(|a| a["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["canary step 3 of 6", "canary step 6 of 6"], "{release:#}");
    let checks: Vec<&Value> = analysis.iter().flat_map(|a| a["checks"].as_array().unwrap()).collect();
    assert_eq!(checks.len(), 3, "{release:#}");
    for check in checks {
        let name = check["check"].as_str().unwrap();
        let samples: Vec<&str> =
            check["samples"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(samples.len(), 3, "{name}: {samples:?}");
        if name.starts_with("http GET http://127.0.0.1:30080/healthz") {
            assert!(samples.iter().all(|s| s.starts_with("200 in ")), "{name}: {samples:?}");
        } else {
            assert!(name.starts_with("prometheus `(sum(rate(shop_http_requests_total"), "{name}");
            assert_eq!(samples, ["0", "0", "0"], "{name}");
        }
    }
    let during = shoppers.take();
    let (old, new) = (version(&before.commit), version(&commit));
    assert!(during.contains_key(&old) && during.contains_key(&new), "shoppers met both versions: {during:?}");
    assert!(!during.contains_key("500") && !during.contains_key("unreachable"), "{during:?}");
    let shipped = shipped(world, &doc, &commit);
    assert!(
        world.kube.object("apps/v1", "Deployment", "shop", "shop-canary").is_none(),
        "the canary is gone"
    );
    serves_only(shoppers, &version(&commit)).await;
    announced(world, &doc, &shipped, 2);
    shipped
}

/// 3. A change that fails every third item: the canary's error rate rolls it back by itself,
///    PagerDuty is paged, and the execution names the failed check.
async fn bad_change_rolled_back(world: &World, shoppers: &Shoppers, stable: &Shipped) -> String {
    let mut tags = world.registry_tags();
    shoppers.take();
    let push = push_change(world, &stable.commit, "2-faulty-discount.patch", "shop: bundle discounts");
    let ((commit, doc), trace) = world.traced(push).await;
    assert_eq!(doc["state"], "FAILED", "{doc:#}");
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.starts_with("task `release` failed: failed: the analysis at step 3 of 6 failed: prometheus"),
        "{error}\n{trace}"
    );
    assert!(error.contains("< 0.05 failed 3 time(s)"), "{error}\n{trace}");
    assert!(
        error.ends_with("rolled back: weight 0, Deployment shop-canary scaled to 0, Deployment shop left at revision 2 with 5 replicas"),
        "{error}"
    );
    let during = shoppers.take();
    assert!(
        during.get("500").copied().unwrap_or(0) > 0,
        "the canary answered shoppers with errors: {during:?}; {error}\n{trace}"
    );
    tags.push(commit.clone());
    tags.sort();
    assert_eq!(world.registry_tags(), tags, "the image was pushed before its release");
    assert_eq!(world.deployed_image("shop").as_deref(), Some(stable.image.as_str()));
    assert_eq!(world.replicas("shop"), Some(5));
    assert_eq!(world.replicas("shop-canary"), Some(0));
    eventually("the canary's pods are gone", Duration::from_secs(30), || {
        world.live_pods(("sluice.dev/track", "canary")).is_empty()
    });
    let serving = world.live_pods(("app", "shop"));
    assert_eq!(serving.len(), 5);
    assert!(serving.iter().all(|p| p["spec"]["containers"][0]["image"] == stable.image.as_str()));
    serves_only(shoppers, &version(&stable.commit)).await;
    let pages = world.pagerduty.received();
    assert_eq!(pages.len(), 1, "one page");
    let event = pages[0].json().unwrap();
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["routing_key"], pagerduty::ROUTING_KEY);
    assert_eq!(event["payload"]["severity"], "critical");
    let summary = event["payload"]["summary"].as_str().unwrap();
    assert_eq!(summary, format!("shop {}: the canary release failed and was rolled back", &commit[..7]));
    let slack = slack_texts(world);
    assert_eq!(slack.len(), 3, "{slack:?}");
    assert!(
        slack[2].contains("did not ship") && slack[2].contains(&execution_link(world, &doc)),
        "{slack:?}"
    );
    commit
}

/// 4. A change that breaks a unit test stops at the gate: nothing is built, pushed or deployed,
///    and nobody is paged.
async fn broken_test_stops_at_the_gate(world: &World, shoppers: &Shoppers, stable: &Shipped, bad: &str) {
    let tags = world.registry_tags();
    let (commit, doc) = push_change(world, bad, "3-broken-test.patch", "shop: new home page wording").await;
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
    assert_eq!(world.registry_tags(), tags);
    let built = docker_env::docker_output(&["image", "inspect", &format!("{IMAGE}:{commit}")]);
    assert!(!built.status.success(), "no image was built for the broken test");
    assert_eq!(world.deployed_image("shop").as_deref(), Some(stable.image.as_str()));
    assert_eq!(world.pagerduty.received().len(), 1, "a red test pages nobody");
    assert_eq!(slack_texts(world).len(), 4);
    serves_only(shoppers, &version(&stable.commit)).await;
}

/// The pushed digest is what the shop Deployment runs, on 5 replicas.
fn shipped(world: &World, doc: &Value, commit: &str) -> Shipped {
    let digest = doc["outputs"]["push"]["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let image = format!("{IMAGE}@{digest}");
    assert_eq!(world.deployed_image("shop").as_deref(), Some(image.as_str()));
    assert_eq!(world.replicas("shop"), Some(5));
    Shipped { commit: commit.to_string(), image }
}

/// The `count`th Slack message and Jira comment are this release's, with the execution's link.
fn announced(world: &World, doc: &Value, shipped: &Shipped, count: usize) {
    let link = execution_link(world, doc);
    let slack = slack_texts(world);
    assert_eq!(slack.len(), count, "{slack:?}");
    assert!(
        slack[count - 1].contains("is live on 100% of the pods") && slack[count - 1].contains(&link),
        "{slack:?}"
    );
    let comments = world.jira.issue(1).unwrap().comments;
    assert_eq!(comments.len(), count);
    let comment = comments[count - 1].to_string();
    assert!(comment.contains(&link) && comment.contains(&shipped.image), "{comment}");
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
