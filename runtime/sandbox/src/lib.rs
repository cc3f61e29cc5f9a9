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
//! symlink.

mod bindings;
mod body;
mod cache;
mod disk;
mod docker;
mod error;
mod grants;
mod http;
mod limits;
mod logs;
mod plugin;
mod run;
mod sandbox;
mod state;
mod stats;
mod workspace_host;

pub use cache::CompiledFrom;
pub use docker::{
    DEFAULT_DOCKER_HOST, DOCKER_AUTHORITY, DOCKER_DENIED_HEADER, DOCKER_ORIGIN, DockerEndpoint,
    DockerEndpointError,
};
pub use error::{LoadError, RunError};
pub use grants::{Grants, OriginPattern, OriginPatternError};
pub use limits::Limits;
pub use logs::{CollectLogs, DiscardLogs, LogLevel, LogLine, LogSink, LogSource};
pub use plugin::{Capability, Digest, Plugin, PluginInfo, TaskInfo};
pub use run::{RunReport, RunRequest};
pub use sandbox::{Sandbox, SandboxConfig};
pub use state::GUEST_WORKSPACE;
pub use stats::{INSTANTIATION_BUCKETS, InstantiationStats};
