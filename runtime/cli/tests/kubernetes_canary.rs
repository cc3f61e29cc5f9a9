//! `kubernetes.deploy` with the `canary` strategy end to end: replica-ratio and Gateway API
//! weights, a timed pause that holds the release, an indefinite pause continued by `promote` or
//! rolled back by `abort`, and a canary rolled back by itself when the real Prometheus (scraping
//! an exporter the test drives) reports an error rate over the threshold, or, on a Gateway API
//! route, when its HTTP check fails (the route's weight back to 0). The task logs are read
//! back from the store: each analysis sample, in order. Traffic goes to the Service's and the
//! HTTPRoute's local ports, so the split the test counts is real requests answered by real
//! containers.

#![allow(clippy::unwrap_used)]

mod support_kube;

use std::time::Duration;

use support_kube::log::position;
use support_kube::prometheus::{Exporter, Prometheus};
use support_kube::{Kube, indented, task_error, task_outputs, web_manifests};

fn flow(id: &str, tasks: &str) -> String {
    format!("id: {id}\nnamespace: t\ntasks:\n{tasks}")
}

fn first_release(kube: &Kube, extra: &str) {
    let tasks = format!(
        "  - id: apply\n    type: kubernetes.apply\n    waitForRollout: true\n    manifests: |\n{}{}",
        indented(&format!("{}{extra}", web_manifests("web", "v1", 4, "")), 6),
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("first", &flow("first", &tasks)));
    assert_eq!(code, 0, "{doc:#}");
}

fn deployment_only(version: &str) -> String {
    web_manifests("web", version, 4, "").split("---\n").nth(1).unwrap().to_string()
}

