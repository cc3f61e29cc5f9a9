//! The kubelet of the double's one node: each pod is bound to `kube-double`, its containers run
//! through the runtime (or, without containers, it is Running and Ready after a delay), its
//! readiness and liveness probes run at their periods and thresholds, restarts follow the
//! restart policy, and the status (phase, conditions, containerStatuses) says all of it. A pod
//! marked for deletion has its containers stopped within its grace period, then goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::daemonset::NODE;
use super::{deleting, make_condition, uid_of};
use crate::cluster::{Cluster, PodContainers, Pods, lock, rt};
use crate::runtime::{Container, ContainerSpec, ContainerState, PodRuntime, Probe};
use crate::store::Outcome;
use crate::write::{self, WriteContext};

const MANAGER: &str = "kubelet";
const TICK: Duration = Duration::from_millis(100);

pub fn reconcile(cluster: &Arc<Cluster>) {
    let (pods, _) = cluster.store.list(rt("", "pods"), None);
    let mut tracked = lock(&cluster.kubelet_pods);
    for pod in pods {
        let uid = uid_of(&pod).to_string();
        if tracked.insert(uid.clone()) {
            let ns = pod["metadata"]["namespace"].as_str().unwrap_or("").to_string();
            let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
            let cluster = cluster.clone();
            tokio::spawn(async move {
                run_pod(&cluster, &ns, &name, &uid).await;
                lock(&cluster.kubelet_pods).remove(&uid);
                lock(&cluster.containers).remove(&(ns, name));
            });
        }
    }
}

/// The pod as stored now, if it is still the one with `uid`.
fn current(cluster: &Cluster, ns: &str, name: &str, uid: &str) -> Option<Value> {
    cluster.store.get(rt("", "pods"), ns, name).filter(|p| uid_of(p) == uid)
}

fn write_status(cluster: &Cluster, pod: &Value, status: Value) {
    if pod["status"] != status {
        let mut next = pod.clone();
        next["status"] = status;
        let _ = write::commit(&cluster.store, rt("", "pods"), next, &WriteContext::status(MANAGER));
    }
}

/// Removes the pod object once its containers are gone (and its finalizers, if any).
fn finish_deletion(cluster: &Cluster, ns: &str, name: &str, uid: &str) {
    let _ = cluster.store.transact(rt("", "pods"), ns, name, |live| match live {
        Some(p) if uid_of(p) == uid && p["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty) => {
            Ok::<_, ()>(Outcome::Remove)
        }
        _ => Ok(Outcome::Keep(Value::Null)),
    });
}

/// Binds the pod to the node (as the scheduler would) and writes its first status.
fn schedule(cluster: &Cluster, pod: &Value) -> Option<Value> {
    let mut pod = pod.clone();
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        let mut bound = pod.clone();
        bound["spec"]["nodeName"] = json!(NODE);
        pod =
            write::commit(&cluster.store, rt("", "pods"), bound, &WriteContext::controller("kube-scheduler"))
                .ok()?;
    }
    if pod["status"]["phase"].is_null() {
        let scheduled = make_condition(None, "PodScheduled", "True", "", "", false);
        let status = json!({"phase": "Pending", "conditions": [scheduled], "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}], "qosClass": "BestEffort"});
        let mut next = pod.clone();
        next["status"] = status;
        pod = write::commit(&cluster.store, rt("", "pods"), next, &WriteContext::status(MANAGER)).ok()?;
    }
    Some(pod)
}

async fn run_pod(cluster: &Arc<Cluster>, ns: &str, name: &str, uid: &str) {
    let Some(pod) = current(cluster, ns, name, uid) else { return };
    if !deleting(&pod) && matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) {
        return;
    }
    if deleting(&pod) {
        finish_deletion(cluster, ns, name, uid);
        return;
    }
    if schedule(cluster, &pod).is_none() {
        return;
    }
    match &cluster.pods {
        Pods::Simulated(delay) => simulate(cluster, ns, name, uid, *delay).await,
        Pods::Containers(runtime) => {
            let runtime = runtime.clone();
            run_containers(cluster, &runtime, ns, name, uid).await;
        }
    }
}

