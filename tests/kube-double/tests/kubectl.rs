//! The double held to the real kubectl 1.32: each test runs kubectl commands against a fresh
//! double and asserts what kubectl printed and what the double stored. The pods of these tests
//! have no containers (they are Ready after 50 ms); `kubectl_containers.rs` runs real ones.

mod support;

use kube_double::KubeDouble;
use serde_json::Value;
use support::{Kubectl, deployment};

async fn double() -> KubeDouble {
    KubeDouble::start_without_containers().await.expect("start the double")
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    names
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_server_side_creates_keeps_an_unchanged_object_and_reports_conflicts() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let file = kubectl.manifest("web.yaml", &deployment("web", "nginx:1", 2, ""));
    let run = kubectl.run(&["apply", "--server-side", "-f", path(&file)]).await;
    assert_eq!(run.ok(), "deployment.apps/web serverside-applied\n");
    let first = double.object("apps/v1", "Deployment", "default", "web").expect("stored");
    assert_eq!(first["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(first["metadata"]["managedFields"][0]["operation"], "Apply");
    assert_eq!(
        first["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"],
        serde_json::json!({})
    );

    // The same manifest again changes nothing: the resourceVersion stays.
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    let before = double.object("apps/v1", "deploy", "default", "web").expect("stored");
    let run = kubectl.run(&["apply", "--server-side", "-f", path(&file)]).await;
    assert_eq!(run.ok(), "deployment.apps/web serverside-applied\n");
    let after = double.object("apps/v1", "deploy", "default", "web").expect("stored");
    assert_eq!(before, after);

    // Another manager changing the replicas kubectl owns conflicts...
    let other = kubectl.manifest("other.yaml", &deployment("web", "nginx:1", 5, ""));
    let run = kubectl.run(&["apply", "--server-side", "--field-manager=ci", "-f", path(&other)]).await;
    let stderr = run.failed();
    assert_eq!(
        stderr.lines().next(),
        Some(r#"error: Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#),
        "{stderr}"
    );
    assert!(
        stderr.contains("Please review the fields above--they currently have other managers."),
        "{stderr}"
    );
    assert_eq!(double.object("apps/v1", "deploy", "default", "web").expect("stored")["spec"]["replicas"], 2);

    // ...and --force-conflicts takes the field over.
    let run = kubectl
        .run(&["apply", "--server-side", "--field-manager=ci", "--force-conflicts", "-f", path(&other)])
        .await;
    assert_eq!(run.ok(), "deployment.apps/web serverside-applied\n");
    let forced = double.object("apps/v1", "deploy", "default", "web").expect("stored");
    assert_eq!(forced["spec"]["replicas"], 5);
    let managers: Vec<&Value> =
        forced["metadata"]["managedFields"].as_array().expect("entries").iter().collect();
    let kubectl_entry = managers.iter().find(|m| m["manager"] == "kubectl").expect("kubectl keeps the rest");
    assert!(kubectl_entry["fieldsV1"]["f:spec"].get("f:replicas").is_none());
    let ci = managers.iter().find(|m| m["manager"] == "ci").expect("ci");
    assert_eq!(ci["fieldsV1"]["f:spec"]["f:replicas"], serde_json::json!({}));

    // A field kubectl applied once and applies no more goes, as nobody else owns it.
    let labelled = kubectl.manifest(
        "labelled.yaml",
        &deployment("web", "nginx:1", 5, "")
            .replace("  labels:\n    app: web\n", "  labels:\n    app: web\n    extra: \"1\"\n"),
    );
    kubectl.run(&["apply", "--server-side", "-f", path(&labelled)]).await.ok();
    let with = double.object("apps/v1", "deploy", "default", "web").expect("stored");
    assert_eq!(with["metadata"]["labels"]["extra"], "1");
    kubectl.run(&["apply", "--server-side", "-f", path(&other)]).await.ok();
    let without = double.object("apps/v1", "deploy", "default", "web").expect("stored");
    assert_eq!(without["metadata"]["labels"], serde_json::json!({"app": "web"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_json_answers_objects_and_lists_by_label() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let manifests = format!(
        "{}---\n{}---\n{}",
        deployment("front", "nginx:1", 1, "")
            .replace("  labels:\n    app: front\n", "  labels:\n    app: front\n    tier: front\n"),
        deployment("back", "nginx:1", 1, "")
            .replace("  labels:\n    app: back\n", "  labels:\n    app: back\n    tier: back\n"),
        deployment("canary", "nginx:1", 1, "").replace(
            "  labels:\n    app: canary\n",
            "  labels:\n    app: canary\n    tier: front\n    canary: \"true\"\n"
        ),
    );
    let file = kubectl.manifest("all.yaml", &manifests);
    kubectl.run(&["apply", "--server-side", "-f", path(&file)]).await.ok();

    let one = kubectl.run(&["get", "deployment", "front", "-o", "json"]).await.json();
    assert_eq!(one["kind"], "Deployment");
    assert_eq!(one["apiVersion"], "apps/v1");
    assert_eq!(one["metadata"]["labels"]["tier"], "front");

    let list = kubectl.run(&["get", "deploy", "-l", "tier=front", "-o", "json"]).await.json();
    assert_eq!(list["kind"], "List");
    assert_eq!(names(&list), ["canary", "front"]);
    assert_eq!(list["items"][0]["kind"], "Deployment");
    let list =
        kubectl.run(&["get", "deploy", "-l", "tier in (front,back),!canary", "-o", "json"]).await.json();
    assert_eq!(names(&list), ["back", "front"]);
    let list = kubectl.run(&["get", "deploy", "-l", "tier!=front", "-o", "json"]).await.json();
    assert_eq!(names(&list), ["back"]);
    let list = kubectl
        .run(&["get", "deployments.apps", "--field-selector", "metadata.name=back", "-o", "json"])
        .await
        .json();
    assert_eq!(names(&list), ["back"]);

    kubectl.run(&["rollout", "status", "deployment/front", "--timeout=30s"]).await.ok();
    let pods = kubectl.run(&["get", "po", "-l", "app=front", "-o", "json"]).await.json();
    let items = pods["items"].as_array().expect("pods");
    assert_eq!(items.len(), 1);
    let pod = &items[0];
    let pod_name = pod["metadata"]["name"].as_str().expect("name");
    let rs_name = pod["metadata"]["ownerReferences"][0]["name"].as_str().expect("owner");
    let hash = pod["metadata"]["labels"]["pod-template-hash"].as_str().expect("hash");
    assert_eq!(rs_name, format!("front-{hash}"));
    assert!(pod_name.starts_with(&format!("{rs_name}-")), "{pod_name}");
    assert_eq!(pod["status"]["phase"], "Running");
    let rs = kubectl.run(&["get", "rs", rs_name, "-o", "json"]).await.json();
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");

    let missing = kubectl.run(&["get", "deploy", "nothing", "-o", "json"]).await;
    assert_eq!(missing.failed(), "Error from server (NotFound): deployments.apps \"nothing\" not found\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_status_returns_zero_once_complete_and_the_status_says_why() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let file = kubectl.manifest("web.yaml", &deployment("web", "nginx:1", 3, ""));
    kubectl.run(&["apply", "--server-side", "-f", path(&file)]).await.ok();
    let run = kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await;
    assert!(run.ok().ends_with("deployment \"web\" successfully rolled out\n"), "{run:?}");
    let d = double.object("apps/v1", "Deployment", "default", "web").expect("stored");
    let status = &d["status"];
    assert_eq!(status["replicas"], 3);
    assert_eq!(status["updatedReplicas"], 3);
    assert_eq!(status["readyReplicas"], 3);
    assert_eq!(status["availableReplicas"], 3);
    assert_eq!(status["observedGeneration"], 1);
    assert!(status.get("unavailableReplicas").is_none());
    let conditions = status["conditions"].as_array().expect("conditions");
    let by_type = |t: &str| conditions.iter().find(|c| c["type"] == t).expect("condition");
    assert_eq!(by_type("Available")["reason"], "MinimumReplicasAvailable");
    assert_eq!(by_type("Progressing")["reason"], "NewReplicaSetAvailable");
    let rs = d["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str().expect("revision");
    assert_eq!(rs, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_goes_back_to_the_previous_image_and_restart_rolls_again() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let v1 = kubectl.manifest("v1.yaml", &deployment("web", "nginx:1", 2, ""));
    let v2 = kubectl.manifest("v2.yaml", &deployment("web", "nginx:2", 2, ""));
    kubectl.run(&["apply", "--server-side", "-f", path(&v1)]).await.ok();
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    kubectl.run(&["apply", "--server-side", "-f", path(&v2)]).await.ok();
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    let image = |double: &KubeDouble| {
        double.object("apps/v1", "Deployment", "default", "web").expect("stored")["spec"]["template"]["spec"]
            ["containers"][0]["image"]
            .clone()
    };
    assert_eq!(image(&double), "nginx:2");

    let run = kubectl.run(&["rollout", "undo", "deployment/web"]).await;
    assert_eq!(run.ok(), "deployment.apps/web rolled back\n");
    assert_eq!(image(&double), "nginx:1");
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    let d = double.object("apps/v1", "Deployment", "default", "web").expect("stored");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    let replica_sets = double.objects("apps/v1", "ReplicaSet", Some("default"));
    assert_eq!(replica_sets.len(), 2, "the first ReplicaSet came back: {replica_sets:#?}");
    let history = kubectl.run(&["rollout", "history", "deployment/web"]).await;
    let revisions: Vec<&str> =
        history.ok().lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, ["2", "3"]);
    // The old ReplicaSet's pods may still be terminating when the rollout is complete, as on a
    // real cluster: only the pods that are not being deleted must run the rolled-back image.
    let pods = kubectl.run(&["get", "pods", "-l", "app=web", "-o", "json"]).await.json();
    let serving: Vec<_> = pods["items"]
        .as_array()
        .expect("pods")
        .iter()
        .filter(|pod| !pod["metadata"]["deletionTimestamp"].is_string())
        .collect();
    assert_eq!(serving.len(), 2, "{pods:#}");
    for pod in serving {
        assert_eq!(pod["spec"]["containers"][0]["image"], "nginx:1");
    }

    let run = kubectl.run(&["rollout", "restart", "deployment/web"]).await;
    assert_eq!(run.ok(), "deployment.apps/web restarted\n");
    let d = double.object("apps/v1", "Deployment", "default", "web").expect("stored");
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string()
    );
    assert_eq!(d["metadata"]["generation"], 4);
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    let d = double.object("apps/v1", "Deployment", "default", "web").expect("stored");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "4");
    assert_eq!(double.objects("apps/v1", "ReplicaSet", Some("default")).len(), 3);

    // Back to a named revision: 2 was nginx:2.
    let run = kubectl.run(&["rollout", "undo", "deployment/web", "--to-revision=2"]).await;
    assert_eq!(run.ok(), "deployment.apps/web rolled back\n");
    assert_eq!(image(&double), "nginx:2");
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    let d = double.object("apps/v1", "Deployment", "default", "web").expect("stored");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "5");
    let missing = kubectl.run(&["rollout", "undo", "deployment/web", "--to-revision=9"]).await;
    assert_eq!(missing.failed(), "error: unable to find specified revision 9 in history\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_wait_returns_once_the_deployment_and_its_pods_are_gone() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let file = kubectl.manifest("web.yaml", &deployment("web", "nginx:1", 2, ""));
    kubectl.run(&["apply", "--server-side", "-f", path(&file)]).await.ok();
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    assert_eq!(double.objects("v1", "pods", Some("default")).len(), 2);
    let run = kubectl.run(&["delete", "deployment", "web", "--cascade=foreground", "--wait"]).await;
    assert_eq!(run.ok(), "deployment.apps \"web\" deleted\n");
    assert!(double.object("apps/v1", "Deployment", "default", "web").is_none());
    assert!(double.objects("apps/v1", "rs", Some("default")).is_empty());
    assert!(double.objects("v1", "pods", Some("default")).is_empty());
    let again = kubectl.run(&["delete", "deployment", "web"]).await;
    assert_eq!(again.failed(), "Error from server (NotFound): deployments.apps \"web\" not found\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_unauthorized_and_a_wrong_ca_an_x509_error() {
    let double = double().await;
    let wrong_token = Kubectl::with_kubeconfig(&double.kubeconfig_with("not-the-token", double.ca_pem()));
    // Discovery reads the 401 as kubectl 1.32 reads it from a real server (its discovery
    // client does not decode error bodies); a plain request shows the Status's message.
    let run = wrong_token.run(&["get", "pods"]).await;
    assert_eq!(
        run.failed().lines().last(),
        Some(
            "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
        ),
        "{run:?}"
    );
    let run = wrong_token.run(&["get", "--raw", "/api/v1/namespaces"]).await;
    assert_eq!(run.failed(), "error: You must be logged in to the server (Unauthorized)\n");

    let other = double_with_other_ca().await;
    let wrong_ca = Kubectl::with_kubeconfig(&double.kubeconfig_with(double.token(), other.ca_pem()));
    let run = wrong_ca.run(&["get", "pods"]).await;
    assert_eq!(
        run.failed().lines().last(),
        Some(
            "Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority"
        ),
        "{run:?}"
    );

    let by_certificate = Kubectl::with_kubeconfig(&double.kubeconfig_with_client_certificate());
    let run = by_certificate.run(&["get", "namespaces", "-o", "json"]).await;
    assert_eq!(names(&run.json()), ["default", "kube-node-lease", "kube-public", "kube-system"]);
}

async fn double_with_other_ca() -> KubeDouble {
    double().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kinds_and_invalid_objects_fail_as_on_a_real_cluster() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let run = kubectl.run(&["get", "foos"]).await;
    assert_eq!(run.failed(), "error: the server doesn't have a resource type \"foos\"\n");

    let unknown =
        kubectl.manifest("foo.yaml", "apiVersion: example.com/v1\nkind: Foo\nmetadata:\n  name: x\n");
    let run = kubectl.run(&["apply", "--server-side", "-f", path(&unknown)]).await;
    let expected = format!(
        "error: resource mapping not found for name: \"x\" namespace: \"\" from \"{}\": no matches for kind \"Foo\" in version \"example.com/v1\"",
        path(&unknown)
    );
    assert_eq!(run.failed().lines().next(), Some(expected.as_str()), "{run:?}");

    let mismatched = deployment("bad", "nginx:1", 1, "")
        .replace("      labels:\n        app: bad\n", "      labels:\n        app: other\n");
    let file = kubectl.manifest("bad.yaml", &mismatched);
    let run = kubectl.run(&["apply", "--server-side", "-f", path(&file)]).await;
    assert_eq!(
        run.failed(),
        "The Deployment \"bad\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`\n"
    );
    assert!(double.object("apps/v1", "Deployment", "default", "bad").is_none());

    let dry = kubectl.manifest("dry.yaml", &deployment("dry", "nginx:1", 1, ""));
    let run =
        kubectl.run(&["apply", "--server-side", "--dry-run=server", "-f", path(&dry), "-o", "json"]).await;
    let answered = run.json();
    assert_eq!(answered["metadata"]["name"], "dry");
    assert_eq!(answered["spec"]["revisionHistoryLimit"], 10, "defaulted as it would be stored");
    assert!(double.object("apps/v1", "Deployment", "default", "dry").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_and_daemonset_rollouts_complete_for_kubectl() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let workloads = |image: &str| {
        format!(
            "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 3
  serviceName: db
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: {image}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: agent
        image: {image}
"
        )
    };
    let v1 = kubectl.manifest("v1.yaml", &workloads("nginx:1"));
    kubectl.run(&["apply", "--server-side", "-f", path(&v1)]).await.ok();
    // The API defaults `partition: 0`, so kubectl reports a partitioned rollout, as it does
    // against a real cluster.
    let run = kubectl.run(&["rollout", "status", "statefulset/db", "--timeout=30s"]).await;
    assert!(
        run.ok().ends_with("partitioned roll out complete: 3 new pods have been updated...\n"),
        "{run:?}"
    );
    let sts = double.object("apps/v1", "sts", "default", "db").expect("stored");
    assert_eq!(sts["status"]["currentRevision"], sts["status"]["updateRevision"]);
    assert_eq!(sts["status"]["readyReplicas"], 3);
    let pods = kubectl.run(&["get", "pods", "-l", "app=db", "-o", "json"]).await.json();
    assert_eq!(names(&pods), ["db-0", "db-1", "db-2"]);
    let run = kubectl.run(&["rollout", "status", "daemonset/agent", "--timeout=30s"]).await;
    assert_eq!(run.ok().lines().last(), Some("daemon set \"agent\" successfully rolled out"));
    let pods = kubectl.run(&["get", "pods", "-l", "app=agent", "-o", "json"]).await.json();
    assert_eq!(pods["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(pods["items"][0]["spec"]["nodeName"], "kube-double");

    let v2 = kubectl.manifest("v2.yaml", &workloads("nginx:2"));
    kubectl.run(&["apply", "--server-side", "-f", path(&v2)]).await.ok();
    kubectl.run(&["rollout", "status", "statefulset/db", "--timeout=60s"]).await.ok();
    kubectl.run(&["rollout", "status", "daemonset/agent", "--timeout=60s"]).await.ok();
    let pods = kubectl.run(&["get", "pods", "-l", "app in (db,agent)", "-o", "json"]).await.json();
    let images: Vec<&str> = pods["items"]
        .as_array()
        .expect("pods")
        .iter()
        .filter_map(|p| p["spec"]["containers"][0]["image"].as_str())
        .collect();
    assert_eq!(images, ["nginx:2"; 4], "{pods:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_scale_set_image_wait_and_the_revision_history_limit() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let file = kubectl.manifest("web.yaml", &deployment("web", "nginx:1", 2, "  revisionHistoryLimit: 1\n"));
    kubectl.run(&["apply", "--server-side", "-f", path(&file)]).await.ok();
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    let table = kubectl.run(&["get", "deploy"]).await;
    let lines: Vec<Vec<&str>> = table.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert_eq!(lines[1][..4], ["web", "2/2", "2", "2"]);
    let pods = kubectl.run(&["get", "pods"]).await;
    let lines: Vec<Vec<&str>> = pods.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(lines[1][1..4], ["1/1", "Running", "0"]);

    assert_eq!(
        kubectl.run(&["rollout", "pause", "deployment/web"]).await.ok(),
        "deployment.apps/web paused\n"
    );
    assert_eq!(
        kubectl.run(&["set", "image", "deployment/web", "web=nginx:2"]).await.ok(),
        "deployment.apps/web image updated\n"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        double.objects("apps/v1", "rs", Some("default")).len(),
        1,
        "a paused Deployment rolls nothing out"
    );
    let d = double.object("apps/v1", "deploy", "default", "web").expect("stored");
    let progressing = d["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Progressing")
        .cloned();
    assert_eq!(progressing.expect("Progressing")["reason"], "DeploymentPaused");
    assert_eq!(
        kubectl.run(&["scale", "deployment/web", "--replicas=3"]).await.ok(),
        "deployment.apps/web scaled\n"
    );
    assert_eq!(
        kubectl.run(&["rollout", "resume", "deployment/web"]).await.ok(),
        "deployment.apps/web resumed\n"
    );
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    let run = kubectl.run(&["wait", "--for=condition=Available", "deployment/web", "--timeout=10s"]).await;
    assert_eq!(run.ok(), "deployment.apps/web condition met\n");
    let pods = kubectl.run(&["get", "pods", "-l", "app=web", "-o", "json"]).await.json();
    assert_eq!(pods["items"].as_array().map(Vec::len), Some(3));

    kubectl.run(&["set", "image", "deployment/web", "web=nginx:3"]).await.ok();
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=30s"]).await.ok();
    let replica_sets = double.objects("apps/v1", "rs", Some("default"));
    let mut revisions: Vec<&str> = replica_sets
        .iter()
        .filter_map(|rs| rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str())
        .collect();
    revisions.sort();
    assert_eq!(revisions, ["2", "3"], "revisionHistoryLimit 1 keeps one old ReplicaSet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_and_namespace_deletion() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    let ns = kubectl.manifest("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n");
    assert_eq!(
        kubectl.run(&["apply", "--server-side", "-f", path(&ns)]).await.ok(),
        "namespace/team serverside-applied\n"
    );
    let recreate = |image: &str| deployment("web", image, 2, "  strategy:\n    type: Recreate\n");
    let v1 = kubectl.manifest("v1.yaml", &recreate("nginx:1"));
    let v2 = kubectl.manifest("v2.yaml", &recreate("nginx:2"));
    kubectl.run(&["apply", "--server-side", "-n", "team", "-f", path(&v1)]).await.ok();
    kubectl.run(&["rollout", "status", "-n", "team", "deployment/web", "--timeout=30s"]).await.ok();
    kubectl.run(&["apply", "--server-side", "-n", "team", "-f", path(&v2)]).await.ok();
    kubectl.run(&["rollout", "status", "-n", "team", "deployment/web", "--timeout=30s"]).await.ok();
    let pods = kubectl.run(&["get", "pods", "-n", "team", "-o", "json"]).await.json();
    let images: Vec<&str> = pods["items"]
        .as_array()
        .expect("pods")
        .iter()
        .filter_map(|p| p["spec"]["containers"][0]["image"].as_str())
        .collect();
    assert_eq!(images, ["nginx:2", "nginx:2"]);
    assert_eq!(double.objects("apps/v1", "rs", Some("team")).len(), 2);

    let run = kubectl.run(&["delete", "namespace", "team"]).await;
    assert_eq!(run.ok(), "namespace \"team\" deleted\n");
    assert!(double.object("v1", "ns", "", "team").is_none());
    assert!(double.objects("v1", "pods", Some("team")).is_empty());
    assert!(double.objects("apps/v1", "deploy", Some("team")).is_empty());
    let gone = kubectl.run(&["get", "namespace", "team"]).await;
    assert_eq!(gone.failed(), "Error from server (NotFound): namespaces \"team\" not found\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_sends_protobuf_the_double_reads() {
    let double = double().await;
    let kubectl = Kubectl::new(&double);
    assert_eq!(kubectl.run(&["create", "namespace", "team"]).await.ok(), "namespace/team created\n");
    let ns = double.object("v1", "Namespace", "", "team").expect("stored");
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team");
    let run = kubectl
        .run(&[
            "create",
            "configmap",
            "settings",
            "-n",
            "team",
            "--from-literal=mode=fast",
            "--from-literal=size=2",
        ])
        .await;
    assert_eq!(run.ok(), "configmap/settings created\n");
    let cm = double.object("v1", "cm", "team", "settings").expect("stored");
    assert_eq!(cm["data"], serde_json::json!({"mode": "fast", "size": "2"}));
    let run = kubectl
        .run(&["create", "secret", "generic", "token", "-n", "team", "--from-literal=value=hunter2"])
        .await;
    assert_eq!(run.ok(), "secret/token created\n");
    let secret = double.object("v1", "Secret", "team", "token").expect("stored");
    assert_eq!(secret["data"]["value"], "aHVudGVyMg==");
    assert_eq!(secret["type"], "Opaque");
    let again = kubectl.run(&["create", "namespace", "team"]).await;
    assert_eq!(again.failed(), "Error from server (AlreadyExists): namespaces \"team\" already exists\n");
    let run = kubectl
        .run(&["create", "deployment", "web", "-n", "team", "--image=nginx:1", "--replicas=2", "--port=8080"])
        .await;
    assert_eq!(run.ok(), "deployment.apps/web created\n");
    let d = double.object("apps/v1", "Deployment", "team", "web").expect("stored");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["selector"], serde_json::json!({"matchLabels": {"app": "web"}}));
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1");
    assert_eq!(container["ports"], serde_json::json!([{"containerPort": 8080, "protocol": "TCP"}]));
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    kubectl.run(&["rollout", "status", "-n", "team", "deployment/web", "--timeout=30s"]).await.ok();
    let run = kubectl.run(&["create", "service", "clusterip", "web", "-n", "team", "--tcp=80:8080"]).await;
    assert_eq!(run.ok(), "service/web created\n");
    let svc = double.object("v1", "Service", "team", "web").expect("stored");
    assert_eq!(
        svc["spec"]["ports"],
        serde_json::json!([{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}])
    );
    assert_eq!(svc["spec"]["selector"], serde_json::json!({"app": "web"}));
    let job = kubectl.run(&["create", "job", "once", "--image=nginx:1"]).await;
    assert_eq!(
        job.failed(),
        "error: failed to create job: the server could not find the requested resource\n"
    );
}
