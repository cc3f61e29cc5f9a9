//! The double with real containers on the test's dockerd, held to the real kubectl: a rollout
//! that completes once real readiness probes pass, a Service answering from the pods, logs, a
//! rollout stuck on a failing probe that exceeds its progress deadline, and a foreground
//! delete that waits until the containers are gone.

mod support;

use kube_double::{KubeDouble, Options};
use std::time::Duration;

use support::api::Api;
use support::{Kubectl, http_get};

/// A Deployment of the test web image with a readiness probe, and a Service in front of it.
fn web(name: &str, image: &str, version: &str, env_extra: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
{spec_extra}  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: {image}
        env:
        - name: VERSION
          value: {version}
{env_extra}        ports:
        - containerPort: 8080
          name: http
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector:
    app: {name}
  ports:
  - port: 80
    targetPort: http
"
    )
}

/// The test web image (built once) and a double running pods as containers on dockerd.
async fn image_and_double() -> (String, KubeDouble) {
    let image = tokio::task::spawn_blocking(|| {
        support::docker_ready();
        kube_double::runtime::images::web_image()
    })
    .await
    .expect("join")
    .expect("the test web image builds (busybox-static and a running dockerd are needed)");
    let double = KubeDouble::start(Options::default()).await.expect("start the double with dockerd");
    (image, double)
}

fn containers_of(double_label: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "--all", "--quiet", "--filter", &format!("label={double_label}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_containers_roll_out_answer_log_time_out_and_go() {
    let (image, double) = image_and_double().await;
    let kubectl = Kubectl::new(&double);

    let v1 = kubectl.manifest("v1.yaml", &web("web", &image, "v1", "", ""));
    let run = kubectl.run(&["apply", "--server-side", "-f", v1.to_str().expect("path")]).await;
    assert_eq!(run.ok(), "deployment.apps/web serverside-applied\nservice/web serverside-applied\n");
    let run = kubectl.run(&["rollout", "status", "deployment/web", "--timeout=90s"]).await;
    assert!(run.ok().ends_with("deployment \"web\" successfully rolled out\n"), "{run:?}");
    let pods = kubectl.run(&["get", "pods", "-l", "app=web", "-o", "json"]).await.json();
    let pods = pods["items"].as_array().expect("pods").clone();
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        assert_eq!(pod["status"]["phase"], "Running");
        assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
        assert!(
            pod["status"]["containerStatuses"][0]["containerID"]
                .as_str()
                .is_some_and(|id| id.starts_with("docker://"))
        );
    }

    // The Service answers from the ready pods.
    let url = double.service_url("default", "web").expect("the Service has a local port");
    let svc = double.object("v1", "svc", "default", "web").expect("stored");
    assert_eq!(
        svc["metadata"]["annotations"][kube_double::LOCAL_PORT],
        url.rsplit(':').next().expect("port")
    );
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(b) = http_get(&url, "/").await {
            body = b;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(body, "v1\n");

    // kubectl logs reads the container's output.
    let pod_name = pods[0]["metadata"]["name"].as_str().expect("name");
    let logs = kubectl.run(&["logs", pod_name]).await;
    assert!(logs.ok().lines().any(|l| l.starts_with("web v1")), "{logs:?}");
    let logs = kubectl.run(&["logs", "deployment/web", "-c", "web", "--tail=1"]).await;
    assert_eq!(logs.ok().lines().count(), 1, "{logs:?}");
    let logs = kubectl.run(&["logs", pod_name, "--since=1h"]).await;
    assert!(logs.ok().lines().any(|l| l.starts_with("web v1")), "{logs:?}");
    let missing = kubectl.run(&["logs", pod_name, "-c", "sidecar"]).await;
    assert_eq!(missing.failed(), format!("error: container sidecar is not valid for pod {pod_name}\n"));

    // A followed log streams what the container writes next (httpd logs each request).
    let api = Api::new(&double);
    let mut follow =
        api.stream(&format!("/api/v1/namespaces/default/pods/{pod_name}/log?follow=true&tailLines=1")).await;
    let first = follow.next_text(Duration::from_secs(10)).await.expect("the last line");
    assert_eq!(first.lines().count(), 1, "{first:?}");
    for _ in 0..4 {
        http_get(&url, "/").await.expect("the Service answers");
    }
    let next = follow.next_text(Duration::from_secs(10)).await.expect("a line per request");
    assert!(!next.is_empty());

    // A new version rolls out and the Service answers with it.
    let v2 = kubectl.manifest("v2.yaml", &web("web", &image, "v2", "", ""));
    kubectl.run(&["apply", "--server-side", "-f", v2.to_str().expect("path")]).await.ok();
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=90s"]).await.ok();
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(http_get(&url, "/").await.expect("the Service answers"));
    }
    assert!(answers.iter().all(|a| a == "v2\n"), "{answers:?}");

    // A rollout whose pods never pass their readiness probe exceeds its deadline.
    let stuck = kubectl.manifest(
        "stuck.yaml",
        &web(
            "stuck",
            &image,
            "v1",
            "        - name: FAIL_READINESS\n          value: \"1\"\n",
            "  progressDeadlineSeconds: 3\n",
        ),
    );
    kubectl.run(&["apply", "--server-side", "-f", stuck.to_str().expect("path")]).await.ok();
    let run = kubectl.run(&["rollout", "status", "deployment/stuck", "--timeout=90s"]).await;
    assert_eq!(run.failed(), "error: deployment \"stuck\" exceeded its progress deadline\n", "{run:?}");
    let d = double.object("apps/v1", "Deployment", "default", "stuck").expect("stored");
    let progressing = d["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Progressing")
        .expect("Progressing")
        .clone();
    assert_eq!(progressing["status"], "False");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");

    // A foreground delete returns once the pods, and their containers, are gone.
    let label = format!("{}={}", kube_double::runtime::INSTANCE_LABEL, instance_of(&double));
    let run = kubectl.run(&["delete", "deployment", "web", "stuck", "--cascade=foreground", "--wait"]).await;
    assert_eq!(run.ok(), "deployment.apps \"web\" deleted\ndeployment.apps \"stuck\" deleted\n");
    assert!(double.objects("v1", "pods", Some("default")).is_empty());
    assert!(containers_of(&label).is_empty(), "containers left: {:?}", containers_of(&label));
}

