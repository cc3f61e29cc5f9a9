//! [`TaskError`]: how a task run ends when it does not succeed.

use std::fmt;

use crate::bindings::sluice::plugin::types::TaskError as WitTaskError;

/// Why a task did not succeed; the three cases the host tells apart (see `task-error` in the WIT).
///
/// The message is what the flow author reads, so say what went wrong and what would fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The config does not fit the task: say which field and why.
    InvalidConfig(String),
    /// The task needed a capability that was not granted: say which.
    Denied(String),
    /// The task ran and failed: say why.
    Failed(String),
}

impl TaskError {
    /// The config does not fit the task.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::InvalidConfig(message.into())
    }

    /// A capability the task needed was not granted.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied(message.into())
    }

    /// The task ran and failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidConfig(m) | Self::Denied(m) | Self::Failed(m) => m,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig(m) => write!(f, "invalid config: {m}"),
            Self::Denied(m) => write!(f, "denied: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for TaskError {}

/// Filesystem and other I/O errors fail the task, so `?` works on `std::fs` calls.
impl From<std::io::Error> for TaskError {
    fn from(err: std::io::Error) -> Self {
        Self::Failed(err.to_string())
    }
}

impl From<TaskError> for WitTaskError {
    fn from(err: TaskError) -> Self {
        match err {
            TaskError::InvalidConfig(m) => Self::InvalidConfig(m),
            TaskError::Denied(m) => Self::Denied(m),
            TaskError::Failed(m) => Self::Failed(m),
        }
    }
}

impl From<WitTaskError> for TaskError {
    fn from(err: WitTaskError) -> Self {
        match err {
            WitTaskError::InvalidConfig(m) => Self::InvalidConfig(m),
            WitTaskError::Denied(m) => Self::Denied(m),
            WitTaskError::Failed(m) => Self::Failed(m),
        }
    }
}
