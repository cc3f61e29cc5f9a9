//! The sluice sandbox: runs task components in wasmtime with only what each run is granted.
//!
//! ```text
//! Sandbox::new(config)          one per process: engine, linker, epoch ticker, component cache
//!   .load(bytes) -> Plugin      compile (or read the cache), link once, describe
//!   .run(&plugin, RunRequest)   fresh store + instance, limits armed -> RunReport
//! ```
//!
//! Deny by default: a run sees its workspace (as `/workspace`), the clocks and random, the env
//! vars and network origins in its [`Grants`], the Docker Engine when granted `docker` (through
//! the host, at [`DOCKER_ORIGIN`]), and nothing else. The `workspace` host interface sets and
//! reads the executable bit of regular files in the workspace (WASI 0.2 cannot), never through a
//! symlink. The `tls` host interface lets a run trust its own CA certificates and present a
//! client certificate for HTTPS to one granted origin (a cluster's API server), for that run only.
//! The `tcp` host interface opens raw TCP (TLS done by the host) to a destination granted as
//! `smtp://`, `smtps://` or `tcp://host:port`, for protocols that are not HTTP (SMTP).
//! The `context` host interface tells a run about the execution it belongs to
//! ([`RunRequest::execution`], the run's secrets redacted), for tasks that report on it.

mod bindings;
mod cache;
mod capabilities;
mod error;
mod limits;
mod plugin;
mod run;
mod sandbox;
mod state;
mod stats;

pub use cache::CompiledFrom;
pub use capabilities::Grants;
pub use capabilities::docker::{
    DEFAULT_DOCKER_HOST, DOCKER_AUTHORITY, DOCKER_DENIED_HEADER, DOCKER_ORIGIN, DockerEndpoint,
    DockerEndpointError,
};
pub use capabilities::logs::{CollectLogs, DiscardLogs, LogLevel, LogLine, LogSink, LogSource};
pub use capabilities::network::{OriginPattern, OriginPatternError};
pub use capabilities::secrets::Redactor;
pub use capabilities::workspace::GUEST_WORKSPACE;
pub use error::{LoadError, RunError};
pub use limits::Limits;
pub use plugin::{Capability, Digest, Plugin, PluginInfo, TaskInfo};
pub use run::{RunReport, RunRequest};
pub use sandbox::{Sandbox, SandboxConfig};
pub use stats::{INSTANTIATION_BUCKETS, InstantiationStats};
