//! The default message of every notifier, made from the execution the task runs in (the host's
//! `context` interface): which flow, how it went, how long it took, what failed and why, and
//! where to look.

use sluice_plugin::TaskError;
use sluice_plugin::context::{self, Execution};

/// The most of one task's error a message quotes.
const ERROR_CHARS: usize = 500;

/// A message, before it is put in a service's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `❌ shop.deploy FAILED`.
    pub title: String,
    /// `FAILED`, `SUCCESS`, ...: how the execution ends if nothing else fails.
    pub outcome: String,
    /// Facts, as (name, value): flow, namespace, state, duration, execution.
    pub facts: Vec<(String, String)>,
    /// One per failed task run: `build` (core.fail, 2 attempts): `exit 2`.
    pub failures: Vec<Failure>,
    /// The execution's page, when the server knows its public URL.
    pub url: Option<String>,
}

/// A failed task run, for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `build (core.fail)`.
    pub task: String,
    /// Its error, cut at [`ERROR_CHARS`] characters.
    pub error: String,
}

/// The execution of this run, or an invalid-config error saying which field to set instead.
pub fn current(field: &str) -> Result<Execution, TaskError> {
    context::execution().ok_or_else(|| no_default(field))
}

/// Outside an execution there is nothing to make a default of: `field` must be set.
pub fn no_default(field: &str) -> TaskError {
    TaskError::invalid_config(format!(
        "set `{field}`: this run is not part of an execution, so there is no default message"
    ))
}

/// The summary of an execution.
pub fn summary(execution: &Execution) -> Summary {
    let outcome =
        if execution.outcome.is_empty() { execution.state.clone() } else { execution.outcome.clone() };
    let title = format!("{} {}.{} {outcome}", icon(&outcome), execution.namespace, execution.flow_id);
    let mut facts = vec![
        ("Flow".to_string(), execution.flow_id.clone()),
        ("Namespace".to_string(), execution.namespace.clone()),
        ("State".to_string(), outcome.clone()),
        ("Duration".to_string(), execution.duration_text()),
        ("Execution".to_string(), execution.execution_id.clone()),
    ];
    let mut failures: Vec<Failure> = execution
        .failed_tasks
        .iter()
        .map(|failed| {
            let mut task = failed.task_run_id.clone();
            let attempts = match failed.attempts {
                0 | 1 => String::new(),
                n => format!(", {n} attempts"),
            };
            if let Some(kind) = &failed.task_type {
                task.push_str(&format!(" ({kind}{attempts})"));
            }
            Failure { task, error: cut(failed.error.as_deref().unwrap_or("no error recorded")) }
        })
        .collect();
    // A failure without a failed task (a flow timeout): the execution's own error says it.
    if failures.is_empty()
        && let Some(error) = &execution.error
    {
        failures.push(Failure { task: "execution".into(), error: cut(error) });
    }
    if let Some(first) = failures.first() {
        facts.push(("Failed task".to_string(), first.task.clone()));
    }
    Summary { title, outcome, facts, failures, url: execution.url.clone() }
}

impl Summary {
    /// The message as plain text: the title, one line per fact that is not in the title, one
    /// per failure, and the link.
    pub fn text(&self) -> String {
        let mut text = self.title.clone();
        text.push_str(&format!("\n{}", self.run_line()));
        for failure in &self.failures {
            text.push_str(&format!("\nFailed: {}: {}", failure.task, failure.error));
        }
        if let Some(url) = &self.url {
            text.push_str(&format!("\n{url}"));
        }
        text
    }

    /// `Ran 1 min 5 s (execution <id>)`.
    pub fn run_line(&self) -> String {
        let fact = |name: &str| self.facts.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str());
        format!("Ran {} (execution {})", fact("Duration"), fact("Execution"))
    }

    /// One line for an incident or a subject: the title and the first failure.
    pub fn headline(&self) -> String {
        match self.failures.first() {
            Some(failure) => format!("{}: {} failed: {}", self.title, failure.task, failure.error),
            None => self.title.clone(),
        }
    }
}

fn icon(outcome: &str) -> &'static str {
    match outcome {
        "SUCCESS" => "✅",
        "WARNING" => "⚠️",
        "FAILED" => "❌",
        "KILLED" | "CANCELLED" => "⛔",
        _ => "▶️",
    }
}

/// At most [`ERROR_CHARS`] characters, an ellipsis after a cut.
pub fn cut(text: &str) -> String {
    truncate(text.trim(), ERROR_CHARS)
}

/// At most `max` characters, the last one an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use sluice_plugin::context::FailedTask;

    use super::*;

    pub(crate) fn failed_execution() -> Execution {
        Execution {
            execution_id: "0193-e1".into(),
            flow_id: "deploy".into(),
            namespace: "shop".into(),
            revision: 3,
            state: "RUNNING".into(),
            outcome: "FAILED".into(),
            error: Some("task `build` failed: exit 2".into()),
            duration_ms: 65_000,
            task_run_id: "alert".into(),
            failed_tasks: vec![FailedTask {
                task_run_id: "build".into(),
                task_id: "build".into(),
                task_type: Some("core.fail".into()),
                state: "FAILED".into(),
                attempts: 2,
                error: Some("exit 2".into()),
            }],
            url: Some("https://sluice.example.com/executions/0193-e1".into()),
            ..Execution::default()
        }
    }

    #[test]
    fn a_failure_names_the_task_and_its_error() {
        let summary = summary(&failed_execution());
        assert_eq!(
            summary.text(),
            "❌ shop.deploy FAILED\nRan 1 min 5 s (execution 0193-e1)\n\
             Failed: build (core.fail, 2 attempts): exit 2\nhttps://sluice.example.com/executions/0193-e1"
        );
        assert_eq!(summary.headline(), "❌ shop.deploy FAILED: build (core.fail, 2 attempts) failed: exit 2");
    }

    #[test]
    fn a_success_without_url() {
        let execution = Execution {
            outcome: "SUCCESS".into(),
            error: None,
            failed_tasks: Vec::new(),
            url: None,
            duration_ms: 850,
            ..failed_execution()
        };
        assert_eq!(summary(&execution).text(), "✅ shop.deploy SUCCESS\nRan 850 ms (execution 0193-e1)");
    }

    #[test]
    fn long_errors_are_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(cut(&"x".repeat(900)).chars().count(), ERROR_CHARS);
    }
}
