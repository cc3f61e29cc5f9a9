//! `kubernetes.deploy` with the `rolling` and `blueGreen` strategies end to end, against the
//! Kubernetes API double whose pods are real containers behind real Service ports: a good
//! release completes; a bad one (its readiness never comes, its HTTP check fails) is rolled back
//! by itself, and the test reads the cluster after (selectors, replica counts, revisions) and
//! sends traffic to the Service to see which version answers.

#![allow(clippy::unwrap_used)]

mod support_kube;

use support_kube::{Kube, indented, task_error, task_outputs, web_manifests};

fn flow(id: &str, tasks: &str) -> String {
    format!("id: {id}\nnamespace: t\ntasks:\n{tasks}")
}

fn version_of(kube: &Kube, name: &str) -> String {
    let deployment = kube.get("deployment", "default", name).unwrap();
    deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"].as_str().unwrap().to_string()
}

/// A first version through a plain apply, waited for.
fn first_release(kube: &Kube, replicas: u32) {
    let tasks = format!(
        "  - id: apply\n    type: kubernetes.apply\n    waitForRollout: true\n    manifests: |\n{}{}",
        indented(&web_manifests("web", "v1", replicas, ""), 6),
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("first", &flow("first", &tasks)));
    assert_eq!(code, 0, "{doc:#}");
}

#[test]
fn rolling_releases_and_rolls_back_a_release_that_never_gets_ready() {
    let kube = Kube::start();
    first_release(&kube, 2);
    let service = kube.service_url("default", "web");
    let deploy = |version: &str, env: &str, check_path: &str| {
        let tasks = format!(
            "  - id: deploy\n    type: kubernetes.deploy\n    strategy: rolling\n    rolloutTimeout: 60s\n    analysis:\n      http:\n        - url: {service}/{check_path}\n          samples: 3\n          interval: 200ms\n    manifests: |\n{}{}",
            indented(&web_manifests("web", version, 2, env), 6),
            kube.connection_granting("KUBECONFIG", &[&service])
        );
        kube.run_json(&kube.flow("rolling", &flow("rolling", &tasks)))
    };
    let (code, doc) = deploy("v2", "", "healthz");
    assert_eq!(code, 0, "{doc:#}");
    let outputs = task_outputs(&doc, "deploy");
    assert_eq!((outputs["outcome"].as_str(), outputs["revision"].as_str()), (Some("released"), Some("2")));
    assert_eq!(outputs["analysis"][0]["passed"], true, "{outputs:#}");
    assert_eq!(outputs["analysis"][0]["checks"][0]["samples"].as_array().unwrap().len(), 3);
    kube.serves_only(&service, "v2");

    // v3's pods never pass their readiness probe: the progress deadline (20 s) passes, and the
    // release goes back to v2 by itself.
    let (code, doc) = deploy("v3", "\n            - {name: FAIL_READINESS, value: \"1\"}", "healthz");
    assert_eq!(code, 1, "{doc:#}");
    let error = task_error(&doc, "deploy");
    assert!(error.starts_with("failed: the rollout failed: "), "{error}");
    assert!(error.contains("exceeded its progress deadline"), "{error}");
    assert!(error.ends_with("; rolled back Deployment default/web from revision 3 to revision 2"), "{error}");
    assert_eq!(version_of(&kube, "web"), "v2");
    let deployment = kube.get("deployment", "default", "web").unwrap();
    assert_eq!(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "4");
    assert_eq!(deployment["status"]["availableReplicas"], 2);
    kube.serves_only(&service, "v2");

    // v4 is ready, but its HTTP check fails (a path it does not serve): rolled back too.
    let (code, doc) = deploy("v4", "", "missing");
    assert_eq!(code, 1, "{doc:#}");
    let error = task_error(&doc, "deploy");
    assert!(
        error.starts_with(&format!(
            "failed: the analysis failed: http GET {service}/missing failed 3 time(s): 404 in "
        )),
        "{error}"
    );
    assert!(error.ends_with("; rolled back Deployment default/web from revision 5 to revision 4"), "{error}");
    assert_eq!(version_of(&kube, "web"), "v2");
    kube.serves_only(&service, "v2");
}

#[test]
fn blue_green_switches_after_the_preview_passes_and_keeps_the_active_color_when_it_fails() {
    let kube = Kube::start();
    // The active Service and a preview Service, so their local ports are known to the checks.
    let services = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web-preview}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n";
    let tasks = format!(
        "  - id: services\n    type: kubernetes.apply\n    manifests: |\n{}{}",
        indented(services, 6),
        kube.connection()
    );
    assert_eq!(kube.run_json(&kube.flow("services", &flow("services", &tasks))).0, 0);
    let active = kube.service_url("default", "web");
    let preview = kube.service_url("default", "web-preview");
    let deploy = |version: &str, check_path: &str| {
        let deployment = web_manifests("web", version, 2, "");
        let deployment = deployment.split("---\n").nth(1).unwrap();
        let tasks = format!(
            "  - id: deploy\n    type: kubernetes.deploy\n    strategy: blueGreen\n    service: web\n    rolloutTimeout: 60s\n    blueGreen: {{scaleDownDelay: 1s}}\n    analysis:\n      http:\n        - url: {preview}/{check_path}\n          samples: 2\n          interval: 100ms\n          bodyContains: \"{version}\"\n    manifests: |\n{}{}",
            indented(deployment, 6),
            kube.connection_granting("KUBECONFIG", &[&preview])
        );
        kube.run_json(&kube.flow("bluegreen", &flow("bluegreen", &tasks)))
    };
    let selector_color =
        || kube.get("service", "default", "web").unwrap()["spec"]["selector"]["sluice.dev/color"].clone();

    let (code, doc) = deploy("v1", "");
    assert_eq!(code, 0, "{doc:#}");
    let outputs = task_outputs(&doc, "deploy");
    assert_eq!((outputs["name"].as_str(), outputs["activeColor"].as_str()), (Some("web-blue"), Some("blue")));
    assert_eq!(selector_color(), "blue");
    kube.serves_only(&active, "v1");

    let (code, doc) = deploy("v2", "");
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(task_outputs(&doc, "deploy")["activeColor"], "green");
    assert_eq!(selector_color(), "green");
    kube.serves_only(&active, "v2");
    // The old color waited out its delay, then went to zero.
    assert_eq!(kube.get("deployment", "default", "web-blue").unwrap()["spec"]["replicas"], 0);

    // v3's preview check fails: the active Service stays on green, and blue (v3) is removed.
    let (code, doc) = deploy("v3", "missing");
    assert_eq!(code, 1, "{doc:#}");
    let error = task_error(&doc, "deploy");
    assert!(
        error.starts_with(&format!(
            "failed: the pre-promotion analysis failed: http GET {preview}/missing failed 2 time(s)"
        )),
        "{error}"
    );
    assert!(
        error.ends_with(
            "; rolled back: Service web still serves green (web-green), and Deployment web-blue was removed"
        ),
        "{error}"
    );
    assert_eq!(selector_color(), "green");
    assert!(kube.get("deployment", "default", "web-blue").is_none());
    assert_eq!(version_of(&kube, "web-green"), "v2");
    kube.serves_only(&active, "v2");
}
