//! One container of a pod as the kubelet runs it: its spec resolved from the pod (environment
//! from values, field references, ConfigMaps and Secrets; named probe ports), its probes with
//! their timing and thresholds, and its `containerStatuses` entry.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::daemonset::NODE;
use super::uid_of;
use crate::cluster::{Cluster, rt};
use crate::runtime::{Container, ContainerSpec, PodRuntime, Probe};
use crate::write;

/// One container's life in the pod.
pub(super) struct Run {
    pub(super) name: String,
    pub(super) image: String,
    pub(super) spec: ContainerSpec,
    readiness: Option<(Probe, ProbeTiming)>,
    liveness: Option<(Probe, ProbeTiming)>,
    pub(super) container: Option<Container>,
    pub(super) started_at: Option<Instant>,
    pub(super) started_text: String,
    pub(super) ready: bool,
    pub(super) successes: i64,
    pub(super) failures: i64,
    pub(super) live_failures: i64,
    pub(super) next_probe: Instant,
    pub(super) next_live: Instant,
    pub(super) next_start: Instant,
    pub(super) restarts: i64,
    pub(super) waiting: Option<(String, String)>,
    pub(super) terminated: Option<Value>,
    pub(super) last_state: Value,
    pub(super) failed_at: Option<Instant>,
    /// The pod's restart policy and name, for the back-off the status shows.
    pub(super) policy: String,
    pub(super) pod: String,
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

pub(super) fn runs_of(cluster: &Cluster, pod: &Value) -> Vec<Run> {
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
                failed_at: None,
                policy: pod["spec"]["restartPolicy"].as_str().unwrap_or("Always").to_string(),
                pod: pod["metadata"]["name"].as_str().unwrap_or("").to_string(),
            }
        })
        .collect()
}

impl Run {
    pub(super) fn status(&self) -> Value {
        let state = if let Some((reason, message)) = &self.waiting {
            let mut w = json!({"reason": reason});
            if !message.is_empty() {
                w["message"] = json!(message);
            }
            json!({"waiting": w})
        } else if let Some(t) = &self.terminated {
            let restarts =
                self.policy == "Always" || (self.policy == "OnFailure" && t["exitCode"].as_i64() != Some(0));
            if restarts && self.restarts > 0 {
                // Waiting out the restart back-off after more than one exit: CrashLoopBackOff.
                let seconds = (1u64 << self.restarts.min(4)).min(10);
                let message =
                    format!("back-off {seconds}s restarting failed container={} pod={}", self.name, self.pod);
                json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}})
            } else {
                json!({"terminated": t})
            }
        } else {
            json!({"running": {"startedAt": self.started_text}})
        };
        let mut status = json!({
            "name": self.name, "image": self.image, "imageID": "", "ready": self.ready,
            "started": self.container.is_some() && self.terminated.is_none() && self.waiting.is_none(),
            "restartCount": self.restarts, "state": state, "lastState": self.last_state,
        });
        if status["state"].get("waiting").is_some_and(|w| w["reason"] == "CrashLoopBackOff") {
            status["lastState"] = json!({"terminated": self.terminated});
        }
        if let Some(c) = &self.container {
            status["containerID"] = json!(format!("docker://{}", c.id));
        }
        status
    }

    /// A container of this run is up: probes start over after their initial delays.
    pub(super) fn started(&mut self, container: Container) {
        let now = Instant::now();
        self.container = Some(container);
        self.started_at = Some(now);
        self.started_text = write::now();
        self.waiting = None;
        self.terminated = None;
        self.ready = false;
        self.successes = 0;
        self.failures = 0;
        self.live_failures = 0;
        self.next_probe = now + self.readiness.as_ref().map(|(_, t)| t.initial).unwrap_or_default();
        self.next_live = now + self.liveness.as_ref().map(|(_, t)| t.initial).unwrap_or_default();
    }

    /// The runtime could not start it (`ErrImagePull`, `CreateContainerError`): tried again
    /// after a back-off, shown as `ImagePullBackOff` meanwhile for a missing image.
    pub(super) fn failed_to_start(&mut self, reason: &str, message: &str) {
        self.waiting = Some((reason.to_string(), message.to_string()));
        self.failed_at = Some(Instant::now());
        self.next_start = Instant::now() + Duration::from_secs(5);
    }

    /// Moves a failed pull into its back-off once the attempt has been shown.
    pub(super) fn back_off(&mut self, now: Instant) {
        let shown = self.failed_at.is_some_and(|t| now >= t + Duration::from_secs(1));
        if shown && self.waiting.as_ref().is_some_and(|(reason, _)| reason == "ErrImagePull") {
            self.waiting =
                Some(("ImagePullBackOff".into(), format!("Back-off pulling image {:?}", self.image)));
        }
    }

    pub(super) fn running(&self) -> bool {
        self.container.is_some() && self.waiting.is_none() && self.terminated.is_none()
    }
}

pub(super) async fn probe_all(runtime: &PodRuntime, runs: &mut [Run]) {
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
