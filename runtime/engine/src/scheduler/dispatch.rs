//! Running one attempt of a plugin task: grants and limits from the task's declaration, the
//! config already rendered, the sandbox's verdict turned into an event for the machine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;
use sluice_flow::Task;
use sluice_sandbox::{
    Grants, Limits, LogLine, LogSink, OriginPattern, Plugin, Redactor, RunError, RunRequest, Sandbox,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::machine::Event;
use crate::records::{LogRecord, TaskRunKey, Timestamp};

/// Everything one attempt needs, owned, so it can run on its own tokio task.
pub struct Attempt {
    pub execution_id: String,
    pub run: TaskRunKey,
    pub attempt: u32,
    pub task: Task,
    pub plugin: Arc<Plugin>,
    /// The task's name within the plugin.
    pub task_name: String,
    pub config: Value,
    /// Secret values to redact from logs and outputs.
    pub redact: Vec<String>,
    pub workspace: PathBuf,
    pub default_limits: Limits,
    pub logs: UnboundedSender<LogRecord>,
    /// What the run is told about its execution (`context`; None for a component that does
    /// not import it); the sandbox redacts it.
    pub execution: Option<Value>,
}

/// Runs the attempt and says how it went.
pub async fn run_attempt(sandbox: &Sandbox, mut attempt: Attempt) -> Event {
    let failed = |error: String, retryable: bool| Event::TaskFailed {
        run: attempt.run.clone(),
        attempt: attempt.attempt,
        now: now(),
        error,
        retryable,
    };
    let grants = match grants_of(&attempt) {
        Ok(grants) => grants,
        Err(message) => return failed(message, false),
    };
    let limits = limits_of(&attempt.task, attempt.default_limits);
    // The run is told its own deadline, so a task that waits (a retry) can stop before it.
    if let Some(execution) = &mut attempt.execution {
        execution["timeoutMs"] = Value::from(u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX));
    }
    let sink = Arc::new(TaskLogs {
        execution_id: attempt.execution_id.clone(),
        run: attempt.run.clone(),
        attempt: attempt.attempt,
        tx: attempt.logs.clone(),
    });
    let report = sandbox
        .run(
            &attempt.plugin,
            RunRequest {
                task: &attempt.task_name,
                config: &attempt.config,
                grants: &grants,
                limits,
                workspace: &attempt.workspace,
                logs: sink,
                execution: attempt.execution.as_ref(),
            },
        )
        .await;
    match report.outcome {
        Ok(mut outputs) => {
            redact_value(&mut outputs, &attempt.redact);
            Event::TaskSucceeded { run: attempt.run, attempt: attempt.attempt, now: now(), outputs }
        }
        Err(error) => {
            let retryable = !matches!(
                error,
                RunError::InvalidConfig(_) | RunError::Denied(_) | RunError::UnknownTask { .. }
            );
            failed(redact_text(&error.to_string(), &attempt.redact), retryable)
        }
    }
}

/// Deny by default: the task's `allow` plus the origins its plugin derives from its config.
fn grants_of(attempt: &Attempt) -> Result<Grants, String> {
    let allow = &attempt.task.allow;
    let mut network = Vec::new();
    for pattern in &allow.network {
        network.push(pattern.parse::<OriginPattern>().map_err(|e| format!("allow.network: {e}"))?);
    }
    if let Some(info) = attempt.plugin.info().task(&attempt.task_name) {
        network.extend(info.implied_network_grants(&attempt.config).map_err(|e| e.to_string())?);
    }
    let mut env = Vec::new();
    for name in &allow.env {
        // The parser refuses these too; a flow built in code must not get around it.
        if name.starts_with(sluice_flow::SECRET_ENV_PREFIX) {
            return Err(format!(
                "allow.env grants `{name}`, which holds a secret: grant it in allow.secrets instead"
            ));
        }
        match std::env::var(name) {
            Ok(value) => env.push((name.clone(), value)),
            Err(_) => {
                return Err(format!(
                    "allow.env grants `{name}`, but it is not set in the environment of the sluice process"
                ));
            }
        }
    }
    Ok(Grants { network, env, redact: attempt.redact.clone(), docker: allow.docker })
}

fn limits_of(task: &Task, defaults: Limits) -> Limits {
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Limits {
        timeout: task.timeout.unwrap_or(defaults.timeout),
        memory_bytes: task.limits.memory.map_or(defaults.memory_bytes, to_usize),
        log_bytes: task.limits.log.map_or(defaults.log_bytes, to_usize),
        output_bytes: task.limits.output.map_or(defaults.output_bytes, to_usize),
        disk_bytes: task.limits.disk.unwrap_or(defaults.disk_bytes),
        ..defaults
    }
}

/// `text` with every secret value in it replaced by the redaction mark (the sandbox's
/// redaction, the one its log lines get).
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    Redactor::new(secrets).redacted(text)
}

/// Replaces every secret value inside the strings of `value`, object keys included.
pub fn redact_value(value: &mut Value, secrets: &[String]) {
    Redactor::new(secrets).redact_json(value);
}

/// Forwards a run's (already redacted) lines to the execution's log buffer.
struct TaskLogs {
    execution_id: String,
    run: TaskRunKey,
    attempt: u32,
    tx: UnboundedSender<LogRecord>,
}

impl LogSink for TaskLogs {
    fn line(&self, line: LogLine) {
        let _ = self.tx.send(LogRecord {
            execution_id: self.execution_id.clone(),
            task_run: Some(self.run.clone()),
            attempt: Some(self.attempt),
            time: Timestamp::from(line.time),
            level: level_name(line.level).to_owned(),
            source: source_name(line.source).to_owned(),
            message: line.message,
        });
    }
}

pub fn level_name(level: sluice_sandbox::LogLevel) -> &'static str {
    use sluice_sandbox::LogLevel::*;
    match level {
        Trace => "TRACE",
        Debug => "DEBUG",
        Info => "INFO",
        Warn => "WARN",
        Error => "ERROR",
    }
}

fn source_name(source: sluice_sandbox::LogSource) -> &'static str {
    use sluice_sandbox::LogSource::*;
    match source {
        Plugin => "plugin",
        Stdout => "stdout",
        Stderr => "stderr",
        Host => "host",
    }
}

pub fn now() -> Timestamp {
    Timestamp::from(SystemTime::now())
}
