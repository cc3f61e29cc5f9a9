//! Live progress of `sluice run`: a line per task run as it ends (with its duration), the
//! task's log lines as they are committed, and a summary at the end.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use sluice_engine::scheduler::Update;
use sluice_engine::{ExecutionRecord, ExecutionState, TaskRun, TaskRunState};
use tokio::sync::broadcast;

use crate::terminal::shown;

pub struct Progress {
    printer: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts printing updates to stdout.
    pub fn start(mut updates: broadcast::Receiver<Update>) -> Self {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let printer = tokio::spawn(async move {
            let mut printer = Printer { color, flows: HashMap::new(), root: None };
            loop {
                match updates.recv().await {
                    Ok(update) => {
                        if printer.show(update) {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        println!(
                            "  … {skipped} progress updates skipped (the run is faster than the terminal)"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Self { printer }
    }

    /// Lets the printer catch up with the end, then prints the summary.
    pub async fn finish(self, record: &ExecutionRecord, runs: &[TaskRun]) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.printer).await;
        print_summary(record, runs);
    }
}

struct Printer {
    color: bool,
    /// Execution id -> `namespace.flow` for subflow prefixes.
    flows: HashMap<String, String>,
    root: Option<String>,
}

impl Printer {
    /// Prints one update; true once the root execution has ended.
    fn show(&mut self, update: Update) -> bool {
        let mut out = std::io::stdout().lock();
        match update {
            Update::Execution(record) => {
                if self.root.is_none() && record.parent.is_none() {
                    self.root = Some(record.id.clone());
                }
                self.flows.insert(record.id.clone(), format!("{}.{}", record.namespace, record.flow_id));
                return self.root.as_deref() == Some(record.id.as_str()) && record.state.is_terminal();
            }
            Update::Log(line) => {
                let prefix = self.prefix(&line.execution_id);
                let task = line.task_run.map(|k| k.to_string()).unwrap_or_default();
                let message = shown(&line.message);
                let _ = writeln!(out, "    {prefix}{} {:<5} {message}", shown(&task), line.level);
            }
            Update::TaskRun { execution_id, run } => {
                if !run.state.is_terminal() {
                    return false;
                }
                let prefix = self.prefix(&execution_id);
                let (mark, paint) = mark_of(run.state);
                let duration = match (run.started_at, run.ended_at) {
                    (Some(start), Some(end)) => format_ms((end - start).num_milliseconds()),
                    _ => String::new(),
                };
                let state = run.state.to_string();
                let state = if self.color {
                    format!("\x1b[{paint}m{state:<8}\x1b[0m")
                } else {
                    format!("{state:<8}")
                };
                let key = shown(&run.key.to_string()).into_owned();
                let _ = writeln!(out, "  {mark} {prefix}{key:<28} {state} {duration:>8}");
                if let Some(error) = run.error.as_deref().filter(|_| run.state == TaskRunState::Failed) {
                    // Each line indented under its task, so an error cannot pass for a task line.
                    for line in error.lines() {
                        let _ = writeln!(out, "      {}", shown(line));
                    }
                }
            }
        }
        false
    }

    fn prefix(&self, execution_id: &str) -> String {
        match (&self.root, self.flows.get(execution_id)) {
            (Some(root), Some(flow)) if root != execution_id => format!("{flow} / "),
            _ => String::new(),
        }
    }
}

fn mark_of(state: TaskRunState) -> (&'static str, &'static str) {
    match state {
        TaskRunState::Success => ("✓", "32"),
        TaskRunState::Warning => ("!", "33"),
        TaskRunState::Failed => ("✗", "31"),
        TaskRunState::Skipped => ("-", "90"),
        TaskRunState::Killed => ("✗", "35"),
        TaskRunState::Created | TaskRunState::Running | TaskRunState::Retrying => (" ", "0"),
    }
}

fn format_ms(ms: i64) -> String {
    if ms < 1000 { format!("{ms} ms") } else { format!("{:.2} s", ms as f64 / 1000.0) }
}

fn print_summary(record: &ExecutionRecord, runs: &[TaskRun]) {
    let mut counts: Vec<(TaskRunState, usize)> = Vec::new();
    for run in runs {
        match counts.iter_mut().find(|(s, _)| *s == run.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((run.state, 1)),
        }
    }
    let counts: Vec<String> =
        counts.iter().map(|(s, n)| format!("{n} {}", s.as_str().to_lowercase())).collect();
    let took = match (record.started_at, record.ended_at) {
        (Some(start), Some(end)) => format!(" in {}", format_ms((end - start).num_milliseconds())),
        _ => String::new(),
    };
    println!();
    println!(
        "{}.{} {}{took}: {} task runs ({})",
        record.namespace,
        record.flow_id,
        record.state,
        runs.len(),
        counts.join(", ")
    );
    if let Some(error) = &record.error
        && record.state != ExecutionState::Success
    {
        let mut lines = error.lines();
        println!("  error: {}", shown(lines.next().unwrap_or_default()));
        for line in lines {
            println!("    {}", shown(line));
        }
    }
    if let Some(outputs) = record.outputs.as_ref().filter(|o| o.as_object().is_some_and(|m| !m.is_empty())) {
        println!(
            "  outputs: {}",
            serde_json::to_string_pretty(outputs).unwrap_or_default().replace('\n', "\n  ")
        );
    }
    println!("  execution {}", record.id);
}
