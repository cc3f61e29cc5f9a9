//! The double's pod runtime: every Pod container is a real container on the test's dockerd, and
//! every Service a TCP proxy on 127.0.0.1 in front of its ready pods, so a test's HTTP checks
//! and canary weights are real traffic to real processes.
//!
//! - [`PodRuntime`] (docker.rs) drives dockerd through the `docker` CLI: `start` runs a
//!   [`ContainerSpec`] (image, command, args, env, one published port), `state`, `stop`,
//!   `remove`; logs read whole or followed (logs.rs); [`PodRuntime::probe`] (probe.rs) answers
//!   one readiness probe.
//! - [`ServiceProxy`] (proxy.rs) forwards each accepted connection to one backend picked by
//!   weight (smooth weighted round-robin). The pick is per TCP connection, as kube-proxy's: a
//!   client reusing a connection keeps its backend, so tests counting per backend send each
//!   request on a fresh connection or with `Connection: close`.
//! - [`images::web_image`] (images.rs) builds the tiny test web server image (blocking, once).
//!
//! Left out: image pulls (no registry is reachable: a missing image fails `start` with
//! [`StartError::ImageNotPresent`]), cluster networking (pods reach each other only by their
//! IPs on docker's bridge, with no cluster DNS; a Service's proxy on the host's 127.0.0.1 is out
//! of a pod's reach), restart policies (the double restarts by starting a new container),
//! resource limits, volumes.
//!
//! Changes from the first sketch of this interface, for the double's author:
//! - `start` answers `Result<Container, StartError>`: the double tells a missing image
//!   (ErrImagePull) from other failures by the variant, not by the text; `?` into anyhow works
//!   as before. A command that cannot be executed is not an error of `start`: the container
//!   exists and its [`ContainerState`] is `Exited { code: 128, reason: "StartError" }`, as on a
//!   real cluster.
//! - Added: [`PodRuntime::stop`] (SIGTERM, then SIGKILL after a grace period, for a graceful
//!   pod deletion), [`PodRuntime::logs_with`] ([`LogOptions`]: timestamps too) and
//!   [`PodRuntime::follow_logs`] (a [`LogStream`] for `follow=true`), [`ServiceProxy::bind_to`]
//!   (a fixed port) and [`ServiceProxy::backends`].
//! - [`Container`] also carries the container's own IP and port: probes go to the container's IP
//!   as the kubelet's go to the pod IP (a published port always accepts, through docker-proxy,
//!   even with nothing listening behind it, so a TCP probe through it would always pass).

mod docker;
pub mod images;
mod logs;
mod probe;
mod proxy;

use std::net::IpAddr;
use std::time::SystemTime;

pub use docker::PodRuntime;
pub use logs::{LogOptions, LogStream};
pub use proxy::ServiceProxy;

/// The label every container of a [`PodRuntime`] carries, with the runtime's instance id.
pub const INSTANCE_LABEL: &str = "kube-double";

/// One container of a Pod, resolved by the double (named ports, env values, defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The container's name in the pod.
    pub name: String,
    /// A local image reference; nothing is ever pulled.
    pub image: String,
    /// Kubernetes `command`: replaces the image's entrypoint (and its default command).
    pub command: Vec<String>,
    /// Kubernetes `args`: replaces the image's default command.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The container port published on 127.0.0.1 (a random host port).
    pub port: Option<u16>,
}

/// A readiness (or liveness) probe, with ports already resolved to numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// GET `path` on the container's `port`; 200..400 passes.
    Http { path: String, port: u16 },
    /// A TCP connection to the container's `port` is accepted.
    Tcp { port: u16 },
    /// `command` run in the container exits 0.
    Exec { command: Vec<String> },
}

/// A started container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Docker's container id.
    pub id: String,
    /// The host port on 127.0.0.1 that `spec.port` is published on; `None` without a port or
    /// when the container was no longer running once started (ports exist while it runs).
    pub host_port: Option<u16>,
    /// The container's address on docker's bridge, reachable from the host.
    pub ip: Option<IpAddr>,
    /// `spec.port`, the container port behind `host_port`.
    pub port: Option<u16>,
}

/// What dockerd says of a container, in the kubelet's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Running {
        started_at: SystemTime,
    },
    /// `reason` as Kubernetes words it: `Completed` (code 0), `Error`, `OOMKilled`, or
    /// `StartError` (the command could not be executed; code 128).
    Exited {
        code: i32,
        reason: String,
    },
    /// Removed, or never known to dockerd.
    Missing,
}

/// Why [`PodRuntime::start`] started nothing.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The image is not on the test's dockerd; pulls are impossible here (no registry).
    #[error(
        "image {image:?} is not present on the test's dockerd and cannot be pulled (no registry \
         is reachable here): build or load it first (images::web_image builds the test web image)"
    )]
    ImageNotPresent { image: String },
    /// dockerd refused the container, or the docker CLI failed.
    #[error("docker could not start container {container:?} of pod {pod:?}: {message}")]
    Docker { pod: String, container: String, message: String },
}

impl StartError {
    /// The reason the kubelet would show on the container's waiting state.
    pub fn reason(&self) -> &'static str {
        match self {
            StartError::ImageNotPresent { .. } => "ErrImagePull",
            StartError::Docker { .. } => "CreateContainerError",
        }
    }
}
