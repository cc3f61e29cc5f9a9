//! The kubernetes plugin's tasks end to end: the real `sluice` binary runs flows against the
//! Kubernetes API double (HTTPS with its own CA, a bearer token; pods as real containers), and
//! the real kubectl reads the cluster back. Exact outputs, errors and cluster state.

#![allow(clippy::unwrap_used)]

mod support_kube;

use serde_json::Value;
use support_kube::{Kube, indented, task_error, task_outputs, web_manifests};

fn flow(id: &str, tasks: &str) -> String {
    format!("id: {id}\nnamespace: t\ntasks:\n{tasks}")
}

fn image_of(deployment: &Value) -> String {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"].as_str().unwrap().to_string()
}

#[test]
fn apply_creates_then_leaves_unchanged_then_configures_and_waits_for_the_rollout() {
    let kube = Kube::start();
    let apply = |version: &str| {
        let tasks = format!(
            "  - id: apply\n    type: kubernetes.apply\n    namespace: shop\n    waitForRollout: true\n    rolloutTimeout: 60s\n    manifests: |\n{}{}",
            indented(
                &format!(
                    "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n---\n{}",
                    web_manifests("web", version, 2, "")
                ),
                6
            ),
            kube.connection()
        );
        let path = kube.flow("apply", &flow("apply", &tasks));
        kube.run_json(&path)
    };
    let (code, doc) = apply("v1");
    assert_eq!(code, 0, "{doc:#}");
    let outputs = task_outputs(&doc, "apply");
    let results: Vec<(&str, &str, &str)> = outputs["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap(), o["name"].as_str().unwrap(), o["result"].as_str().unwrap()))
        .collect();
    // Sorted: the Namespace first, the Service before the Deployment.
    assert_eq!(
        results,
        [("Namespace", "shop", "created"), ("Service", "web", "created"), ("Deployment", "web", "created")]
    );
    assert_eq!(outputs["objects"][2]["revision"], "1");
    assert_eq!((outputs["created"].as_u64(), outputs["unchanged"].as_u64()), (Some(3), Some(0)));
    let deployment = kube.get("deployment", "shop", "web").unwrap();
    assert_eq!(deployment["status"]["availableReplicas"], 2);
    // kubectl hides managedFields; the double's store has them.
    let stored = kube.double.object("apps/v1", "Deployment", "shop", "web").unwrap();
    let managers: Vec<&str> = stored["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["operation"] == "Apply")
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["sluice"]);

    let (code, doc) = apply("v1");
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(task_outputs(&doc, "apply")["unchanged"], 3, "{doc:#}");

    let (code, doc) = apply("v2");
    assert_eq!(code, 0, "{doc:#}");
    let outputs = task_outputs(&doc, "apply");
    assert_eq!(outputs["objects"][2]["result"], "configured");
    assert_eq!(outputs["objects"][2]["revision"], "2");
    assert_eq!(image_of(&kube.get("deployment", "shop", "web").unwrap()), "v2");
    kube.serves_only(&kube.service_url("shop", "web"), "v2");
}

#[test]
fn a_conflict_names_the_field_and_its_manager_and_force_takes_it_over() {
    let kube = Kube::start();
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {color: blue}\n";
    std::fs::write(kube.data.path().join("theirs.yaml"), manifest.replace("blue", "red")).unwrap();
    let theirs = kube.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager",
        "ops-team",
        "-f",
        kube.data.path().join("theirs.yaml").to_str().unwrap(),
    ]);
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    let apply = |force: bool| {
        let tasks = format!(
            "  - id: apply\n    type: kubernetes.apply\n    force: {force}\n    manifests: |\n{}{}",
            indented(manifest, 6),
            kube.connection()
        );
        kube.run_json(&kube.flow("conflict", &flow("conflict", &tasks)))
    };
    let (code, doc) = apply(false);
    assert_eq!(code, 1);
    assert_eq!(
        task_error(&doc, "apply"),
        "failed: manifests:1: apply of ConfigMap default/settings conflicts with another field manager: .data.color (owned by \"ops-team\"). Set `force: true` to take these fields over, or leave them out of the manifest"
    );
    assert_eq!(kube.get("configmap", "default", "settings").unwrap()["data"]["color"], "red");
    let (code, doc) = apply(true);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(kube.get("configmap", "default", "settings").unwrap()["data"]["color"], "blue");
}