/// Without containers: Running and Ready after `delay`, gone as soon as it is deleted.
async fn simulate(cluster: &Cluster, ns: &str, name: &str, uid: &str, delay: Duration) {
    let start = Instant::now();
    let mut ready = false;
    loop {
        if cluster.is_stopped() {
            return;
        }
        let Some(pod) = current(cluster, ns, name, uid) else { return };
        if deleting(&pod) {
            finish_deletion(cluster, ns, name, uid);
            return;
        }
        if !ready && start.elapsed() >= delay {
            let names: Vec<&str> = pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .collect();
            let states: Vec<Value> = names
                .iter()
                .zip(pod["spec"]["containers"].as_array().into_iter().flatten())
                .map(|(n, c)| json!({"name": n, "image": c["image"], "imageID": "", "containerID": format!("simulated://{uid}-{n}"),
                    "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": write::now()}}, "lastState": {}}))
                .collect();
            let status = pod_status(&pod, &states, true, true, "127.0.0.1");
            write_status(cluster, &pod, status);
            ready = true;
        }
        tokio::time::sleep(TICK).await;
    }
}

fn pod_status(
    pod: &Value,
    container_statuses: &[Value],
    all_started: bool,
    all_ready: bool,
    ip: &str,
) -> Value {
    let previous = |kind: &str| super::condition(pod, kind).cloned();
    let unready: Vec<&str> =
        container_statuses.iter().filter(|c| c["ready"] != true).filter_map(|c| c["name"].as_str()).collect();
    let (ready, reason, message) = if all_ready {
        ("True", "", String::new())
    } else {
        ("False", "ContainersNotReady", format!("containers with unready status: [{}]", unready.join(" ")))
    };
    let conditions = vec![
        make_condition(
            previous("PodReadyToStartContainers").as_ref(),
            "PodReadyToStartContainers",
            "True",
            "",
            "",
            false,
        ),
        make_condition(previous("Initialized").as_ref(), "Initialized", "True", "", "", false),
        make_condition(previous("Ready").as_ref(), "Ready", ready, reason, &message, false),
        make_condition(
            previous("ContainersReady").as_ref(),
            "ContainersReady",
            ready,
            reason,
            &message,
            false,
        ),
        make_condition(previous("PodScheduled").as_ref(), "PodScheduled", "True", "", "", false),
    ];
    let conditions: Vec<Value> = conditions
        .into_iter()
        .map(|mut c| {
            for field in ["reason", "message"] {
                if c[field] == "" {
                    c.as_object_mut().map(|m| m.remove(field));
                }
            }
            c
        })
        .collect();
    let exited: Vec<i64> =
        container_statuses.iter().filter_map(|c| c["state"]["terminated"]["exitCode"].as_i64()).collect();
    let policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    let finished =
        !container_statuses.is_empty() && exited.len() == container_statuses.len() && policy != "Always";
    let phase = if finished && exited.iter().all(|c| *c == 0) {
        "Succeeded"
    } else if finished {
        "Failed"
    } else if all_started {
        "Running"
    } else {
        "Pending"
    };
    let start_time = pod["status"]["startTime"].as_str().map(str::to_string).unwrap_or_else(write::now);
    json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": start_time,
        "containerStatuses": container_statuses,
        "qosClass": "BestEffort",
    })
}

/// One container's life in the pod.
struct Run {
    name: String,
    image: String,
    spec: ContainerSpec,
    readiness: Option<(Probe, ProbeTiming)>,
    liveness: Option<(Probe, ProbeTiming)>,
    container: Option<Container>,
    started_at: Option<Instant>,
    started_text: String,
    ready: bool,
    successes: i64,
    failures: i64,
    live_failures: i64,
    next_probe: Instant,
    next_live: Instant,
    next_start: Instant,
    restarts: i64,
    waiting: Option<(String, String)>,
    terminated: Option<Value>,
    last_state: Value,
}

