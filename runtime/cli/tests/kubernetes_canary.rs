//! `kubernetes.deploy` with the `canary` strategy end to end: replica-ratio and Gateway API
//! weights, an indefinite pause continued by `promote`, and a canary rolled back by itself when
//! the real Prometheus (scraping an exporter the test drives) reports an error rate over the
//! threshold. Traffic goes to the Service's and the HTTPRoute's local ports, so the split the
//! test counts is real requests answered by real containers.

#![allow(clippy::unwrap_used)]

mod support_kube;

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
