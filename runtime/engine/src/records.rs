//! The persisted vocabulary of executions: states, task runs, attempts, logs. The machine keeps
//! its state in these types and the store writes them as they are, so what is on disk is exactly
//! what the engine acted on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Wall-clock time, always UTC.
pub type Timestamp = DateTime<Utc>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    Created,
    /// Waiting for a slot under the flow's `concurrency.limit`.
    Queued,
    Running,
    /// Every unfinished branch waits on a `flow.pause`.
    Paused,
    Success,
    /// Finished, but a task with `allowFailure` failed.
    Warning,
    Failed,
    /// A kill was asked for; running tasks are being stopped.
    Killing,
    Killed,
    /// Refused by `concurrency.behavior: cancel`.
    Cancelled,
}

impl ExecutionState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Warning | Self::Failed | Self::Killed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Paused => "PAUSED",
            Self::Success => "SUCCESS",
            Self::Warning => "WARNING",
            Self::Failed => "FAILED",
            Self::Killing => "KILLING",
            Self::Killed => "KILLED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        ALL_EXECUTION_STATES.into_iter().find(|s| s.as_str() == text)
    }
}

pub const ALL_EXECUTION_STATES: [ExecutionState; 10] = [
    ExecutionState::Created,
    ExecutionState::Queued,
    ExecutionState::Running,
    ExecutionState::Paused,
    ExecutionState::Success,
    ExecutionState::Warning,
    ExecutionState::Failed,
    ExecutionState::Killing,
    ExecutionState::Killed,
    ExecutionState::Cancelled,
];

impl std::fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskRunState {
    Created,
    Running,
    Success,
    /// Failed with `allowFailure`, or a control-flow task with such a child.
    Warning,
    Failed,
    /// Waiting for the next attempt's backoff to elapse.
    Retrying,
    /// `runIf` was falsy, the task is `disabled`, or its branch was not taken.
    Skipped,
    Killed,
}

impl TaskRunState {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Warning | Self::Failed | Self::Skipped | Self::Killed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Warning => "WARNING",
            Self::Failed => "FAILED",
            Self::Retrying => "RETRYING",
            Self::Skipped => "SKIPPED",
            Self::Killed => "KILLED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        ALL_TASK_RUN_STATES.into_iter().find(|s| s.as_str() == text)
    }
}

pub const ALL_TASK_RUN_STATES: [TaskRunState; 8] = [
    TaskRunState::Created,
    TaskRunState::Running,
    TaskRunState::Success,
    TaskRunState::Warning,
    TaskRunState::Failed,
    TaskRunState::Retrying,
    TaskRunState::Skipped,
    TaskRunState::Killed,
];

impl std::fmt::Display for TaskRunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names one task run within an execution: the task's id plus, inside `flow.forEach` bodies,
/// the iteration index at each enclosing loop. Written `build`, `test[2]`, `step[1][0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct TaskRunKey {
    pub task: String,
    pub iterations: Vec<u32>,
}

impl TaskRunKey {
    pub fn new(task: impl Into<String>) -> Self {
        Self { task: task.into(), iterations: Vec::new() }
    }

    pub fn in_iteration(task: impl Into<String>, iterations: Vec<u32>) -> Self {
        Self { task: task.into(), iterations }
    }
}

impl std::fmt::Display for TaskRunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.task)?;
        for i in &self.iterations {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

impl From<TaskRunKey> for String {
    fn from(key: TaskRunKey) -> String {
        key.to_string()
    }
}

impl TryFrom<String> for TaskRunKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl std::str::FromStr for TaskRunKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a task run key (expected `task` or `task[0][1]`)");
        let (task, mut rest) = match text.find('[') {
            Some(at) => (&text[..at], &text[at..]),
            None => (text, ""),
        };
        if task.is_empty() {
            return Err(bad());
        }
        let mut iterations = Vec::new();
        while !rest.is_empty() {
            let close = rest.find(']').ok_or_else(bad)?;
            if !rest.starts_with('[') {
                return Err(bad());
            }
            iterations.push(rest[1..close].parse().map_err(|_| bad())?);
            rest = &rest[close + 1..];
        }
        Ok(Self { task: task.to_owned(), iterations })
    }
}

/// One try of a runnable task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    pub state: TaskRunState,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub error: Option<String>,
}

/// One run of one task (per forEach iteration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    pub key: TaskRunKey,
    /// The enclosing control-flow task's run, if any.
    pub parent: Option<TaskRunKey>,
    pub state: TaskRunState,
    pub attempts: Vec<Attempt>,
    /// The task's outputs once it succeeded (plugin outputs, a subflow's outputs, a pause's
    /// resume inputs). Never contains rendered secrets: plugins' outputs are redacted.
    pub outputs: Option<serde_json::Value>,
    /// Why it failed, was skipped or killed, in words for people.
    pub error: Option<String>,
    /// `flow.forEach`: the value of this iteration (on the body's task runs).
    pub value: Option<serde_json::Value>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

/// One execution of one flow revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// A UUID v7 (time-ordered).
    pub id: String,
    pub namespace: String,
    pub flow_id: String,
    /// The flow revision this execution is pinned to.
    pub revision: u32,
    pub state: ExecutionState,
    /// Checked and typed inputs; `secret` inputs are stored as `"******"`.
    pub inputs: serde_json::Value,
    /// Rendered flow outputs, once finished.
    pub outputs: Option<serde_json::Value>,
    /// Why the execution failed, in words for people.
    pub error: Option<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Set when started by a `flow.subflow` task: `(execution id, task run key)`.
    pub parent: Option<(String, TaskRunKey)>,
    /// What started it (`{"type": "cli"}`, a webhook's body...), for `trigger.*` in templates.
    pub trigger: Option<serde_json::Value>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

impl ExecutionRecord {
    /// An execution of `namespace.flow_id` at `revision`, CREATED at `created_at`, with no
    /// inputs, labels, parent or trigger yet; the fields are public to set the rest.
    pub fn new(
        id: &str,
        namespace: &str,
        flow_id: &str,
        revision: u32,
        created_at: Timestamp,
    ) -> ExecutionRecord {
        ExecutionRecord {
            id: id.to_owned(),
            namespace: namespace.to_owned(),
            flow_id: flow_id.to_owned(),
            revision,
            state: ExecutionState::Created,
            inputs: serde_json::json!({}),
            outputs: None,
            error: None,
            labels: std::collections::BTreeMap::new(),
            parent: None,
            trigger: None,
            created_at,
            started_at: None,
            ended_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub execution_id: String,
    /// None for execution-level lines (the engine's own).
    pub task_run: Option<TaskRunKey>,
    pub attempt: Option<u32>,
    pub time: Timestamp,
    /// `TRACE`..`ERROR`.
    pub level: String,
    /// `plugin`, `stdout`, `stderr`, `host`, `engine`.
    pub source: String,
    /// Already redacted.
    pub message: String,
}

/// A stored flow revision. Every change of a flow's YAML text makes a new revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowRevision {
    pub namespace: String,
    pub id: String,
    /// 1-based.
    pub revision: u32,
    pub source: String,
    pub created_at: Timestamp,
    pub deleted: bool,
}