#[derive(Clone, Copy)]
struct ProbeTiming {
    initial: Duration,
    period: Duration,
    success: i64,
    failure: i64,
}

fn timing(probe: &Value) -> ProbeTiming {
    ProbeTiming {
        initial: Duration::from_secs(probe["initialDelaySeconds"].as_u64().unwrap_or(0)),
        period: Duration::from_secs(probe["periodSeconds"].as_u64().unwrap_or(10).max(1)),
        success: probe["successThreshold"].as_i64().unwrap_or(1).max(1),
        failure: probe["failureThreshold"].as_i64().unwrap_or(3).max(1),
    }
}

fn port_number(container: &Value, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(named) => {
            container["ports"].as_array()?.iter().find(|p| p["name"] == named.as_str())?["containerPort"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
        }
        _ => None,
    }
}

fn probe_of(container: &Value, probe: &Value) -> Option<(Probe, ProbeTiming)> {
    if !probe.is_object() {
        return None;
    }
    let kind = if let Some(http) = probe.get("httpGet") {
        Probe::Http {
            path: http["path"].as_str().unwrap_or("/").to_string(),
            port: port_number(container, &http["port"])?,
        }
    } else if let Some(tcp) = probe.get("tcpSocket") {
        Probe::Tcp { port: port_number(container, &tcp["port"])? }
    } else if let Some(exec) = probe.get("exec") {
        Probe::Exec {
            command: exec["command"]
                .as_array()?
                .iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
        }
    } else {
        Probe::Tcp { port: port_number(container, &probe["grpc"]["port"])? }
    };
    Some((kind, timing(probe)))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

/// A container's environment: values, field references, ConfigMap and Secret keys.
fn environment(cluster: &Cluster, pod: &Value, container: &Value) -> Vec<(String, String)> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
    let data = |kind: &str, name: &str| -> serde_json::Map<String, Value> {
        let (plural, field) = if kind == "secret" { ("secrets", "data") } else { ("configmaps", "data") };
        let object = cluster.store.get(rt("", plural), ns, name).unwrap_or_default();
        let mut map = object[field].as_object().cloned().unwrap_or_default();
        if kind == "secret" {
            use base64::Engine as _;
            for value in map.values_mut() {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(value.as_str().unwrap_or(""))
                    .unwrap_or_default();
                *value = json!(String::from_utf8_lossy(&decoded));
            }
        }
        map
    };
    let mut env = Vec::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or("");
        let (kind, name) = if let Some(name) = from["configMapRef"]["name"].as_str() {
            ("configmap", name)
        } else {
            ("secret", from["secretRef"]["name"].as_str().unwrap_or(""))
        };
        for (k, v) in data(kind, name) {
            env.push((format!("{prefix}{k}"), v.as_str().unwrap_or("").to_string()));
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap_or("").to_string();
        let value = if let Some(v) = var["value"].as_str() {
            v.to_string()
        } else if let Some(path) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.name" => pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
                "metadata.namespace" => ns.to_string(),
                "metadata.uid" => uid_of(pod).to_string(),
                "spec.nodeName" => NODE.to_string(),
                "status.podIP" | "status.hostIP" => "127.0.0.1".to_string(),
                _ => String::new(),
            }
        } else if let Some(r) = var["valueFrom"].get("configMapKeyRef") {
            data("configmap", r["name"].as_str().unwrap_or(""))[r["key"].as_str().unwrap_or("")]
                .as_str()
                .unwrap_or("")
                .to_string()
        } else if let Some(r) = var["valueFrom"].get("secretKeyRef") {
            data("secret", r["name"].as_str().unwrap_or(""))[r["key"].as_str().unwrap_or("")]
                .as_str()
                .unwrap_or("")
                .to_string()
        } else {
            String::new()
        };
        env.push((name, value));
    }
    env
}

