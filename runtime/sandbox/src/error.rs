//! Errors of the sandbox: loading a component, and why a task run did not succeed.

use std::time::Duration;

/// Why a component could not be loaded as a sluice plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component (or not a valid one).
    #[error("not a valid WebAssembly component: {0}")]
    InvalidComponent(String),
    /// The component does not export a sluice plugin interface this host serves.
    #[error(
        "the component does not export `{expected}` (it exports: {found}); build it against the sluice:plugin WIT world, e.g. with the `sluice-plugin` crate"
    )]
    UnsupportedAbi {
        /// The interface the host looked for.
        expected: &'static str,
        /// What the component exports, comma-separated.
        found: String,
    },
    /// The component needs imports that the sandbox does not provide.
    #[error("the component cannot be linked: {0}")]
    Link(String),
    /// `describe` trapped, timed out or returned something unusable.
    #[error("the plugin's `describe` failed: {0}")]
    Describe(String),
    /// The on-disk cache of compiled components could not be used.
    #[error("component cache at {path}: {message}")]
    Cache {
        /// The cache directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The engine could not be configured.
    #[error("could not configure the wasmtime engine: {0}")]
    Engine(String),
}

/// Why a task run did not succeed. The first three come from the component itself; the rest
/// are the host's verdicts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The config does not fit the task (reported by the host's schema check or the component).
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// The component needed a capability that was not granted.
    #[error("denied: {0}")]
    Denied(String),
    /// The component ran and reported failure.
    #[error("failed: {0}")]
    Failed(String),
    /// The plugin has no task of that name.
    #[error("plugin `{plugin}` has no task `{task}` (it has: {known})")]
    UnknownTask {
        /// The plugin's name.
        plugin: String,
        /// The task asked for.
        task: String,
        /// The tasks it has, comma-separated.
        known: String,
    },
    /// The run exceeded its wall-clock limit and was stopped.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The component tried to grow its memory past the limit and then failed.
    #[error("memory limit of {limit} bytes exceeded")]
    MemoryLimit {
        /// The limit in bytes.
        limit: usize,
    },
    /// The component tried to add more to its workspace than its disk limit allows.
    #[error(
        "disk limit exceeded: the task tried to grow its workspace by {size} bytes, past its limit of {limit} bytes (raise `limits.disk` if it needs more)"
    )]
    DiskLimit {
        /// The bytes the run tried to add, counting the write that was refused.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The component held more host resources (open files, streams, requests) than allowed.
    #[error(
        "handle limit exceeded: the task held {limit} open files, streams and requests at once, the most one run may hold; close what it no longer uses"
    )]
    HandleLimit {
        /// The limit: entries of the run's resource table.
        limit: usize,
    },
    /// The component exhausted its call stack.
    #[error("stack overflow: the component recursed too deeply")]
    StackOverflow,
    /// An out-of-bounds access under a deep recursion: the stack the component keeps in its
    /// linear memory (Rust's and C's, for large locals) most likely ran out.
    #[error(
        "stack overflow (probably): an out-of-bounds memory access deep in a recursion of `{function}`; the stack in the component's memory likely ran out"
    )]
    ProbableStackOverflow {
        /// The function that recursed, as the component names it.
        function: String,
    },
    /// The component trapped (a panic, `unreachable`, an out-of-bounds access, ...).
    #[error("the component trapped: {0}")]
    Trap(String),
    /// The outputs are larger than the limit.
    #[error("outputs of {size} bytes exceed the limit of {limit} bytes")]
    OutputTooLarge {
        /// Size of the outputs the component returned.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The outputs are larger than the host copies out of a component at all: refused before
    /// any of it was copied, so only a lower bound of the size is known.
    #[error(
        "outputs of more than {at_least} bytes exceed the limit of {limit} bytes (refused before they were copied out)"
    )]
    OutputFarTooLarge {
        /// The size the outputs exceed.
        at_least: usize,
        /// The limit.
        limit: usize,
    },
    /// The outputs are not a JSON object matching the task's output schema.
    #[error("invalid outputs: {0}")]
    InvalidOutput(String),
    /// The workspace could not be prepared.
    #[error("workspace {path}: {message}")]
    Workspace {
        /// The workspace path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The host failed for a reason that is not the component's (e.g. instance pool exhausted).
    #[error("host error: {0}")]
    Host(String),
}

impl RunError {
    /// A stable, machine-readable name of the kind of failure (for stores, APIs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::InvalidConfig(_) => "invalid-config",
            RunError::Denied(_) => "denied",
            RunError::Failed(_) => "failed",
            RunError::UnknownTask { .. } => "unknown-task",
            RunError::Timeout(_) => "timeout",
            RunError::MemoryLimit { .. } => "memory-limit",
            RunError::StackOverflow | RunError::ProbableStackOverflow { .. } => "stack-overflow",
            RunError::DiskLimit { .. } => "disk-limit",
            RunError::HandleLimit { .. } => "handle-limit",
            RunError::Trap(_) => "trap",
            RunError::OutputTooLarge { .. } | RunError::OutputFarTooLarge { .. } => "output-too-large",
            RunError::InvalidOutput(_) => "invalid-output",
            RunError::Workspace { .. } => "workspace",
            RunError::Host(_) => "host",
        }
    }
}