fn instance_of(double: &KubeDouble) -> String {
    double.runtime_instance().expect("the double runs containers").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_httproute_splits_requests_between_services_by_weight() {
    let (image, double) = image_and_double().await;
    let kubectl = Kubectl::new(&double);
    let stable = web("stable", &image, "v1", "", "").replace("replicas: 2", "replicas: 1");
    let canary = web("canary", &image, "v2", "", "").replace("replicas: 2", "replicas: 1");
    let route = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
  - name: gateway
  rules:
  - backendRefs:
    - name: stable
      port: 80
      weight: 80
    - name: canary
      port: 80
      weight: 20
";
    let file = kubectl.manifest("all.yaml", &format!("{stable}---\n{canary}---\n{route}"));
    kubectl.run(&["apply", "--server-side", "-f", file.to_str().expect("path")]).await.ok();
    for name in ["deployment/stable", "deployment/canary"] {
        kubectl.run(&["rollout", "status", name, "--timeout=90s"]).await.ok();
    }
    let url = double.route_url("default", "web").expect("the route has a listener");
    let route = kubectl.run(&["get", "httproute", "web", "-o", "json"]).await.json();
    assert_eq!(route["status"]["parents"][0]["conditions"][0]["type"], "Accepted");
    assert_eq!(route["status"]["parents"][0]["conditions"][0]["status"], "True");
    // Both Services answer before counting (their proxies learn the ready pods at once, but
    // the first answer from each shows it).
    for service in ["stable", "canary"] {
        let service_url = double.service_url("default", service).expect("service port");
        let mut answered = false;
        for _ in 0..100 {
            if http_get(&service_url, "/").await.is_ok() {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(answered, "{service} answers");
    }
    let mut v1 = 0;
    let mut v2 = 0;
    for _ in 0..100 {
        match http_get(&url, "/").await.expect("the route answers").as_str() {
            "v1\n" => v1 += 1,
            "v2\n" => v2 += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((v1, v2), (80, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_and_a_crashing_container_show_their_back_off() {
    let (image, double) = image_and_double().await;
    let kubectl = Kubectl::new(&double);
    let pods = format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: missing
spec:
  containers:
  - name: app
    image: kube-double/absent:1
---
apiVersion: v1
kind: Pod
metadata:
  name: crash
spec:
  containers:
  - name: app
    image: {image}
    command: [\"sh\", \"-c\", \"echo crashing; exit 3\"]
"
    );
    let file = kubectl.manifest("pods.yaml", &pods);
    kubectl.run(&["apply", "--server-side", "-f", file.to_str().expect("path")]).await.ok();
    let waiting = |name: &str| {
        double.object("v1", "pod", "default", name).and_then(|p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str().map(str::to_string)
        })
    };
    support::eventually(30, "ImagePullBackOff", || waiting("missing").as_deref() == Some("ImagePullBackOff"))
        .await;
    support::eventually(60, "CrashLoopBackOff", || waiting("crash").as_deref() == Some("CrashLoopBackOff"))
        .await;
    let crash = double.object("v1", "pod", "default", "crash").expect("stored");
    let status = &crash["status"]["containerStatuses"][0];
    assert!(status["restartCount"].as_i64().is_some_and(|n| n >= 1), "{status:#}");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 3);
    assert_eq!(status["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(crash["status"]["phase"], "Running");
    let table = kubectl.run(&["get", "pods"]).await;
    let rows: Vec<Vec<&str>> = table.ok().lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let status_of = |name: &str| rows.iter().find(|r| r[0] == name).map(|r| r[2]);
    assert_eq!(status_of("crash"), Some("CrashLoopBackOff"));
    assert!(matches!(status_of("missing"), Some("ImagePullBackOff" | "ErrImagePull")), "{rows:?}");
    let logs = kubectl.run(&["logs", "crash"]).await;
    assert!(logs.ok().contains("crashing"), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodeport_service_answers_on_the_node_at_its_node_port() {
    let (image, double) = image_and_double().await;
    let kubectl = Kubectl::new(&double);
    // A free port of the node port range (the node is 127.0.0.1), and one beside it for the
    // Service that gets its port allocated.
    let port =
        (30000..32767).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a free port");
    let service = |name: &str, node_port: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: NodePort\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: http\n{node_port}"
        )
    };
    let fixed = service("fixed", &format!("    nodePort: {port}\n"));
    let deployment = web("web", &image, "v1", "", "").split("---\n").next().expect("deployment").to_string();
    let file = kubectl.manifest("all.yaml", &format!("{deployment}---\n{fixed}"));
    kubectl.run(&["apply", "--server-side", "-f", file.to_str().expect("path")]).await.ok();
    kubectl.run(&["rollout", "status", "deployment/web", "--timeout=90s"]).await.ok();
    let url = format!("http://127.0.0.1:{port}");
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(body) = http_get(&url, "/").await {
            answer = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer.as_deref(), Some("v1\n"), "the NodePort answers from the pods");

    // Without a nodePort one is allocated from the range, shown in the Service and served.
    let file = kubectl.manifest("allocated.yaml", &service("allocated", ""));
    kubectl.run(&["apply", "--server-side", "-f", file.to_str().expect("path")]).await.ok();
    let mut allocated = None;
    for _ in 0..100 {
        let svc = kubectl.run(&["get", "service", "allocated", "-o", "json"]).await.json();
        if let Some(port) = svc["spec"]["ports"][0]["nodePort"].as_u64() {
            allocated = Some(port);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let allocated = allocated.expect("a node port is allocated");
    assert!((30000..=32767).contains(&allocated) && allocated != u64::from(port), "{allocated}");
    let body =
        http_get(&format!("http://127.0.0.1:{allocated}"), "/").await.expect("the allocated port answers");
    assert_eq!(body, "v1\n");

    // A node port out of the range, or on a ClusterIP Service, is refused as a real API server
    // refuses it.
    let file = kubectl.manifest("bad.yaml", &service("bad", "    nodePort: 8080\n"));
    let run = kubectl.run(&["apply", "--server-side", "-f", file.to_str().expect("path")]).await;
    assert_eq!(
        run.failed(),
        "The Service \"bad\" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767\n"
    );
    let cluster_ip =
        service("internal", &format!("    nodePort: {port}\n")).replace("type: NodePort", "type: ClusterIP");
    let file = kubectl.manifest("internal.yaml", &cluster_ip);
    let run = kubectl.run(&["apply", "--server-side", "-f", file.to_str().expect("path")]).await;
    assert_eq!(
        run.failed(),
        "The Service \"internal\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'\n"
    );
}