fn runs_of(cluster: &Cluster, pod: &Value) -> Vec<Run> {
    let now = Instant::now();
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or("").to_string();
            let port = c["ports"][0]["containerPort"].as_u64().and_then(|p| u16::try_from(p).ok());
            Run {
                spec: ContainerSpec {
                    name: name.clone(),
                    image: c["image"].as_str().unwrap_or("").to_string(),
                    command: strings(&c["command"]),
                    args: strings(&c["args"]),
                    env: environment(cluster, pod, c),
                    port,
                },
                name,
                image: c["image"].as_str().unwrap_or("").to_string(),
                readiness: probe_of(c, &c["readinessProbe"]),
                liveness: probe_of(c, &c["livenessProbe"]),
                container: None,
                started_at: None,
                started_text: String::new(),
                ready: false,
                successes: 0,
                failures: 0,
                live_failures: 0,
                next_probe: now,
                next_live: now,
                next_start: now,
                restarts: 0,
                waiting: Some(("ContainerCreating".into(), String::new())),
                terminated: None,
                last_state: json!({}),
            }
        })
        .collect()
}

impl Run {
    fn status(&self) -> Value {
        let state = if let Some((reason, message)) = &self.waiting {
            let mut w = json!({"reason": reason});
            if !message.is_empty() {
                w["message"] = json!(message);
            }
            json!({"waiting": w})
        } else if let Some(t) = &self.terminated {
            json!({"terminated": t})
        } else {
            json!({"running": {"startedAt": self.started_text}})
        };
        let mut status = json!({
            "name": self.name, "image": self.image, "imageID": "", "ready": self.ready,
            "started": self.container.is_some() && self.terminated.is_none() && self.waiting.is_none(),
            "restartCount": self.restarts, "state": state, "lastState": self.last_state,
        });
        if let Some(c) = &self.container {
            status["containerID"] = json!(format!("docker://{}", c.id));
        }
        status
    }

    fn running(&self) -> bool {
        self.container.is_some() && self.waiting.is_none() && self.terminated.is_none()
    }
}

