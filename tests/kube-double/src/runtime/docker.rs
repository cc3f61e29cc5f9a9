//! [`PodRuntime`]: containers on the test's dockerd through the `docker` CLI (a process per call
//! is plenty for a test double, and the CLI already speaks every API version dockerd does).

use std::net::IpAddr;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail};
use serde::Deserialize;
use tokio::process::Command;

use super::{Container, ContainerSpec, ContainerState, INSTANCE_LABEL, StartError};

/// How to start the daemon when it does not answer.
pub(super) const START_DOCKERD: &str = "(setsid dockerd >/tmp/dockerd.log 2>&1 &)";
/// Labels besides [`INSTANCE_LABEL`]: the owning process (to sweep what a killed test left),
/// and the pod and container, for a reader of `docker ps`.
const PID_LABEL: &str = "kube-double.pid";
const POD_LABEL: &str = "kube-double.pod";
const CONTAINER_LABEL: &str = "kube-double.container";
/// A docker CLI call that takes longer than this is stuck (a loaded machine starts a container
/// in well under ten seconds).
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// The test's dockerd, and the containers this instance of the double started on it.
#[derive(Debug)]
pub struct PodRuntime {
    /// The value of [`INSTANCE_LABEL`] on this runtime's containers.
    instance: String,
    /// Makes container names unique when a pod's container is started again.
    started: AtomicU64,
}

impl PodRuntime {
    /// Checks that the test's dockerd answers, and removes the containers that double instances
    /// of processes no longer alive left behind.
    pub async fn connect() -> anyhow::Result<Self> {
        let output = docker(&["version", "--format", "{{.Server.Version}}"]).await.map_err(|e| {
            anyhow!("cannot run the docker CLI ({e}); install it: apt-get install -y docker.io")
        })?;
        if !output.status.success() {
            bail!("the test's dockerd does not answer ({}); start it: {START_DOCKERD}", stderr_of(&output));
        }
        let runtime =
            PodRuntime { instance: uuid::Uuid::new_v4().simple().to_string(), started: AtomicU64::new(0) };
        runtime.remove_orphans().await;
        Ok(runtime)
    }

    /// This runtime's instance id, the value of the [`INSTANCE_LABEL`] label.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Starts `spec` as container of `pod`, publishing `spec.port` on 127.0.0.1 (a random host
    /// port). Never pulls. A command that cannot be executed still answers a container, whose
    /// state is `Exited { reason: "StartError" }` (the pod shows it and backs off).
    pub async fn start(&self, pod: &str, spec: &ContainerSpec) -> Result<Container, StartError> {
        let failed = |message: String| StartError::Docker {
            pod: pod.to_string(),
            container: spec.name.clone(),
            message,
        };
        let image = docker(&["image", "inspect", "--format", "{{.Id}}", &spec.image])
            .await
            .map_err(|e| failed(format!("cannot run the docker CLI: {e}")))?;
        if !image.status.success() {
            let message = stderr_of(&image);
            return Err(if message.contains("No such image") || message.contains("No such object") {
                StartError::ImageNotPresent { image: spec.image.clone() }
            } else {
                failed(message)
            });
        }

        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let name = format!("kd-{}-{}-{}-{n}", &self.instance[..8], docker_name(pod), docker_name(&spec.name));
        let args = self.run_args(&name, pod, spec);
        let run = docker(&args).await.map_err(|e| failed(format!("cannot run the docker CLI: {e}")))?;
        let id = if run.status.success() {
            String::from_utf8_lossy(&run.stdout).trim().to_string()
        } else {
            // dockerd creates the container before it fails to execute its command; then the
            // container is the answer (its state says StartError), as the kubelet reports it.
            match inspect::<Identity>(&name, "{{json .}}").await {
                Some(identity) => identity.id,
                None => return Err(failed(stderr_of(&run))),
            }
        };
        let network = inspect::<Network>(&id, "{{json .NetworkSettings}}").await;
        let host_port = spec.port.and_then(|port| network.as_ref()?.host_port(port));
        let ip = network.and_then(|n| n.ip_address.parse().ok());
        Ok(Container { id, host_port, ip, port: spec.port })
    }

    fn run_args(&self, name: &str, pod: &str, spec: &ContainerSpec) -> Vec<String> {
        let mut args: Vec<String> =
            ["run", "--detach", "--pull", "never", "--name", name, "--hostname"].map(String::from).into();
        args.push(hostname(pod));
        let pid = std::process::id();
        for label in [
            format!("{INSTANCE_LABEL}={}", self.instance),
            format!("{PID_LABEL}={pid}"),
            format!("{POD_LABEL}={pod}"),
            format!("{CONTAINER_LABEL}={}", spec.name),
        ] {
            args.extend(["--label".to_string(), label]);
        }
        for (key, value) in &spec.env {
            args.extend(["--env".to_string(), format!("{key}={value}")]);
        }
        if let Some(port) = spec.port {
            args.extend(["--publish".to_string(), format!("127.0.0.1::{port}")]);
        }
        // Kubernetes' command replaces the entrypoint and, as docker's --entrypoint does, the
        // image's default command too; args alone replace only the default command.
        let mut rest = spec.args.clone();
        if let Some((entrypoint, command_args)) = spec.command.split_first() {
            args.extend(["--entrypoint".to_string(), entrypoint.clone()]);
            rest = command_args.iter().chain(&spec.args).cloned().collect();
        }
        args.push(spec.image.clone());
        args.extend(rest);
        args
    }

