//! The typed flow: what a YAML flow file means once parsed. Every task keeps the JSON pointer of
//! its node (`/tasks/2/then/0`) so later stages can point back at the file's line and column
//! through the parse's [`crate::SourceMap`].
//!
//! Templated fields stay strings here; they are rendered at run time (see `template`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A JSON pointer (RFC 6901) into the flow document, e.g. `/tasks/2/then/0/id`.
pub type Pointer = String;

/// A whole flow file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub id: String,
    /// Dotted, e.g. `company.team`.
    pub namespace: String,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub inputs: Vec<Input>,
    /// `vars.<name>` in templates; values may themselves contain templates (strings).
    pub variables: BTreeMap<String, serde_json::Value>,
    pub tasks: Vec<Task>,
    /// Run when the main tasks fail, before `finally`.
    pub errors: Vec<Task>,
    /// Always run, after everything else.
    pub finally: Vec<Task>,
    /// Flow outputs: name -> templated value, rendered when the flow ends.
    pub outputs: BTreeMap<String, serde_json::Value>,
    pub triggers: Vec<Trigger>,
    pub concurrency: Option<Concurrency>,
    /// The whole execution's deadline; tasks still running then are killed.
    #[serde(with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Retry policy for every task that sets none of its own.
    pub retry: Option<Retry>,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: InputType,
    pub description: Option<String>,
    /// Defaults to true unless a `default` is given.
    pub required: bool,
    pub default: Option<serde_json::Value>,
    /// `select`: the allowed values.
    pub values: Vec<String>,
    /// `string` (and `secret`): a regular expression the whole value must match.
    pub pattern: Option<String>,
    /// `int`/`float`: bounds of the value; `string`/`array`: bounds of the length.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `array`: the type of each item (default `string`).
    pub item_type: Option<InputType>,
    pub pointer: Pointer,
}

impl Input {
    /// A required input of `kind` with no default, description or constraints.
    pub fn new(id: &str, kind: InputType, pointer: &str) -> Input {
        Input {
            id: id.to_owned(),
            kind,
            description: None,
            required: true,
            default: None,
            values: Vec::new(),
            pattern: None,
            min: None,
            max: None,
            item_type: None,
            pointer: pointer.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Int,
    Float,
    Bool,
    Select,
    Json,
    /// A string that is redacted from logs and never persisted.
    Secret,
    /// A path to a file; the file is copied into the execution's workspace.
    File,
    /// RFC 3339.
    Datetime,
    /// `30s`, `5m`, `1h30m` or ISO 8601 `PT30S`.
    Duration,
    Array,
}

/// One entry of a `tasks`, `then`, `else`, `cases`, `errors` or `finally` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Unique across the whole flow (so `outputs.<id>` is unambiguous).
    pub id: String,
    pub description: Option<String>,
    pub kind: TaskKind,
    #[serde(with = "opt_duration")]
    pub timeout: Option<Duration>,
    pub retry: Option<Retry>,
    /// A failure of this task makes the execution WARNING instead of FAILED.
    pub allow_failure: bool,
    /// A template; the task is SKIPPED when it renders falsy.
    pub run_if: Option<String>,
    pub disabled: bool,
    /// Ids of sibling tasks (same list) this task waits for. Without it, a task in a sequential
    /// list waits for the task before it, and a task in a parallel list waits for nothing.
    pub depends_on: Vec<String>,
    pub allow: Allow,
    pub limits: TaskLimits,
    /// What a worker must be tagged with (`sluice worker --tags`) to run the task, as in
    /// `[docker]`: the execution goes to a worker holding every tag its tasks ask for.
    pub worker_tags: Vec<String>,
    pub pointer: Pointer,
}

impl Task {
    /// A task with only an id, a kind and its place in the file: no grants, limits, retry,
    /// timeout, condition or dependencies (what a flow gets when it says nothing else).
    pub fn new(id: &str, kind: TaskKind, pointer: &str) -> Task {
        Task {
            id: id.to_owned(),
            description: None,
            kind,
            timeout: None,
            retry: None,
            allow_failure: false,
            run_if: None,
            disabled: false,
            depends_on: Vec::new(),
            allow: Allow::default(),
            limits: TaskLimits::default(),
            worker_tags: Vec::new(),
            pointer: pointer.to_owned(),
        }
    }
}

/// What a task does: run a plugin's component, or one of the native control-flow tasks
/// (`type: flow.<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskKind {
    /// `type: <plugin>.<task>[@sha256:<hex>]`; every other key is the plugin's config.
    Plugin { task_type: TaskType, config: serde_json::Map<String, serde_json::Value> },
    /// `flow.sequential`: children one after another.
    Sequential { tasks: Vec<Task> },
    /// `flow.parallel`: children at once, at most `concurrency` at a time (0 = unbounded).
    Parallel { tasks: Vec<Task>, concurrency: u32 },
    /// `flow.if`: `condition` is a template; truthy runs `then`, else `else`.
    If { condition: String, then: Vec<Task>, otherwise: Vec<Task> },
    /// `flow.switch`: `value` is a template; the matching case runs, else `default`.
    Switch { value: String, cases: BTreeMap<String, Vec<Task>>, default: Vec<Task> },
    /// `flow.forEach`: `values` is a list or a template rendering to a (JSON) list; `tasks` run
    /// once per value (sequentially inside an iteration), `concurrency` iterations at a time
    /// (default 1; 0 = unbounded).
    ForEach { values: serde_json::Value, concurrency: u32, tasks: Vec<Task> },
    /// `flow.subflow`: start another flow; with `wait` (default), its outputs become this task's.
    Subflow {
        namespace: String,
        flow_id: String,
        inputs: serde_json::Map<String, serde_json::Value>,
        wait: bool,
    },
    /// `flow.pause`: wait for a resume (with typed `onResume` inputs) or the timeout.
    Pause {
        #[serde(with = "opt_duration")]
        timeout: Option<Duration>,
        on_resume: Vec<Input>,
    },
    /// `flow.sleep`: wait `duration` (a duration, or a template rendering to one).
    Sleep { duration: String },
    /// `flow.fail`: fail with a (templated) message.
    Fail { message: String },
}