#[test]
fn a_canary_pauses_at_half_the_pods_then_promote_gives_stable_the_new_version() {
    let kube = Kube::start();
    first_release(&kube, "");
    let service = kube.service_url("default", "web");
    let tasks = format!(
        "  - id: canary\n    type: kubernetes.deploy\n    strategy: canary\n    rolloutTimeout: 60s\n    canary:\n      steps:\n        - setWeight: 25\n        - pause: 1s\n        - setWeight: 50\n        - pause: {{}}\n    manifests: |\n{}{}",
        indented(&deployment_only("v2"), 6),
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("canary", &flow("canary", &tasks)));
    assert_eq!(code, 0, "{doc:#}");
    let outputs = task_outputs(&doc, "canary");
    assert_eq!((outputs["outcome"].as_str(), outputs["canaryWeight"].as_u64()), (Some("paused"), Some(50)));
    // 2 canary and 2 stable pods behind the one Service: one connection each, in turn.
    assert_eq!(kube.get("deployment", "default", "web-canary").unwrap()["spec"]["replicas"], 2);
    assert_eq!(kube.get("deployment", "default", "web").unwrap()["spec"]["replicas"], 2);
    kube.splits(&service, 40, &[("v1", 20), ("v2", 20)]);
    // The 1 s pause held the release: step 3 began right after it, at least 1 s later.
    let log = kube.task_log(&doc, "canary");
    let at = |line: &str| position(&log, line, |m| m == line);
    let weight_25 = at("weight 25%: 1 canary and 3 stable pods behind the Service");
    let pausing = at("step 2 of 4: pausing for 1s");
    let step_3 = at("Deployment web-canary scaled to 2");
    let weight_50 = at("weight 50%: 2 canary and 2 stable pods behind the Service");
    let paused = at(
        "step 4 of 4: paused at weight 50%; a kubernetes.deploy task with `action: promote` continues, `action: abort` rolls back",
    );
    assert!(weight_25 < pausing && pausing + 1 == step_3 && step_3 < weight_50 && weight_50 < paused);
    assert_eq!(paused, log.len() - 1, "the pause is the task's last line");
    let held = log[step_3].time.duration_since(log[pausing].time).unwrap();
    assert!(held >= Duration::from_secs(1), "held {held:?}");

    let promote = format!(
        "  - id: promote\n    type: kubernetes.deploy\n    action: promote\n    name: web\n    rolloutTimeout: 60s\n{}",
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("promote", &flow("promote", &promote)));
    assert_eq!(code, 0, "{doc:#}");
    let outputs = task_outputs(&doc, "promote");
    assert_eq!((outputs["outcome"].as_str(), outputs["revision"].as_str()), (Some("released"), Some("2")));
    let stable = kube.get("deployment", "default", "web").unwrap();
    assert_eq!(stable["spec"]["replicas"], 4);
    assert_eq!(stable["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "v2");
    assert!(kube.get("deployment", "default", "web-canary").is_none());
    kube.serves_only(&service, "v2");

    // Nothing under way any more: a second promote says so.
    let (code, doc) = kube.run_json(&kube.flow("promote", &flow("promote", &promote)));
    assert_eq!(code, 1);
    assert_eq!(
        task_error(&doc, "promote"),
        "failed: no canary of Deployment default/web is under way (web-canary has no release state)"
    );
}

#[test]
fn abort_rolls_a_paused_canary_back_and_nothing_is_left_to_promote() {
    let kube = Kube::start();
    first_release(&kube, "");
    let service = kube.service_url("default", "web");
    let tasks = format!(
        "  - id: canary\n    type: kubernetes.deploy\n    strategy: canary\n    rolloutTimeout: 60s\n    canary:\n      steps:\n        - setWeight: 25\n        - pause: {{}}\n        - setWeight: 75\n    manifests: |\n{}{}",
        indented(&deployment_only("v2"), 6),
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("canary", &flow("canary", &tasks)));
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(task_outputs(&doc, "canary")["outcome"], "paused");
    kube.splits(&service, 40, &[("v1", 30), ("v2", 10)]);

    let resume = |action: &str| {
        let tasks = format!(
            "  - id: {action}\n    type: kubernetes.deploy\n    action: {action}\n    name: web\n    rolloutTimeout: 60s\n{}",
            kube.connection()
        );
        kube.run_json(&kube.flow(action, &flow(action, &tasks)))
    };
    let (code, doc) = resume("abort");
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        task_error(&doc, "abort"),
        "failed: the release was aborted; rolled back: weight 0, Deployment web-canary scaled to 0, Deployment web left at revision 1 with 4 replicas"
    );
    let stable = kube.get("deployment", "default", "web").unwrap();
    assert_eq!(
        (stable["spec"]["replicas"].as_u64(), stable["status"]["availableReplicas"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(stable["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "v1");
    assert_eq!(stable["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(kube.get("deployment", "default", "web-canary").unwrap()["spec"]["replicas"], 0);
    support_kube::eventually("the canary's pods are gone", Duration::from_secs(30), || {
        kube.names("pods", "default", "sluice.dev/track=canary").is_empty()
    });
    kube.serves_only(&service, "v1");

    // Rolled back: a promote now would release v2 whole, without its steps; it is refused, and
    // so is a second abort, and nothing changes.
    for action in ["promote", "abort"] {
        let (code, doc) = resume(action);
        assert_eq!(code, 1, "{doc:#}");
        assert_eq!(
            task_error(&doc, action),
            format!(
                "failed: the canary of Deployment default/web was rolled back (weight 0, web-canary at 0 replicas): there is nothing to {action}; start a new release to try again"
            )
        );
    }
    let stable = kube.get("deployment", "default", "web").unwrap();
    assert_eq!(stable["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "v1");
    assert_eq!(kube.get("deployment", "default", "web-canary").unwrap()["spec"]["replicas"], 0);
    kube.serves_only(&service, "v1");
}

#[test]
fn a_canary_whose_error_rate_crosses_the_threshold_is_rolled_back() {
    let kube = Kube::start();
    let exporter = Exporter::start();
    exporter.set("release_error_rate{track=\"canary\"}", 0.0);
    let prometheus = Prometheus::start(&exporter);
    first_release(&kube, "");
    let service = kube.service_url("default", "web");
    let deploy = |version: &str| {
        let tasks = format!(
            "  - id: canary\n    type: kubernetes.deploy\n    strategy: canary\n    rolloutTimeout: 60s\n    canary:\n      steps:\n        - setWeight: 25\n        - analysis:\n            prometheus:\n              - url: {url}\n                query: release_error_rate{{track=\"canary\"}}\n                threshold: \"< 0.01\"\n                count: 2\n                interval: 1s\n    manifests: |\n{}{}",
            indented(&deployment_only(version), 6),
            kube.connection_granting("KUBECONFIG", &[&prometheus.url]),
            url = prometheus.url
        );
        kube.run_json(&kube.flow("canary", &flow("canary", &tasks)))
    };
    exporter.set("release_error_rate{track=\"canary\"}", 0.2);
    prometheus.wait_for("release_error_rate{track=\"canary\"}", 0.2);
    let (code, doc) = deploy("v2");
    assert_eq!(code, 1, "{doc:#}");
    let error = task_error(&doc, "canary");
    assert!(
        error.starts_with("failed: the analysis at step 2 of 2 failed: prometheus `release_error_rate{track=\"canary\"}` < 0.01 failed 2 time(s): 0.2; 0.2"),
        "{error}"
    );
    assert!(
        error.ends_with("; rolled back: weight 0, Deployment web-canary scaled to 0, Deployment web left at revision 1 with 4 replicas"),
        "{error}"
    );
    // Each sample logged as it was taken, then the verdict and the rollback.
    let sample = |n: u32| {
        format!(
            "canary step 2 of 2: prometheus `release_error_rate{{track=\"canary\"}}` < 0.01 sample {n}/2: 0.2: FAILED"
        )
    };
    let log = kube.task_log(&doc, "canary");
    let at = |line: &str| position(&log, line, |m| m == line);
    let (first, second) = (at(&sample(1)), at(&sample(2)));
    let verdict = at("canary step 2 of 2: analysis failed");
    let rolling_back = position(&log, "rolling the canary back", |m| {
        m.starts_with("the analysis at step 2 of 2 failed: ") && m.ends_with(": rolling the canary back")
    });
    assert!(first + 1 == second && second + 1 == verdict && verdict + 1 == rolling_back, "{log:#?}");
    assert_eq!((log[first].level.as_str(), log[verdict].level.as_str()), ("INFO", "WARN"));
    let stable = kube.get("deployment", "default", "web").unwrap();
    assert_eq!(stable["spec"]["replicas"], 4);
    assert_eq!(stable["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "v1");
    assert_eq!(kube.get("deployment", "default", "web-canary").unwrap()["spec"]["replicas"], 0);
    // Scaled to zero: its pods terminate (gracefully, so a moment later), as on a real cluster.
    support_kube::eventually("the canary's pods are gone", std::time::Duration::from_secs(30), || {
        kube.names("pods", "default", "sluice.dev/track=canary").is_empty()
    });
    kube.serves_only(&service, "v1");

    // The rate falls back under the threshold: the same release goes through.
    exporter.set("release_error_rate{track=\"canary\"}", 0.001);
    prometheus.wait_for("release_error_rate{track=\"canary\"}", 0.001);
    let (code, doc) = deploy("v2");
    assert_eq!(code, 0, "{doc:#}");
    let analysis = &task_outputs(&doc, "canary")["analysis"][0];
    assert_eq!(analysis["checks"][0]["samples"], serde_json::json!(["0.001", "0.001"]), "{analysis:#}");
    let logged = kube.messages(&doc, "canary");
    for n in 1..=2 {
        let line = format!(
            "canary step 2 of 2: prometheus `release_error_rate{{track=\"canary\"}}` < 0.01 sample {n}/2: 0.001: ok"
        );
        assert!(logged.contains(&line), "{line:?} not in {logged:#?}");
    }
    assert!(logged.contains(&"canary step 2 of 2: analysis passed".to_string()), "{logged:#?}");
    kube.serves_only(&service, "v2");
}

#[test]
fn a_gateway_api_canary_moves_the_route_weights() {
    let kube = Kube::start();
    let route = "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web}\nspec:\n  rules:\n    - backendRefs: [{name: web, port: 80}]\n";
    first_release(&kube, route);
    let route_url = kube.route_url("default", "web");
    let tasks = format!(
        "  - id: canary\n    type: kubernetes.deploy\n    strategy: canary\n    service: web\n    rolloutTimeout: 60s\n    canary:\n      trafficRouting: gatewayApi\n      httpRoute: web\n      steps:\n        - setWeight: 20\n        - pause: {{}}\n    manifests: |\n{}{}",
        indented(&deployment_only("v2"), 6),
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("gateway", &flow("gateway", &tasks)));
    assert_eq!(code, 0, "{doc:#}");
    let refs = kube.get("httproute", "default", "web").unwrap()["spec"]["rules"][0]["backendRefs"].clone();
    assert_eq!(
        refs,
        serde_json::json!([{"name": "web", "port": 80, "weight": 80}, {"name": "web-canary", "port": 80, "weight": 20}])
    );
    // Stable keeps its 4 pods; the stable Service is pinned to them, the canary's has its own.
    assert_eq!(kube.get("deployment", "default", "web").unwrap()["spec"]["replicas"], 4);
    kube.splits(&route_url, 50, &[("v1", 40), ("v2", 10)]);

    let promote = format!(
        "  - id: promote\n    type: kubernetes.deploy\n    action: promote\n    name: web\n    rolloutTimeout: 60s\n{}",
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("promote", &flow("promote", &promote)));
    assert_eq!(code, 0, "{doc:#}");
    let refs = kube.get("httproute", "default", "web").unwrap()["spec"]["rules"][0]["backendRefs"].clone();
    assert_eq!(refs[0]["weight"], 100);
    let selector = kube.get("service", "default", "web").unwrap()["spec"]["selector"].clone();
    assert_eq!(selector, serde_json::json!({"app": "web"}), "the pin is gone");
    kube.serves_only(&route_url, "v2");
}

#[test]
fn a_failed_gateway_api_canary_sets_the_route_weight_back_to_0() {
    let kube = Kube::start();
    let route = "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web}\nspec:\n  rules:\n    - backendRefs: [{name: web, port: 80}]\n";
    first_release(&kube, route);
    let route_url = kube.route_url("default", "web");
    // The check asks for a path neither version serves: it fails at the canary's 20%.
    let tasks = format!(
        "  - id: canary\n    type: kubernetes.deploy\n    strategy: canary\n    service: web\n    rolloutTimeout: 60s\n    canary:\n      trafficRouting: gatewayApi\n      httpRoute: web\n      steps:\n        - setWeight: 20\n        - analysis:\n            http:\n              - url: {route_url}/missing\n                samples: 1\n    manifests: |\n{}{}",
        indented(&deployment_only("v2"), 6),
        kube.connection_granting("KUBECONFIG", &[&route_url])
    );
    let (code, doc) = kube.run_json(&kube.flow("gateway", &flow("gateway", &tasks)));
    assert_eq!(code, 1, "{doc:#}");
    let error = task_error(&doc, "canary");
    assert!(
        error.starts_with(&format!(
            "failed: the analysis at step 2 of 2 failed: http GET {route_url}/missing failed 1 time(s): 404 in "
        )),
        "{error}"
    );
    assert!(
        error.ends_with(" ms (expected 200); rolled back: weight 0, Deployment web-canary scaled to 0, Deployment web left at revision 1 with 4 replicas"),
        "{error}"
    );
    // The route had moved 20% to the canary before the analysis.
    let log = kube.task_log(&doc, "canary");
    let moved =
        position(&log, "the 20% weight", |m| m == "weight 20%: HTTPRoute web sends 20% to the canary");
    let sample = position(&log, "the sample", |m| m.contains("/missing sample 1/1: 404 in "));
    assert!(moved < sample, "{log:#?}");
    // Back to 0: every request to the stable Service, whose pin to the stable pods is gone.
    let refs = kube.get("httproute", "default", "web").unwrap()["spec"]["rules"][0]["backendRefs"].clone();
    assert_eq!(
        refs,
        serde_json::json!([{"name": "web", "port": 80, "weight": 100}, {"name": "web-canary", "port": 80, "weight": 0}])
    );
    let selector = kube.get("service", "default", "web").unwrap()["spec"]["selector"].clone();
    assert_eq!(selector, serde_json::json!({"app": "web"}));
    assert_eq!(kube.get("deployment", "default", "web-canary").unwrap()["spec"]["replicas"], 0);
    let stable = kube.get("deployment", "default", "web").unwrap();
    assert_eq!(stable["spec"]["replicas"], 4);
    assert_eq!(stable["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "v1");
    kube.serves_only(&route_url, "v1");
}
