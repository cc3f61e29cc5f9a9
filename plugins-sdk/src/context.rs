//! The execution a task runs in, through the host's `context` interface: which flow, how it is
//! going, what failed and where to look. A notification's default message is made of it.
//!
//! ```no_run
//! if let Some(execution) = sluice_plugin::context::execution() {
//!     sluice_plugin::info!("{}.{} is {}", execution.namespace, execution.flow_id, execution.outcome);
//!     for failed in &execution.failed_tasks {
//!         sluice_plugin::info!("{} failed: {}", failed.task_run_id, failed.error.as_deref().unwrap_or("?"));
//!     }
//! }
//! ```
//!
//! Secret values the host knows of are already replaced by `******`. Outside an execution (a
//! host running the task alone, or host unit tests of a plugin) there is none.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The execution, as the host describes it when the task run starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Execution {
    /// The execution's id (a UUID).
    pub execution_id: String,
    /// The flow's id.
    pub flow_id: String,
    /// The flow's namespace.
    pub namespace: String,
    /// The flow revision the execution runs.
    pub revision: u32,
    /// The execution's state now: `RUNNING` while tasks run (also in `errors` and `finally`).
    pub state: String,
    /// How it ends if nothing else fails: `FAILED` once a task failed, else `WARNING` or
    /// `SUCCESS` (`KILLED` while it is being killed).
    pub outcome: String,
    /// The first cause of the failure (`task `build` failed: ...`), if there is one.
    pub error: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// How long it has run so far, in milliseconds.
    pub duration_ms: u64,
    /// The task run asking (`alert`, `step[2]` inside a `flow.forEach`).
    pub task_run_id: String,
    /// This attempt's timeout in milliseconds: the host stops the run that long after it
    /// started. See [`Execution::deadline`].
    pub timeout_ms: Option<u64>,
    /// The execution's labels.
    pub labels: BTreeMap<String, String>,
    /// The task runs that ended FAILED so far, in the order they were created (a group that
    /// failed because of a child is left out: the child says why).
    pub failed_tasks: Vec<FailedTask>,
    /// The execution's page (`https://sluice.example.com/executions/<id>`) when the server knows
    /// its public URL; None under `sluice run`.
    pub url: Option<String>,
}

/// A task run that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FailedTask {
    /// The task run (`build`, `test[1]`).
    pub task_run_id: String,
    /// The task's id.
    pub task_id: String,
    /// The task's type (`core.http`, `flow.fail`).
    #[serde(rename = "type")]
    pub task_type: Option<String>,
    /// Its state (`FAILED`).
    pub state: String,
    /// How many attempts it made.
    pub attempts: u32,
    /// Why it failed.
    pub error: Option<String>,
}

impl Execution {
    /// Parses the host's document (the JSON of the `context` interface).
    pub fn from_json(text: &str) -> Result<Execution, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// When the host stops this run, counted from `started` (take `Instant::now()` when the
    /// task starts: the run began a moment earlier, so stop waiting a little before it).
    pub fn deadline(&self, started: std::time::Instant) -> Option<std::time::Instant> {
        self.timeout_ms.map(|ms| started + std::time::Duration::from_millis(ms))
    }

    /// The duration so far in words: `850 ms`, `42 s`, `3 min 5 s`, `2 h 1 min`.
    pub fn duration_text(&self) -> String {
        let ms = self.duration_ms;
        let s = ms / 1000;
        match s {
            0 => format!("{ms} ms"),
            1..60 => format!("{s} s"),
            60..3600 => format!("{} min {} s", s / 60, s % 60),
            _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
        }
    }
}

/// The execution this task run belongs to, or None outside one. A document the host sent but
/// this SDK cannot read is None too (and logged as a warning).
pub fn execution() -> Option<Execution> {
    let text = raw()?;
    match Execution::from_json(&text) {
        Ok(execution) => Some(execution),
        Err(err) => {
            crate::warn!("the host's execution context could not be read: {err}");
            None
        }
    }
}

/// The host's document as JSON text, or None outside an execution.
#[cfg(target_os = "wasi")]
pub fn raw() -> Option<String> {
    crate::bindings::sluice::plugin::context::execution()
}

/// The host's document as JSON text: outside a component there is no host, so None.
#[cfg(not(target_os = "wasi"))]
pub fn raw() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_hosts_document() {
        let text = r#"{"executionId":"e1","flowId":"deploy","namespace":"shop","revision":3,
            "state":"RUNNING","outcome":"FAILED","error":"task `build` failed: exit 2",
            "startedAt":"2026-12-06T10:00:00+00:00","durationMs":65000,"taskRunId":"alert",
            "timeoutMs":60000,"labels":{"team":"web"},"failedTasks":[{"taskRunId":"build","taskId":"build",
            "type":"core.fail","state":"FAILED","attempts":2,"error":"exit 2"}],"url":null,
            "later":"ignored"}"#;
        let execution = Execution::from_json(text).expect("parses");
        assert_eq!(execution.flow_id, "deploy");
        assert_eq!(execution.failed_tasks[0].task_type.as_deref(), Some("core.fail"));
        assert_eq!(execution.failed_tasks[0].attempts, 2);
        assert_eq!(execution.duration_text(), "1 min 5 s");
        assert_eq!(execution.url, None);
        let now = std::time::Instant::now();
        assert_eq!(execution.deadline(now), Some(now + std::time::Duration::from_secs(60)));
    }

    #[test]
    fn durations_in_words() {
        let at = |duration_ms| Execution { duration_ms, ..Execution::default() }.duration_text();
        assert_eq!(at(850), "850 ms");
        assert_eq!(at(42_000), "42 s");
        assert_eq!(at(7_260_000), "2 h 1 min");
    }
}