#[test]
fn a_dry_run_changes_nothing_and_outputs_the_diff() {
    let kube = Kube::start();
    let configmap = |color: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{color: {color}, size: m}}\n"
        )
    };
    let run = |color: &str, dry: bool| {
        let tasks = format!(
            "  - id: apply\n    type: kubernetes.apply\n    dryRun: {dry}\n    manifests: |\n{}{}",
            indented(&configmap(color), 6),
            kube.connection()
        );
        kube.run_json(&kube.flow("dry", &flow("dry", &tasks)))
    };
    assert_eq!(run("blue", false).0, 0);
    let (code, doc) = run("green", true);
    assert_eq!(code, 0, "{doc:#}");
    let outputs = task_outputs(&doc, "apply");
    assert_eq!(outputs["objects"][0]["result"], "configured");
    assert_eq!(outputs["objects"][0]["diff"], serde_json::json!(["~ /data/color: \"blue\" -> \"green\""]));
    assert_eq!(outputs["diff"], "ConfigMap/default/settings\n~ /data/color: \"blue\" -> \"green\"\n");
    assert_eq!(kube.get("configmap", "default", "settings").unwrap()["data"]["color"], "blue");
}

#[test]
fn bad_input_is_reported_where_it_is() {
    let kube = Kube::start();
    let run = |manifests: &str, connection: &str| {
        let tasks = format!(
            "  - id: apply\n    type: kubernetes.apply\n    manifests: |\n{}{connection}",
            indented(manifests, 6)
        );
        let (code, doc) = kube.run_json(&kube.flow("bad", &flow("bad", &tasks)));
        assert_eq!(code, 1, "{doc:#}");
        task_error(&doc, "apply")
    };
    let good = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";
    // YAML that does not parse: the line of the manifest text.
    let error = run(
        &format!("{good}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   data: [\n"),
        &kube.connection(),
    );
    assert!(error.starts_with("invalid config: manifests:9: not valid YAML"), "{error}");
    // A kind the server does not serve: its answer, clearly.
    let error = run("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", &kube.connection());
    assert_eq!(
        error,
        "failed: manifests:1: the cluster does not serve the API example.com/v1 (no such group/version: is its CRD or add-on installed?)"
    );
    // A server the flow does not grant: refused before any byte (the cluster's CA is set for
    // a granted origin only, and nothing is sent before it).
    let ungranted =
        kube.connection().replace(&format!("network: [\"{}\"]", kube.double.url()), "network: []");
    let error = run(good, &ungranted);
    assert_eq!(
        error,
        format!(
            "denied: kubeconfigContent context \"{}\": the cluster's server {} is not granted: add it to the task's `allow.network`",
            kube.context(),
            kube.double.url()
        )
    );
    // A wrong token: 401, said as such.
    let error = run(good, &kube.connection_from("KUBECONFIG_WRONG_TOKEN"));
    assert!(
        error.contains(&format!(
            "refused the credentials of kubeconfigContent context \"{}\" (401 Unauthorized)",
            kube.context()
        )),
        "{error}"
    );
    // A CA that did not sign the server's certificate.
    let error = run(good, &kube.connection_from("KUBECONFIG_WRONG_CA"));
    assert!(error.contains("invalid peer certificate: UnknownIssuer"), "{error}");
}

