//! What a task run may touch, one module per capability, each owning its grant, its checks and
//! its host side: `workspace` (files, the executable bit, the disk limit), `env`, `secrets`
//! (redaction), `network` (HTTP to granted origins), `tls` (the CA certificates and client
//! certificate HTTPS to a granted origin uses), `tcp` (raw TCP, with TLS, to a granted
//! destination: SMTP), `docker` (the Engine API through the host), `cleanup` (HTTP requests the
//! host sends if the run is stopped),
//! `logs` (the `log` import, stdout and stderr) and `context` (what the run is told about its
//! execution). [`link`] and [`for_task`] assemble them:
//! a new capability is one module and one line in each.
//!
//! Deny by default: an empty [`Grants`] lets a component read and write its workspace, read the
//! clocks and random, and nothing else.

pub(crate) mod cleanup;
pub(crate) mod context;
pub(crate) mod docker;
pub(crate) mod env;
pub(crate) mod logs;
pub(crate) mod network;
pub(crate) mod secrets;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod workspace;

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtx;

use crate::limits::Limits;
use crate::state::RunState;
use docker::DockerEndpoint;
use logs::{LogPipe, LogSink};
use network::{NetworkPolicy, OriginPattern};
use tls::OriginTrust;

/// The capabilities granted to one task run.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Origins the task may send HTTP requests to, and the TCP destinations (`smtp://`,
    /// `smtps://`, `tcp://`) it may open; see `capabilities::tcp`.
    pub network: Vec<OriginPattern>,
    /// Environment variables visible to the component, as (name, value).
    pub env: Vec<(String, String)>,
    /// Values that must never appear in logs (resolved secrets); see `secrets`.
    pub redact: Vec<String>,
    /// The Docker Engine API, through the host's route to the configured daemon.
    pub docker: bool,
}

/// Links the host side of every capability (WASI's clocks, random and stdio come with the
/// filesystem in wasmtime-wasi's own linker set; sockets are linked but no run is granted any).
pub(crate) fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    network::link(linker)?;
    logs::link(linker)?;
    workspace::link(linker)?;
    tls::link(linker)?;
    tcp::link(linker)?;
    cleanup::link(linker)?;
    context::link(linker)?;
    Ok(())
}

/// A run's host state from its grants: the workspace preopened read-write, granted env vars
/// only, no sockets, HTTP only to granted origins (and Docker when granted), stdout and stderr
/// into the redacted, capped log, and the execution's document (secrets redacted) for `context`.
pub(crate) fn for_task(
    workspace: &Path,
    grants: &Grants,
    execution: Option<&serde_json::Value>,
    docker_endpoint: &Arc<DockerEndpoint>,
    limits: &Limits,
    sink: Arc<dyn LogSink>,
) -> std::io::Result<RunState> {
    let log = LogPipe::new(sink, &grants.redact, limits.log_bytes);
    let mut wasi = WasiCtx::builder();
    workspace::grant(&mut wasi, workspace)?;
    env::grant(&mut wasi, &grants.env);
    logs::grant(&mut wasi, &log);
    // Empty at the start of every run: trust set by the component lasts only for its run.
    let trust = OriginTrust::default();
    let mut network = NetworkPolicy::new(grants.network.clone(), log.clone(), trust.clone());
    if grants.docker {
        network = network.with_docker(docker_endpoint.clone());
    }
    let mut state = RunState::new(wasi.build(), network, trust, log, limits.memory_bytes);
    state.table().set_max_capacity(limits.open_handles);
    state.disk = workspace::DiskBudget::new(limits.disk_bytes);
    state.workspace = Some(workspace::LazyDir::new(workspace));
    state.tcp = tcp::TcpPolicy::new(grants.network.clone(), state.log.clone(), state.network.denied.clone());
    state.execution = context::document(execution, &grants.redact);
    Ok(state)
}

/// State for `describe`: no directory, no env, no network (so no origin to set TLS trust for).
pub(crate) fn for_describe(memory_bytes: usize, sink: Arc<dyn LogSink>) -> RunState {
    let log = LogPipe::new(sink, &[], 64 << 10);
    let mut wasi = WasiCtx::builder();
    logs::grant(&mut wasi, &log);
    let trust = OriginTrust::default();
    let network = NetworkPolicy::new(Vec::new(), log.clone(), trust.clone());
    let mut state = RunState::new(wasi.build(), network, trust, log, memory_bytes);
    state.table().set_max_capacity(Limits::default().open_handles);
    state
}