    /// What dockerd says of `container` now; `Missing` also when dockerd cannot be asked.
    pub async fn state(&self, container: &Container) -> ContainerState {
        match inspect::<State>(&container.id, "{{json .State}}").await {
            Some(state) => state.to_kube(),
            None => ContainerState::Missing,
        }
    }

    /// Stops the container as the kubelet ends a deleted pod's: SIGTERM, then SIGKILL once
    /// `grace` has passed (docker counts it in whole seconds, rounded up). The container stays,
    /// `Exited`, until [`PodRuntime::remove`].
    pub async fn stop(&self, container: &Container, grace: Duration) {
        let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let stop = docker(&["stop", "--time", &seconds.to_string(), &container.id]).await;
        if let Err(e) = stop {
            tracing::warn!(container = %container.id, "docker stop: {e}");
        }
    }

    /// Removes the container, running or not, with its anonymous volumes; gone already is fine.
    pub async fn remove(&self, container: &Container) {
        if let Err(e) = docker(&["rm", "--force", "--volumes", &container.id]).await {
            tracing::warn!(container = %container.id, "docker rm: {e}");
        }
    }

    /// Removes every container of this instance, blocking the thread: for `Drop`.
    pub fn remove_all_blocking(&self) {
        let filter = format!("label={INSTANCE_LABEL}={}", self.instance);
        let listed = std::process::Command::new("docker")
            .args(["ps", "--all", "--quiet", "--filter", &filter])
            .stdin(Stdio::null())
            .output();
        let Ok(listed) = listed else { return };
        let ids = String::from_utf8_lossy(&listed.stdout);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "--force", "--volumes"])
                .args(&ids)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Removes the containers whose owning process has gone (a test killed before its Drop).
    async fn remove_orphans(&self) {
        let Ok(listed) = docker(&[
            "ps",
            "--all",
            "--filter",
            &format!("label={PID_LABEL}"),
            "--format",
            &format!("{{{{.ID}}}} {{{{.Label \"{PID_LABEL}\"}}}}"),
        ])
        .await
        else {
            return;
        };
        let listed = String::from_utf8_lossy(&listed.stdout);
        let orphans: Vec<&str> = listed
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter(|(_, pid)| !std::path::Path::new(&format!("/proc/{pid}")).exists())
            .map(|(id, _)| id)
            .collect();
        if !orphans.is_empty() {
            let mut args = vec!["rm", "--force", "--volumes"];
            args.extend(orphans);
            let _ = docker(&args).await;
        }
    }
}

/// Runs the docker CLI with `args`, killed if it outlives [`CLI_TIMEOUT`].
pub(super) async fn docker<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::io::Result<Output> {
    let run = Command::new("docker").args(args).stdin(Stdio::null()).kill_on_drop(true).output();
    match tokio::time::timeout(CLI_TIMEOUT, run).await {
        Ok(output) => output,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the docker CLI did not answer within {CLI_TIMEOUT:?}"),
        )),
    }
}

pub(super) fn stderr_of(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let text = text.trim();
    let text = text.strip_prefix("docker: ").unwrap_or(text);
    // The CLI's advice after a failed run says nothing about the failure.
    text.split("\n\nRun 'docker").next().unwrap_or(text).trim().to_string()
}

/// `docker inspect --format <format> <id>` parsed as JSON; `None` when dockerd does not know it.
async fn inspect<T: for<'de> Deserialize<'de>>(id: &str, format: &str) -> Option<T> {
    let output = docker(&["inspect", "--type", "container", "--format", format, id]).await.ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "Id")]
    id: String,
}

#[derive(Deserialize)]
struct Network {
    #[serde(rename = "IPAddress", default)]
    ip_address: String,
    #[serde(rename = "Ports", default)]
    ports: Option<std::collections::HashMap<String, Option<Vec<Binding>>>>,
}

#[derive(Deserialize)]
struct Binding {
    #[serde(rename = "HostIp", default)]
    host_ip: String,
    #[serde(rename = "HostPort", default)]
    host_port: String,
}