#[test]
fn get_lists_by_label_and_delete_waits_until_the_pods_are_gone() {
    let kube = Kube::start();
    let tasks = format!(
        "  - id: apply\n    type: kubernetes.apply\n    waitForRollout: true\n    manifests: |\n{}{c}  - id: one\n    type: kubernetes.get\n    kind: deploy\n    name: web\n{c}  - id: pods\n    type: kubernetes.get\n    kind: Pod\n    labelSelector: app=web\n{c}  - id: missing\n    type: kubernetes.get\n    kind: ConfigMap\n    name: nope\n    allowMissing: true\n{c}  - id: delete\n    type: kubernetes.delete\n    kind: Deployment\n    name: web\n    propagationPolicy: Foreground\n{c}",
        indented(&web_manifests("web", "v1", 2, ""), 6),
        c = kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("crud", &flow("crud", &tasks)));
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(task_outputs(&doc, "one")["object"]["spec"]["replicas"], 2);
    assert_eq!(task_outputs(&doc, "pods")["count"], 2);
    assert_eq!(task_outputs(&doc, "missing")["found"], false);
    assert_eq!(task_outputs(&doc, "delete"), serde_json::json!({"deleted": ["web"], "count": 1}));
    // Foreground and waited for: the Deployment and its ReplicaSets are gone by now, and the
    // pods once their graceful termination ends.
    assert!(kube.get("deployment", "default", "web").is_none());
    assert_eq!(kube.names("replicasets", "default", "app=web"), Vec::<String>::new());
    support_kube::eventually("the pods are gone", std::time::Duration::from_secs(30), || {
        kube.names("pods", "default", "app=web").is_empty()
    });
}

/// What every task logs first: how it trusts the cluster.
fn tls_line(kube: &Kube) -> String {
    format!("TLS for {}: trusts its own CA certificates, presents no client certificate", kube.double.url())
}

