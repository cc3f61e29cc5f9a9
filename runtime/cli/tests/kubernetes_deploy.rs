//! `kubernetes.deploy` with the `rolling` and `blueGreen` strategies end to end, against the
//! Kubernetes API double whose pods are real containers behind real Service ports: a good
//! release completes; a bad one (its readiness never comes, its HTTP check fails) is rolled back
//! by itself, and the test reads the cluster after (selectors, replica counts, revisions) and
//! sends traffic to the Service to see which version answers. The HTTP checks' options
//! (`expectedStatus`, `maxLatency`, `toleratedFailures`) against endpoints the test scripts, and
//! the blue-green scale-down delay seen from the cluster while the task runs.

#![allow(clippy::unwrap_used)]

mod support_kube;

use std::time::Duration;

use support_kube::log::position;
use support_kube::scripted::{Answer, Scripted};
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
    let flow_of = |version: &str, check_path: &str, delay: &str| {
        let deployment = web_manifests("web", version, 2, "");
        let deployment = deployment.split("---\n").nth(1).unwrap();
        let tasks = format!(
            "  - id: deploy\n    type: kubernetes.deploy\n    strategy: blueGreen\n    service: web\n    rolloutTimeout: 60s\n    blueGreen: {{scaleDownDelay: {delay}}}\n    analysis:\n      http:\n        - url: {preview}/{check_path}\n          samples: 2\n          interval: 100ms\n          bodyContains: \"{version}\"\n    manifests: |\n{}{}",
            indented(deployment, 6),
            kube.connection_granting("KUBECONFIG", &[&preview])
        );
        kube.flow("bluegreen", &flow("bluegreen", &tasks))
    };
    let deploy = |version: &str, check_path: &str| kube.run_json(&flow_of(version, check_path, "1s"));
    let selector_color =
        || kube.get("service", "default", "web").unwrap()["spec"]["selector"]["sluice.dev/color"].clone();

    let (code, doc) = deploy("v1", "");
    assert_eq!(code, 0, "{doc:#}");
    let outputs = task_outputs(&doc, "deploy");
    assert_eq!((outputs["name"].as_str(), outputs["activeColor"].as_str()), (Some("web-blue"), Some("blue")));
    assert_eq!(selector_color(), "blue");
    kube.serves_only(&active, "v1");

    // v2 with a 4 s scale-down delay: once the Service switched to green, blue is still up,
    // its 2 pods ready, for a fast way back; after the delay it goes to zero.
    let mut running = kube.spawn_json(&flow_of("v2", "", "4s"));
    let stored = |kind: &str, name: &str| kube.double.object("v1", kind, "default", name);
    support_kube::eventually("the Service switches to green", Duration::from_secs(90), || {
        stored("Service", "web").is_some_and(|s| s["spec"]["selector"]["sluice.dev/color"] == "green")
    });
    let blue = kube.double.object("apps/v1", "Deployment", "default", "web-blue").unwrap();
    assert_eq!(
        (blue["spec"]["replicas"].as_u64(), blue["status"]["readyReplicas"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(running.running());
    let (code, doc) = running.finish();
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(task_outputs(&doc, "deploy")["activeColor"], "green");
    assert_eq!(selector_color(), "green");
    kube.serves_only(&active, "v2");
    assert_eq!(kube.get("deployment", "default", "web-blue").unwrap()["spec"]["replicas"], 0);
    // In the task log: the switch, the wait of at least the delay, then the scale-down.
    let log = kube.task_log(&doc, "deploy");
    let at = |line: &str| position(&log, line, |m| m == line);
    let switched = at("Service web now serves green (web-green)");
    let keeping = at("keeping web-blue for 4s before scaling it down");
    let scaled = at("Deployment web-blue scaled to 0");
    assert_eq!((switched + 1, keeping + 1), (keeping, scaled), "{log:#?}");
    let kept = log[scaled].time.duration_since(log[keeping].time).unwrap();
    assert!(kept >= Duration::from_secs(4), "kept {kept:?}");

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

/// `N ms` in a sample as `_ ms`: how long a request took is the one thing a test cannot know.
fn timeless(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(" ms") {
        let digits = rest[..at].len() - rest[..at].trim_end_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at - digits]);
        out.push_str(if digits > 0 { "_ ms" } else { " ms" });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

#[test]
fn an_http_analysis_holds_each_sample_to_its_status_latency_and_tolerated_failures() {
    let kube = Kube::start();
    first_release(&kube, 2);
    let service = kube.service_url("default", "web");
    let deploy = |version: &str, checks: &str, origins: &[&str]| {
        let mut granted = vec![service.as_str()];
        granted.extend_from_slice(origins);
        let tasks = format!(
            "  - id: deploy\n    type: kubernetes.deploy\n    strategy: rolling\n    rolloutTimeout: 60s\n    analysis:\n      http:\n{checks}    manifests: |\n{}{}",
            indented(&web_manifests("web", version, 2, ""), 6),
            kube.connection_granting("KUBECONFIG", &granted)
        );
        kube.run_json(&kube.flow("analysis", &flow("analysis", &tasks)))
    };
    // A 404 that is expected passes; one failure of three, tolerated, passes.
    let flaky = Scripted::start(&[Answer::status(503), Answer::status(200)]);
    let checks = format!(
        "        - {{url: \"{service}/missing\", expectedStatus: 404, samples: 2, interval: 100ms}}\n        - {{url: \"{}\", samples: 3, interval: 100ms, toleratedFailures: 1}}\n",
        flaky.url
    );
    let (code, doc) = deploy("v2", &checks, &[&flaky.url]);
    assert_eq!(code, 0, "{doc:#}");
    let checks = &task_outputs(&doc, "deploy")["analysis"][0]["checks"];
    let seen = |n: usize| -> (bool, u64, Vec<String>) {
        let check = &checks[n];
        let samples =
            check["samples"].as_array().unwrap().iter().map(|s| timeless(s.as_str().unwrap())).collect();
        (check["passed"].as_bool().unwrap(), check["failures"].as_u64().unwrap(), samples)
    };
    assert_eq!(seen(0), (true, 0, vec!["404 in _ ms".into(), "404 in _ ms".into()]), "{checks:#}");
    assert_eq!(
        seen(1),
        (true, 1, vec!["503 in _ ms (expected 200)".into(), "200 in _ ms".into(), "200 in _ ms".into()]),
        "{checks:#}"
    );
    assert_eq!(flaky.served(), 3);
    // Each sample in the task log as it was taken, then the verdict.
    let logged: Vec<String> = kube.messages(&doc, "deploy").iter().map(|m| timeless(m)).collect();
    let flaky_lines = [
        format!("rolling: http GET {} sample 1/3: 503 in _ ms (expected 200): FAILED", flaky.url),
        format!("rolling: http GET {} sample 2/3: 200 in _ ms: ok", flaky.url),
        format!("rolling: http GET {} sample 3/3: 200 in _ ms: ok", flaky.url),
        "rolling: analysis passed".to_string(),
    ];
    let first = logged.iter().position(|l| *l == flaky_lines[0]).unwrap_or_else(|| panic!("{logged:#?}"));
    assert_eq!(logged[first..first + 4], flaky_lines, "{logged:#?}");
    let missing = format!("rolling: http GET {service}/missing sample 2/2: 404 in _ ms: ok");
    assert_eq!(logged[first - 1], missing, "{logged:#?}");
    kube.serves_only(&service, "v2");

    // A service slower than maxLatency fails every sample, and two failures are one too many:
    // the release goes back to v2.
    let slow = Scripted::start(&[Answer::slow(200, Duration::from_millis(400))]);
    let flakier = Scripted::start(&[Answer::status(503), Answer::status(503), Answer::status(200)]);
    let checks = format!(
        "        - {{url: \"{}\", samples: 2, interval: 100ms, maxLatency: 100ms}}\n        - {{url: \"{}\", samples: 3, interval: 100ms, toleratedFailures: 1}}\n",
        slow.url, flakier.url
    );
    let (code, doc) = deploy("v3", &checks, &[&slow.url, &flakier.url]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        timeless(&task_error(&doc, "deploy")),
        format!(
            "failed: the analysis failed: http GET {} failed 2 time(s): 200 in _ ms (slower than 100ms); 200 in _ ms (slower than 100ms) | http GET {} failed 2 time(s): 503 in _ ms (expected 200); 503 in _ ms (expected 200); 200 in _ ms; rolled back Deployment default/web from revision 3 to revision 2",
            slow.url, flakier.url
        )
    );
    // Slower, not merely said so: each sample took the service's 400 ms at least.
    let prefix = format!("rolling: http GET {} sample ", slow.url);
    let slow_samples: Vec<String> =
        kube.messages(&doc, "deploy").into_iter().filter(|m| m.starts_with(&prefix)).collect();
    assert_eq!(slow_samples.len(), 2, "{slow_samples:#?}");
    for sample in &slow_samples {
        let took = sample.split(": 200 in ").nth(1).and_then(|r| r.split(' ').next()).unwrap();
        assert!(took.parse::<u64>().unwrap() >= 400, "{sample}");
        assert!(sample.ends_with(" ms (slower than 100ms): FAILED"), "{sample}");
    }
    assert_eq!((slow.served(), flakier.served()), (2, 3));
    assert_eq!(version_of(&kube, "web"), "v2");
    kube.serves_only(&service, "v2");
}
