//! The kubelet of the double's one node: each pod is bound to `kube-double`, its containers run
//! through the runtime (or, without containers, it is Running and Ready after a delay), its
//! readiness and liveness probes run at their periods and thresholds, restarts follow the
//! restart policy, and the status (phase, conditions, containerStatuses) says all of it. A pod
//! marked for deletion has its containers stopped within its grace period, then goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::container::{Run, probe_all, runs_of};
use super::daemonset::NODE;
use super::{deleting, make_condition, uid_of};
use crate::cluster::{Cluster, PodContainers, Pods, lock, rt};
use crate::runtime::{Container, ContainerState, PodRuntime};
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
                Ok(container) => run.started(container),
                Err(e) => run.failed_to_start(e.reason(), &e.to_string()),
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
        for run in runs.iter_mut() {
            run.back_off(Instant::now());
        }
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