/// The `pod-template-hash` of the Deployment `web`'s newest ReplicaSet.
fn deployment_hash(kube: &Kube) -> String {
    let listed = kube.kubectl(&["get", "replicasets", "-l", "app=web", "-o", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let newest = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|rs| {
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .unwrap();
    newest["metadata"]["labels"]["pod-template-hash"].as_str().unwrap().to_string()
}

#[test]
fn rollout_restart_pause_resume_undo_to_a_revision_and_logs() {
    let kube = Kube::start();
    let apply = |version: &str| {
        format!(
            "  - id: apply-{version}\n    type: kubernetes.apply\n    waitForRollout: true\n    manifests: |\n{}{}",
            indented(&web_manifests("web", version, 1, ""), 6),
            kube.connection()
        )
    };
    let rollout = |id: &str, action: &str, extra: &str| {
        format!(
            "  - id: {id}\n    type: kubernetes.rollout\n    action: {action}\n    name: web\n{extra}{}",
            kube.connection()
        )
    };
    let tasks = [
        apply("v1"),
        apply("v2"),
        apply("v3"),
        rollout("status", "status", ""),
        // Not the previous revision (2, v2) but the first.
        rollout("undo-to-1", "undo", "    toRevision: 1\n"),
        // The one before the current: revision 3's template, v3.
        rollout("undo", "undo", ""),
        rollout("pause", "pause", ""),
        rollout("resume", "resume", ""),
        rollout("restart", "restart", ""),
        format!(
            "  - id: logs\n    type: kubernetes.logs\n    kind: Deployment\n    name: web\n    tail: 1\n{}",
            kube.connection()
        ),
    ]
    .concat();
    let (code, doc) = kube.run_json(&kube.flow("rollout", &flow("rollout", &tasks)));
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(task_outputs(&doc, "status")["revision"], "3");
    let revisions = |task: &str| {
        let out = task_outputs(&doc, task);
        (out["fromRevision"].as_str().map(str::to_string), out["revision"].as_str().map(str::to_string))
    };
    // Revision 1's ReplicaSet gives its template back and becomes revision 4.
    assert_eq!(revisions("undo-to-1"), (Some("3".into()), Some("4".into())));
    assert_eq!(
        task_outputs(&doc, "undo-to-1")["message"],
        "Deployment default/web rolled back from revision 3 to revision 1"
    );
    assert_eq!(revisions("undo"), (Some("4".into()), Some("5".into())));
    assert_eq!(
        task_outputs(&doc, "undo")["message"],
        "Deployment default/web rolled back from revision 4 to revision 3"
    );
    assert_eq!(task_outputs(&doc, "pause")["message"], "Deployment default/web paused");
    assert_eq!(task_outputs(&doc, "resume")["message"], "Deployment default/web resumed");
    assert_eq!(task_outputs(&doc, "restart")["revision"], "6");
    let deployment = kube.get("deployment", "default", "web").unwrap();
    assert_eq!(image_of(&deployment), "v3", "the last undo brought v3 back");
    assert!(
        deployment["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );
    // Each ReplicaSet's revision and version, as kubectl reads them: v1's went from revision 1
    // to 4 (the undo to 1), v3's from 3 to 5 (the undo), and the restart made revision 6.
    let listed = kube.kubectl(&["get", "replicasets", "-l", "app=web", "-o", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut history: Vec<(String, String)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rs| {
            (
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                image_of(rs),
            )
        })
        .collect();
    history.sort();
    let expected = [("2", "v2"), ("4", "v1"), ("5", "v3"), ("6", "v3")];
    assert_eq!(history, expected.map(|(r, v)| (r.to_string(), v.to_string())));
    // The log of the one pod (the old revision's, on its way out, is not the Deployment's):
    // `tail: 1`, so exactly one line, into the task's log.
    let pods = kube.kubectl(&["get", "pods", "-l", "app=web", "-o", "json"]);
    let pods: Value = serde_json::from_slice(&pods.stdout).unwrap();
    let pods: Vec<&str> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["labels"]["pod-template-hash"] == deployment_hash(&kube))
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    let logs = task_outputs(&doc, "logs");
    assert_eq!(logs["containers"], serde_json::json!([{"pod": pods[0], "container": "web", "lines": 1}]));
    let logged = kube.messages(&doc, "logs");
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!(logged[0], tls_line(&kube));
    assert!(logged[1].starts_with(&format!("[{}/web] ", pods[0])), "{logged:?}");

    // A revision no longer in the history: refused, naming the history.
    let undo = rollout("undo", "undo", "    toRevision: 3\n");
    let (code, doc) = kube.run_json(&kube.flow("undo", &flow("undo", &undo)));
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        task_error(&doc, "undo"),
        "failed: Deployment web has no revision 3 (its history: 2, 4, 5, 6)"
    );
    assert_eq!(image_of(&kube.get("deployment", "default", "web").unwrap()), "v3");
}

#[test]
fn a_kubeconfig_file_with_a_client_certificate_a_manifest_file_and_server_token_ca_directly() {
    let kube = Kube::with(kube_double::Options::without_containers());
    let kubeconfig = kube.data.path().join("kubeconfig-cert.yaml");
    std::fs::write(&kubeconfig, kube.double.kubeconfig_with_client_certificate()).unwrap();
    let manifests = kube.data.path().join("app.yaml");
    std::fs::write(
        &manifests,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\ndata: {k: v}\n",
    )
    .unwrap();
    let url = kube.double.url();
    let tasks = format!(
        r#"  - id: apply
    type: kubernetes.apply
    kubeconfig: "{{{{ inputs.kubeconfig }}}}"
    path: "{{{{ inputs.manifests }}}}"
    allow:
      network: ["{url}"]
  - id: direct
    type: kubernetes.get
    kind: ConfigMap
    name: two
    server: {url}
    token: "{{{{ secret('TOKEN') }}}}"
    caCert: "{{{{ secret('CA') }}}}"
    allow:
      secrets: [TOKEN, CA]
  - id: by-certificate
    type: kubernetes.get
    kind: cm
    labelSelector: ""
{}"#,
        kube.connection_from("KUBECONFIG_CERT")
    );
    let yaml = format!(
        "id: auth\nnamespace: t\ninputs:\n  - {{id: kubeconfig, type: file}}\n  - {{id: manifests, type: file}}\ntasks:\n{tasks}"
    );
    let flow = kube.flow("auth", &yaml);
    let kubeconfig_input = format!("kubeconfig={}", kubeconfig.display());
    let manifests_input = format!("manifests={}", manifests.display());
    let (code, doc) = kube.run_json_with(&flow, &["-i", &kubeconfig_input, "-i", &manifests_input]);
    assert_eq!(code, 0, "{doc:#}");
    let apply = task_outputs(&doc, "apply");
    let applied: Vec<&str> =
        apply["objects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(applied, ["one", "two"]);
    assert_eq!(task_outputs(&doc, "direct")["object"]["data"], serde_json::json!({"k": "v"}));
    let listed = task_outputs(&doc, "by-certificate");
    let names: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"one") && names.contains(&"two"), "{names:?}");
    // The token and the CA were secrets: neither is in the outputs.
    let text = doc.to_string();
    assert!(!text.contains(kube.double.token()), "the token leaked: {text}");
}