async fn run_containers(cluster: &Cluster, runtime: &PodRuntime, ns: &str, name: &str, uid: &str) {
    let Some(pod) = current(cluster, ns, name, uid) else { return };
    let mut runs = runs_of(cluster, &pod);
    let policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always").to_string();
    let mut next_state_check = Instant::now();
    loop {
        if cluster.is_stopped() {
            return;
        }
        let Some(pod) = current(cluster, ns, name, uid) else {
            for run in &runs {
                if let Some(c) = &run.container {
                    runtime.remove(c).await;
                }
            }
            return;
        };
        if deleting(&pod) {
            let grace =
                Duration::from_secs(pod["metadata"]["deletionGracePeriodSeconds"].as_u64().unwrap_or(30));
            for run in &runs {
                if let Some(c) = &run.container {
                    runtime.stop(c, grace).await;
                    runtime.remove(c).await;
                }
            }
            finish_deletion(cluster, ns, name, uid);
            return;
        }
        let now = Instant::now();
        for run in runs.iter_mut() {
            let restartable = run.terminated.as_ref().is_some_and(|t| {
                policy == "Always" || (policy == "OnFailure" && t["exitCode"].as_i64() != Some(0))
            });
            let needs_start = (run.container.is_none() || restartable) && now >= run.next_start;
            if !needs_start {
                continue;
            }
            if let Some(old) = run.container.take() {
                runtime.remove(&old).await;
                run.last_state = json!({"terminated": run.terminated.take()});
                run.restarts += 1;
            }
            match runtime.start(name, &run.spec).await {
                Ok(container) if cluster.is_stopped() => {
                    // Started while the double stopped: not to outlive it.
                    runtime.remove(&container).await;
                    return;
                }
                Ok(container) => {
                    run.container = Some(container);
                    run.started_at = Some(Instant::now());
                    run.started_text = write::now();
                    run.waiting = None;
                    run.terminated = None;
                    run.ready = false;
                    run.successes = 0;
                    run.failures = 0;
                    run.live_failures = 0;
                    let start = Instant::now();
                    run.next_probe =
                        start + run.readiness.as_ref().map(|(_, t)| t.initial).unwrap_or_default();
                    run.next_live = start + run.liveness.as_ref().map(|(_, t)| t.initial).unwrap_or_default();
                }
                Err(e) => {
                    run.waiting = Some((e.reason().to_string(), e.to_string()));
                    run.next_start = Instant::now() + Duration::from_secs(5);
                }
            }
        }
        {
            let started: Vec<(String, Container)> =
                runs.iter().filter_map(|r| r.container.clone().map(|c| (r.name.clone(), c))).collect();
            lock(&cluster.containers)
                .insert((ns.to_string(), name.to_string()), PodContainers { containers: started });
        }
        if now >= next_state_check {
            next_state_check = now + Duration::from_millis(500);
            for run in runs.iter_mut().filter(|r| r.running()) {
                let Some(container) = &run.container else { continue };
                match runtime.state(container).await {
                    ContainerState::Running { .. } => {}
                    ContainerState::Exited { code, reason } => {
                        run.terminated = Some(
                            json!({"exitCode": code, "reason": reason, "startedAt": run.started_text,
                            "finishedAt": write::now(), "containerID": format!("docker://{}", container.id)}),
                        );
                        run.ready = false;
                        // the kubelet's back-off, shortened: a crash loop restarts within seconds
                        run.next_start =
                            Instant::now() + Duration::from_secs((1u64 << run.restarts.min(4)).min(10));
                    }
                    ContainerState::Missing => {
                        run.terminated = Some(
                            json!({"exitCode": 137, "reason": "ContainerMissing", "startedAt": run.started_text,
                            "finishedAt": write::now()}),
                        );
                        run.ready = false;
                    }
                }
            }
        }
        probe_all(runtime, &mut runs).await;
        let statuses: Vec<Value> = runs.iter().map(Run::status).collect();
        let all_started = runs.iter().all(|r| r.container.is_some());
        let all_ready = runs.iter().all(|r| r.ready);
        let ip = runs
            .iter()
            .find_map(|r| r.container.as_ref().and_then(|c| c.ip))
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "127.0.0.1".to_string());
        if let Some(pod) = current(cluster, ns, name, uid) {
            write_status(cluster, &pod, pod_status(&pod, &statuses, all_started, all_ready, &ip));
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn probe_all(runtime: &PodRuntime, runs: &mut [Run]) {
    let now = Instant::now();
    for run in runs.iter_mut().filter(|r| r.running()) {
        let Some(container) = run.container.clone() else { continue };
        match run.readiness.clone() {
            None => run.ready = true,
            Some((probe, t)) if now >= run.next_probe => {
                run.next_probe = now + t.period;
                if runtime.probe(&container, &probe).await {
                    run.successes += 1;
                    run.failures = 0;
                    if run.successes >= t.success {
                        run.ready = true;
                    }
                } else {
                    run.failures += 1;
                    run.successes = 0;
                    if run.failures >= t.failure {
                        run.ready = false;
                    }
                }
            }
            Some(_) => {}
        }
        if let Some((probe, t)) = run.liveness.clone()
            && now >= run.next_live
        {
            run.next_live = now + t.period;
            if runtime.probe(&container, &probe).await {
                run.live_failures = 0;
            } else {
                run.live_failures += 1;
                if run.live_failures >= t.failure {
                    // Killed for failing its liveness probe; the restart policy brings it back.
                    runtime.remove(&container).await;
                    run.terminated =
                        Some(json!({"exitCode": 137, "reason": "Error", "startedAt": run.started_text,
                        "finishedAt": write::now()}));
                    run.ready = false;
                }
            }
        }
    }
}
