//! What the kubernetes plugin's tasks write into the task's log, read back from the store: the
//! rollout waits saying what they wait for, each step of it, and `kubernetes.logs` copying a
//! workload's and a pod's lines (`tail`, `since`) into the log, against the Kubernetes API
//! double whose pods are real containers.

#![allow(clippy::unwrap_used)]

mod support_kube;

use std::time::Duration;

use serde_json::{Value, json};
use support_kube::{Kube, eventually, indented, task_outputs, web_manifests};

fn flow(id: &str, tasks: &str) -> String {
    format!("id: {id}\nnamespace: t\ntasks:\n{tasks}")
}

/// What every task logs first: how it trusts the cluster.
fn tls_line(kube: &Kube) -> String {
    format!("TLS for {}: trusts its own CA certificates, presents no client certificate", kube.double.url())
}

/// The names of the pods of `selector` that are not on their way out, sorted.
fn live_pods(kube: &Kube, selector: &str) -> Vec<String> {
    let listed = kube.kubectl(&["get", "pods", "-l", selector, "-o", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut names: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn rollout_status_logs_each_state_it_waits_through() {
    let kube = Kube::start();
    // Each pod is ready once the test says so: its readiness probe looks for a file the test
    // writes into one container at a time.
    let manifests = web_manifests("web", "v1", 3, "").replace(
        "httpGet: {path: /healthz, port: 8080}",
        "exec: {command: [/bin/sh, -c, test -f /www/ready]}",
    );
    let apply = format!(
        "  - id: apply\n    type: kubernetes.apply\n    manifests: |\n{}{}",
        indented(&manifests, 6),
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("apply", &flow("apply", &apply)));
    assert_eq!(code, 0, "{doc:#}");
    let deployment = || kube.double.object("apps/v1", "Deployment", "default", "web").unwrap();
    let pod_running = |name: &str| {
        kube.double.object("v1", "Pod", "default", name).unwrap()["status"]["phase"] == "Running"
    };
    eventually("3 pods running, none ready", Duration::from_secs(60), || {
        let status = deployment()["status"].clone();
        let pods = live_pods(&kube, "app=web");
        status["updatedReplicas"] == 3
            && status["replicas"] == 3
            && status["availableReplicas"].as_i64().unwrap_or(0) == 0
            && pods.len() == 3
            && pods.iter().all(|p| pod_running(p))
    });

    let status = format!(
        "  - id: status\n    type: kubernetes.rollout\n    action: status\n    name: web\n    timeout: 2m\n{}",
        kube.connection()
    );
    let mut running = kube.spawn_json(&kube.flow("status", &flow("status", &status)));
    let pods = live_pods(&kube, "app=web");
    for (ready, pod) in pods.iter().enumerate() {
        let line = format!("Deployment web: {ready} of 3 updated replicas are available");
        eventually(&format!("the task logs {line:?}"), Duration::from_secs(60), || {
            kube.live_log("status").contains(&line)
        });
        assert!(running.running(), "the rollout is not complete yet");
        kube.exec_in_pod(pod, &["/bin/sh", "-c", ": > /www/ready"]);
        eventually(&format!("{} available", ready + 1), Duration::from_secs(60), || {
            deployment()["status"]["availableReplicas"] == ready as u64 + 1
        });
    }
    let (code, doc) = running.finish();
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(task_outputs(&doc, "status")["message"], "Deployment default/web successfully rolled out");
    assert_eq!(
        kube.messages(&doc, "status"),
        [
            tls_line(&kube),
            "Deployment web: 0 of 3 updated replicas are available".into(),
            "Deployment web: 1 of 3 updated replicas are available".into(),
            "Deployment web: 2 of 3 updated replicas are available".into(),
        ]
    );
}

/// A Deployment whose pods print `one`, `two`, `three`, then `tick 1`, `tick 2`, ... a second
/// apart.
fn ticker(replicas: u32) -> String {
    let image = Kube::web_image();
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: ticker}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: ticker}}
  template:
    metadata:
      labels: {{app: ticker}}
    spec:
      containers:
        - name: tick
          image: {image}
          command: [/bin/sh, -c, 'echo one; echo two; echo three; i=0; while true; do sleep 1; i=$((i+1)); echo "tick $i"; done']
"#
    )
}