/// `<plugin>.<task>`, optionally pinned: `core.log@sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskType {
    pub plugin: String,
    pub task: String,
    /// Hex sha256 of the plugin's component, when pinned.
    pub digest: Option<String>,
}

impl std::fmt::Display for TaskType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.plugin, self.task)?;
        if let Some(digest) = &self.digest {
            write!(f, "@sha256:{digest}")?;
        }
        Ok(())
    }
}

/// The prefix of the host environment variables that hold secrets (`secret('TOKEN')` reads
/// `SLUICE_SECRET_TOKEN`); they are granted through `allow.secrets`, never `allow.env`.
pub const SECRET_ENV_PREFIX: &str = "SLUICE_SECRET_";

/// Capability grants (`allow:`). Deny by default: a task gets only what is listed here plus the
/// network origins its plugin derives from its own config (e.g. `core.http`'s `url`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allow {
    /// Origin patterns: `https://api.example.com`, `https://*.example.com:8443`.
    pub network: Vec<String>,
    /// The Docker Engine, through the host's configured endpoint.
    pub docker: bool,
    /// Host environment variable names passed through.
    pub env: Vec<String>,
    /// Secret names this task may reference with `secret('NAME')`.
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLimits {
    /// Linear-memory cap in bytes (`256MiB`).
    pub memory: Option<u64>,
    /// Output JSON cap in bytes.
    pub output: Option<u64>,
    /// Log cap in bytes.
    pub log: Option<u64>,
    /// Bytes one run may add to its workspace (files it creates or grows).
    pub disk: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retry {
    pub kind: RetryKind,
    /// Total attempts, the first included (so 1 = no retry).
    pub max_attempts: u32,
    /// Constant: the wait. Exponential: the first wait. Random: the lower bound.
    #[serde(with = "humantime_serde_duration")]
    pub interval: Duration,
    /// Exponential: cap on one wait. Random: the upper bound.
    #[serde(with = "opt_duration")]
    pub max_interval: Option<Duration>,
    /// No new attempt starts after this long since the first attempt started.
    #[serde(with = "opt_duration")]
    pub max_duration: Option<Duration>,
    /// Exponential: the growth factor (default 2).
    pub factor: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetryKind {
    Constant,
    Exponential,
    Random,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concurrency {
    /// Running executions of this flow at once.
    pub limit: u32,
    pub behavior: ConcurrencyBehavior,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConcurrencyBehavior {
    /// Wait in QUEUED until a slot frees.
    Queue,
    /// The new execution is CANCELLED.
    Cancel,
    /// The new execution is FAILED.
    Fail,
}

/// Parsed and validated here, served by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub id: String,
    pub description: Option<String>,
    pub disabled: bool,
    pub kind: TriggerKind,
    /// Inputs for the executions this trigger starts (templated with `trigger.*`).
    pub inputs: serde_json::Map<String, serde_json::Value>,
    pub pointer: Pointer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TriggerKind {
    /// `type: schedule`.
    Schedule {
        /// Five fields, or six with seconds first.
        cron: String,
        /// IANA name; UTC when absent.
        timezone: Option<String>,
        recover_missed: RecoverMissed,
    },
    /// `type: webhook`: `POST|GET /api/v1/webhooks/{namespace}/{flowId}/{key}`.
    Webhook { key: String, signature: Option<WebhookSignature> },
    /// `type: flow`: start when another flow's execution ends in one of `states`.
    Flow { namespace: String, flow_id: String, states: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecoverMissed {
    All,
    Last,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookSignature {
    /// `X-Hub-Signature-256: sha256=<hmac>`; `secret` names the secret holding the key.
    Github { secret: String },
    /// `X-Gitlab-Token: <token>`; `secret` names the secret holding the token.
    Gitlab { secret: String },
}

impl Task {
    /// The child task lists of a control-flow task, in declaration order (for walks).
    pub fn children(&self) -> Vec<&[Task]> {
        match &self.kind {
            TaskKind::Sequential { tasks }
            | TaskKind::Parallel { tasks, .. }
            | TaskKind::ForEach { tasks, .. } => {
                vec![tasks]
            }
            TaskKind::If { then, otherwise, .. } => vec![then, otherwise],
            TaskKind::Switch { cases, default, .. } => {
                let mut lists: Vec<&[Task]> = cases.values().map(Vec::as_slice).collect();
                lists.push(default);
                lists
            }
            TaskKind::Plugin { .. }
            | TaskKind::Subflow { .. }
            | TaskKind::Pause { .. }
            | TaskKind::Sleep { .. }
            | TaskKind::Fail { .. } => Vec::new(),
        }
    }

    /// The `type:` of this task as written in YAML (`flow.parallel`, `core.log`).
    pub fn type_name(&self) -> String {
        match &self.kind {
            TaskKind::Plugin { task_type, .. } => task_type.to_string(),
            TaskKind::Sequential { .. } => "flow.sequential".into(),
            TaskKind::Parallel { .. } => "flow.parallel".into(),
            TaskKind::If { .. } => "flow.if".into(),
            TaskKind::Switch { .. } => "flow.switch".into(),
            TaskKind::ForEach { .. } => "flow.forEach".into(),
            TaskKind::Subflow { .. } => "flow.subflow".into(),
            TaskKind::Pause { .. } => "flow.pause".into(),
            TaskKind::Sleep { .. } => "flow.sleep".into(),
            TaskKind::Fail { .. } => "flow.fail".into(),
        }
    }
}

impl Flow {
    /// The worker tags its tasks ask for, sorted, each once: a node runs the execution only
    /// if it holds them all.
    pub fn worker_tags(&self) -> Vec<String> {
        let tags: std::collections::BTreeSet<&String> =
            self.all_tasks().into_iter().flat_map(|t| &t.worker_tags).collect();
        tags.into_iter().cloned().collect()
    }

    /// Every task of the flow, depth first, main tasks then `errors` then `finally`.
    pub fn all_tasks(&self) -> Vec<&Task> {
        fn walk<'a>(tasks: &'a [Task], out: &mut Vec<&'a Task>) {
            for task in tasks {
                out.push(task);
                for list in task.children() {
                    walk(list, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.tasks, &mut out);
        walk(&self.errors, &mut out);
        walk(&self.finally, &mut out);
        out
    }

    /// The task with this id, wherever it is nested.
    pub fn find_task(&self, id: &str) -> Option<&Task> {
        self.all_tasks().into_iter().find(|t| t.id == id)
    }
}

/// Serde for `Option<Duration>` as the human form (`1m 30s`), used when the typed flow is
/// serialized (locking, debugging); the parser accepts more forms (see `duration`).
mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_some(&humantime::format_duration(*d).to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom)).transpose()
    }
}

mod humantime_serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}
