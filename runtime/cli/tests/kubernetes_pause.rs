//! The approval pattern of `examples/flows/canary-release.yaml`, run by `sluice server` against
//! the Kubernetes API double: a canary task that ends at its indefinite pause (`outcome:
//! paused`, its progress kept in an annotation on the canary Deployment), a `flow.pause` that
//! holds the execution with the canary serving its share, a resume over the API, and a
//! `kubernetes.deploy` with `action: promote` that carries the canary on from the cluster's
//! state: stable takes the new version, the canary goes.

#![allow(clippy::unwrap_used)]

mod common;
mod support_kube;

use std::time::{Duration, Instant};

use common::doc::run_of;
use common::server::Server;
use serde_json::Value;
use support_kube::{Kube, indented, web_manifests};

fn flow(id: &str, tasks: &str) -> String {
    format!("id: {id}\nnamespace: t\ntasks:\n{tasks}")
}

/// Waits (up to 3 minutes: the rollouts of a canary take a while on a busy machine) until the
/// execution is in `state`, failing at once if it ends in another.
async fn wait_for(server: &Server, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, doc) = server.get(&format!("/api/v1/executions/{id}")).await;
        assert_eq!(status, 200, "{doc:#}");
        if doc["state"] == state {
            return doc;
        }
        let ended = ["SUCCESS", "WARNING", "FAILED", "KILLED"].contains(&doc["state"].as_str().unwrap());
        assert!(!ended && Instant::now() < deadline, "execution {id} is not {state}: {doc:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn messages(logs: &Value) -> Vec<String> {
    logs.as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap().to_string()).collect()
}

/// The example's shape, which the flow below follows: a canary ending at an indefinite pause,
/// a `flow.pause`, and a promote of the same Deployment.
#[test]
fn the_example_is_a_canary_then_an_approval_then_a_promote() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows/canary-release.yaml");
    let example: Value = yaml_serde::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let tasks = example["tasks"].as_array().unwrap();
    let shape: Vec<(&str, &str)> = tasks
        .iter()
        .map(|t| (t["type"].as_str().unwrap(), t["strategy"].as_str().or(t["action"].as_str()).unwrap_or("")))
        .collect();
    assert_eq!(
        shape,
        [("kubernetes.deploy", "canary"), ("flow.pause", ""), ("kubernetes.deploy", "promote")]
    );
    let steps = tasks[0]["canary"]["steps"].as_array().unwrap();
    assert_eq!(steps.last().unwrap(), &serde_json::json!({"pause": {}}));
    assert_eq!(tasks[2]["name"], "web");
}

#[test]
fn a_canary_paused_for_approval_is_promoted_when_the_execution_is_resumed() {
    let kube = Kube::start();
    let first = format!(
        "  - id: apply\n    type: kubernetes.apply\n    waitForRollout: true\n    manifests: |\n{}{}",
        indented(&web_manifests("web", "v1", 4, ""), 6),
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("first", &flow("first", &first)));
    assert_eq!(code, 0, "{doc:#}");
    let service = kube.service_url("default", "web");

    // As the example: steps with a timed pause and an analysis, then an indefinite pause; an
    // approval; a promote by the Deployment's name alone.
    let deployment = web_manifests("web", "v2", 4, "").split("---\n").nth(1).unwrap().to_string();
    let tasks = format!(
        r#"  - id: canary
    type: kubernetes.deploy
    strategy: canary
    service: web
    rolloutTimeout: 60s
    canary:
      steps:
        - setWeight: 25
        - pause: 1s
        - analysis:
            http:
              - url: {service}/healthz
                samples: 2
                interval: 100ms
        - setWeight: 50
        - pause: {{}}
    manifests: |
{}{}  - id: approve
    type: flow.pause
    timeout: 4h
  - id: promote
    type: kubernetes.deploy
    action: promote
    name: web
    rolloutTimeout: 60s
{}"#,
        indented(&deployment, 6),
        kube.connection_granting("KUBECONFIG", &[&service]),
        kube.connection()
    );
    let yaml = flow("canary-release", &tasks);

    let data = tempfile::tempdir().unwrap();
    let secrets = kube.secrets();
    let env: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(data.path(), &[], &env);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (status, saved) = server.post("/api/v1/flows", &yaml).await;
        assert_eq!(status, 201, "{saved:#}");
        let (status, started) = server.post("/api/v1/executions/t/canary-release", "{}").await;
        assert_eq!(status, 202, "{started:#}");
        let id = started["executionId"].as_str().unwrap().to_string();

        // Paused after the canary task: the canary serves half, nothing is promoted yet.
        let paused = wait_for(&server, &id, "PAUSED").await;
        assert_eq!(run_of(&paused, "canary")["state"], "SUCCESS", "{paused:#}");
        assert_eq!(run_of(&paused, "approve")["state"], "RUNNING", "{paused:#}");
        let ids: Vec<&str> =
            paused["taskRuns"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert!(!ids.contains(&"promote"), "{ids:?}");
        let canary = &paused["outputs"]["canary"];
        assert_eq!(
            (canary["outcome"].as_str(), canary["canaryWeight"].as_u64()),
            (Some("paused"), Some(50)),
            "{canary:#}"
        );
        assert_eq!(canary["analysis"][0]["passed"], true, "{canary:#}");
        assert_eq!(kube.get("deployment", "default", "web-canary").unwrap()["spec"]["replicas"], 2);
        let stable = kube.get("deployment", "default", "web").unwrap();
        assert_eq!(stable["spec"]["replicas"], 2);
        assert_eq!(stable["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "v1");
        let state = kube.get("deployment", "default", "web-canary").unwrap()["metadata"]["annotations"]
            ["sluice.dev/canary"]
            .as_str()
            .map(|text| serde_json::from_str::<Value>(text).unwrap())
            .unwrap();
        assert_eq!((state["next"].as_u64(), state["weight"].as_u64()), (Some(5), Some(50)), "{state:#}");
        kube.splits(&service, 40, &[("v1", 20), ("v2", 20)]);

        // Approved: the promote task carries the canary on from its annotation.
        let (status, resumed) = server.post(&format!("/api/v1/executions/{id}/resume"), "{}").await;
        assert_eq!(status, 202, "{resumed:#}");
        let done = wait_for(&server, &id, "SUCCESS").await;
        let promote = &done["outputs"]["promote"];
        assert_eq!(
            (promote["outcome"].as_str(), promote["revision"].as_str()),
            (Some("released"), Some("2")),
            "{promote:#}"
        );
        let (_, logs) = server.get(&format!("/api/v1/executions/{id}/logs?taskRun=promote")).await;
        let logged = messages(&logs);
        for line in [
            "promoting the canary of web from step 6",
            "canary promoted: Deployment web runs the new template at revision 2",
        ] {
            assert!(logged.contains(&line.to_string()), "{line:?} not in {logged:#?}");
        }
    });
    let stable = kube.get("deployment", "default", "web").unwrap();
    assert_eq!(stable["spec"]["replicas"], 4);
    assert_eq!(stable["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "v2");
    assert!(kube.get("deployment", "default", "web-canary").is_none());
    kube.serves_only(&service, "v2");
    assert_eq!(server.terminate(), 0);
}