/// The `tick N` numbers of lines, failing on any other line.
fn ticks(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            l.strip_prefix("tick ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{l:?} in {lines:?}"))
        })
        .collect()
}

fn consecutive(numbers: &[u64]) -> bool {
    numbers.windows(2).all(|w| w[1] == w[0] + 1)
}

#[test]
fn logs_copies_a_workloads_and_a_pods_lines_into_the_task_log_with_tail_and_since() {
    let kube = Kube::start();
    let apply = format!(
        "  - id: apply\n    type: kubernetes.apply\n    waitForRollout: true\n    manifests: |\n{}{}",
        indented(&ticker(2), 6),
        kube.connection()
    );
    let (code, doc) = kube.run_json(&kube.flow("apply", &flow("apply", &apply)));
    assert_eq!(code, 0, "{doc:#}");
    let pods = live_pods(&kube, "app=ticker");
    assert_eq!(pods.len(), 2, "{pods:?}");
    // `one` is more than 4 s old once `tick 5` is out.
    for pod in &pods {
        eventually(&format!("{pod} prints tick 5"), Duration::from_secs(60), || {
            let logs = kube.kubectl(&["logs", pod]);
            String::from_utf8_lossy(&logs.stdout).lines().any(|l| l == "tick 5")
        });
    }
    let logs = |id: &str, lines: &str| {
        format!("  - id: {id}\n    type: kubernetes.logs\n{lines}{}", kube.connection())
    };
    let tasks = [
        logs("tail", "    kind: Deployment\n    name: ticker\n    tail: 2\n"),
        logs("since", &format!("    name: {}\n    since: 3s\n", pods[0])),
        logs("whole", &format!("    kind: Pod\n    name: {}\n", pods[1])),
    ]
    .concat();
    let (code, doc) = kube.run_json(&kube.flow("logs", &flow("logs", &tasks)));
    assert_eq!(code, 0, "{doc:#}");

    // Each line of the task log under its pod and container; what the pod printed after that.
    let of_pod = |task: &str, pod: &str| -> Vec<String> {
        let prefix = format!("[{pod}/tick] ");
        kube.messages(&doc, task).iter().filter_map(|l| l.strip_prefix(&prefix).map(str::to_string)).collect()
    };
    let lines = |task: &str| {
        let logged = kube.messages(&doc, task);
        assert_eq!(logged[0], tls_line(&kube), "{logged:?}");
        logged.len() - 1
    };

    // tail: exactly the last 2 lines of each pod, two ticks in a row, 5 or later.
    assert_eq!(
        task_outputs(&doc, "tail")["containers"],
        json!([{"pod": pods[0], "container": "tick", "lines": 2}, {"pod": pods[1], "container": "tick", "lines": 2}])
    );
    assert_eq!(lines("tail"), 4);
    for pod in &pods {
        let numbers = ticks(&of_pod("tail", pod));
        assert!(numbers.len() == 2 && consecutive(&numbers) && numbers[0] >= 4, "{pod}: {numbers:?}");
    }

    // since 3s: the latest ticks only, never the first lines of more than 4 s ago.
    let since = of_pod("since", &pods[0]);
    let numbers = ticks(&since);
    assert!(!numbers.is_empty() && consecutive(&numbers) && numbers[0] >= 2, "{since:?}");
    assert_eq!(lines("since"), since.len());
    assert_eq!(
        task_outputs(&doc, "since")["containers"],
        json!([{"pod": pods[0], "container": "tick", "lines": since.len()}])
    );

    // The whole log of one pod, from its first line on, and only that pod's.
    let whole = of_pod("whole", &pods[1]);
    assert_eq!(whole[..4], ["one", "two", "three", "tick 1"], "{whole:?}");
    let numbers = ticks(&whole[3..]);
    assert!(consecutive(&numbers) && numbers.len() >= 5, "{whole:?}");
    assert_eq!(lines("whole"), whole.len());
    assert_eq!(
        task_outputs(&doc, "whole")["containers"],
        json!([{"pod": pods[1], "container": "tick", "lines": whole.len()}])
    );
}