impl Network {
    fn host_port(&self, port: u16) -> Option<u16> {
        let bindings = self.ports.as_ref()?.get(&format!("{port}/tcp"))?.as_ref()?;
        bindings
            .iter()
            .find(|b| b.host_ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
            .or(bindings.first())
            .and_then(|b| b.host_port.parse().ok())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct State {
    status: String,
    #[serde(rename = "OOMKilled", default)]
    oom_killed: bool,
    #[serde(default)]
    exit_code: i32,
    #[serde(default)]
    error: String,
    #[serde(default)]
    started_at: String,
}

impl State {
    fn to_kube(&self) -> ContainerState {
        match self.status.as_str() {
            "running" | "paused" | "restarting" => ContainerState::Running {
                started_at: chrono::DateTime::parse_from_rfc3339(&self.started_at)
                    .map(SystemTime::from)
                    .unwrap_or_else(|_| SystemTime::now()),
            },
            "removing" => ContainerState::Missing,
            // Created and never started: its command could not be executed (docker keeps the
            // reason in Error); containerd's kubelet reports that as StartError, code 128.
            "created" => ContainerState::Exited { code: 128, reason: "StartError".to_string() },
            _ => {
                let reason = if self.oom_killed {
                    "OOMKilled"
                } else if self.exit_code == 0 && self.error.is_empty() {
                    "Completed"
                } else {
                    "Error"
                };
                ContainerState::Exited { code: self.exit_code, reason: reason.to_string() }
            }
        }
    }
}

/// `text` as a docker name part: `[a-zA-Z0-9_.-]`, anything else `-`.
fn docker_name(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect()
}

/// The pod's hostname as the kubelet makes it: the pod name, cut to 63 characters and without a
/// trailing `-` or `.`.
fn hostname(pod: &str) -> String {
    let name: String = docker_name(pod).chars().take(63).collect();
    let name = name.trim_end_matches(['-', '.', '_']).replace('_', "-");
    if name.is_empty() { "pod".to_string() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_the_kubelet_words_them() {
        let state = |json: &str| serde_json::from_str::<State>(json).map(|s| s.to_kube()).ok();
        assert_eq!(
            state(r#"{"Status":"exited","ExitCode":0,"OOMKilled":false,"Error":"","StartedAt":"x"}"#),
            Some(ContainerState::Exited { code: 0, reason: "Completed".into() })
        );
        assert_eq!(
            state(r#"{"Status":"exited","ExitCode":3,"OOMKilled":false,"Error":""}"#),
            Some(ContainerState::Exited { code: 3, reason: "Error".into() })
        );
        assert_eq!(
            state(r#"{"Status":"exited","ExitCode":137,"OOMKilled":true,"Error":""}"#),
            Some(ContainerState::Exited { code: 137, reason: "OOMKilled".into() })
        );
        assert_eq!(
            state(r#"{"Status":"created","ExitCode":127,"Error":"exec: \"nope\": not found"}"#),
            Some(ContainerState::Exited { code: 128, reason: "StartError".into() })
        );
        let started = "2026-12-06T21:08:36.645654481Z";
        let expected = SystemTime::UNIX_EPOCH + Duration::new(1_796_591_316, 645_654_481);
        assert_eq!(
            state(&format!(r#"{{"Status":"running","ExitCode":0,"StartedAt":"{started}"}}"#)),
            Some(ContainerState::Running { started_at: expected })
        );
    }

    #[test]
    fn the_published_port_is_read_back() {
        let network: Network = serde_json::from_str(
            r#"{"IPAddress":"172.17.0.2","Ports":{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":"32768"}],"9090/tcp":null}}"#,
        )
        .expect("network settings");
        assert_eq!(network.host_port(8080), Some(32768));
        assert_eq!(network.host_port(9090), None);
        assert_eq!(network.host_port(1), None);
    }

    #[test]
    fn command_replaces_the_entrypoint_and_args_the_default_command() {
        let runtime = PodRuntime { instance: "0123456789abcdef".into(), started: AtomicU64::new(0) };
        let spec = ContainerSpec {
            name: "web".into(),
            image: "img:1".into(),
            command: vec!["sh".into(), "-c".into()],
            args: vec!["echo hi".into()],
            env: vec![("VERSION".into(), "v2".into())],
            port: Some(8080),
        };
        let args = runtime.run_args("n", "pod-a", &spec);
        let tail: Vec<&str> = args.iter().map(String::as_str).skip_while(|a| *a != "--env").collect();
        assert_eq!(
            tail,
            [
                "--env",
                "VERSION=v2",
                "--publish",
                "127.0.0.1::8080",
                "--entrypoint",
                "sh",
                "img:1",
                "-c",
                "echo hi"
            ]
        );
        let args_only = ContainerSpec { command: vec![], port: None, env: vec![], ..spec };
        let args = runtime.run_args("n", "pod-a", &args_only);
        assert_eq!(args[args.len() - 2..], ["img:1".to_string(), "echo hi".to_string()]);
        assert!(!args.contains(&"--entrypoint".to_string()));
    }

    #[test]
    fn hostnames_are_cut_like_the_kubelet_cuts_them() {
        assert_eq!(hostname("web-7d9f-abcde"), "web-7d9f-abcde");
        let long = format!("{}-x", "a".repeat(62));
        assert_eq!(hostname(&long), "a".repeat(62));
        assert_eq!(docker_name("a/b c"), "a-b-c");
    }
}
