//! Starting a task run by its kind, and what each kind does with the answers it waits for:
//! evaluations, subflow news, resumes and its own timers.

use serde_json::{Value, json};

use super::plan::NodeKind;
use super::state::{Children, Wait, Work, after};
use super::{Command, Evaluate, Evaluation, Execution, Timer};
use crate::records::{ExecutionState, TaskRunState};

impl Execution {
    /// A freshly created run: skipped when disabled, else `runIf` first, else begun.
    pub(crate) fn start_run(&mut self, run: usize) {
        let node = &self.plan.nodes[self.metas[run].node];
        if node.disabled {
            self.end_run(run, TaskRunState::Skipped, Some("disabled".to_owned()));
        } else if node.has_run_if {
            self.ask(run, Evaluate::RunIf);
        } else {
            self.begin(run);
        }
    }

    /// RUNNING, and whatever the kind does first.
    pub(crate) fn begin(&mut self, run: usize) {
        self.mark_running(run);
        self.start_task_timeout(run);
        match *self.node_kind(run) {
            NodeKind::Plugin => self.dispatch(run),
            NodeKind::Sequential { list } | NodeKind::Parallel { list } => self.open_list(run, list),
            NodeKind::If { .. } => self.ask(run, Evaluate::IfCondition),
            NodeKind::Switch { .. } => self.ask(run, Evaluate::SwitchValue),
            NodeKind::ForEach { .. } => self.ask(run, Evaluate::ForEachValues),
            NodeKind::Subflow { .. } => self.start_subflow(run),
            NodeKind::Pause { .. } => self.wait_for_resume(run),
            NodeKind::Sleep => self.ask(run, Evaluate::SleepDuration),
            NodeKind::Fail => self.ask(run, Evaluate::FailMessage),
        }
    }

    /// A native task with a `timeout` asks for its deadline, counted from when it started (the
    /// same instant again after a restore).
    pub(crate) fn start_task_timeout(&mut self, run: usize) {
        let Some(timeout) = self.plan.nodes[self.metas[run].node].timeout else { return };
        if self.metas[run].timed_out {
            return;
        }
        let started = self.runs[run].started_at.unwrap_or(self.now());
        let at = after(started, timeout);
        self.command(Command::StartTimer { run: self.runs[run].key.clone(), timer: Timer::TaskTimeout, at });
    }

    /// Whether a `TaskTimeout` fits `run`: a started native task with a timeout that has not
    /// passed yet, waiting on something the timeout can cut.
    pub(crate) fn may_time_out(&self, run: usize) -> bool {
        self.plan.nodes[self.metas[run].node].timeout.is_some()
            && self.runs[run].state == TaskRunState::Running
            && !self.metas[run].timed_out
            && matches!(
                self.metas[run].wait,
                Wait::Eval(_)
                    | Wait::Timer(Timer::Sleep)
                    | Wait::SubflowStart
                    | Wait::SubflowEnd
                    | Wait::Children
            )
    }

    /// The task's own timeout passed: a task waiting on its own fails now; a control-flow task
    /// stops what runs under it and fails once that has stopped.
    fn on_task_timeout(&mut self, run: usize) {
        let timeout = self.plan.nodes[self.metas[run].node].timeout.unwrap_or_default();
        let message = format!("timed out after {}", humantime::format_duration(timeout));
        if self.metas[run].wait != Wait::Children {
            return self.fail_run(run, message);
        }
        self.metas[run].timed_out = true;
        self.runs[run].error = Some(message.clone());
        self.touch(run);
        self.stop_descendants(run, &message);
        match self.metas[run].children {
            Some(Children::List(inst)) => self.work.push_back(Work::Pump(inst)),
            Some(Children::Loop(lp)) => self.work.push_back(Work::PumpLoop(lp)),
            None => {}
        }
    }

    pub(crate) fn ask(&mut self, run: usize, what: Evaluate) {
        self.set_wait(run, Wait::Eval(what));
        self.command(Command::Evaluate { run: self.runs[run].key.clone(), what });
    }

    pub(crate) fn start_subflow(&mut self, run: usize) {
        self.set_wait(run, Wait::SubflowStart);
        self.command(Command::StartSubflow { run: self.runs[run].key.clone() });
    }

    /// Waits for `Resume`, with the pause's timeout counted from when the task started.
    pub(crate) fn wait_for_resume(&mut self, run: usize) {
        self.set_wait(run, Wait::Resume);
        if let NodeKind::Pause { timeout: Some(timeout), .. } = self.node_kind(run) {
            let started = self.runs[run].started_at.unwrap_or(self.now());
            let at = after(started, *timeout);
            self.command(Command::StartTimer {
                run: self.runs[run].key.clone(),
                timer: Timer::PauseTimeout,
                at,
            });
        }
    }

    /// Whether `result` is the kind of answer `what` asks for.
    pub(crate) fn fits(what: Evaluate, result: &Result<Evaluation, String>) -> bool {
        match result {
            Err(_) => true,
            Ok(evaluation) => matches!(
                (what, evaluation),
                (Evaluate::RunIf | Evaluate::IfCondition, Evaluation::Bool(_))
                    | (Evaluate::SwitchValue | Evaluate::FailMessage, Evaluation::Text(_))
                    | (Evaluate::ForEachValues, Evaluation::List(_))
                    | (Evaluate::SleepDuration, Evaluation::Duration(_))
            ),
        }
    }

    /// Acts on an evaluation the run waited for (already checked with [`Self::fits`]).
    pub(crate) fn on_evaluated(&mut self, run: usize, what: Evaluate, result: Result<Evaluation, String>) {
        let evaluation = match result {
            Ok(evaluation) => evaluation,
            Err(message) => return self.fail_run(run, message),
        };
        match (what, evaluation) {
            (Evaluate::RunIf, Evaluation::Bool(true)) => self.begin(run),
            (Evaluate::RunIf, Evaluation::Bool(false)) => {
                self.end_run(run, TaskRunState::Skipped, Some("runIf is false".to_owned()))
            }
            (Evaluate::IfCondition, Evaluation::Bool(condition)) => {
                if let NodeKind::If { then, otherwise } = *self.node_kind(run) {
                    self.open_list(run, if condition { then } else { otherwise });
                }
            }
            (Evaluate::SwitchValue, Evaluation::Text(value)) => {
                if let NodeKind::Switch { cases, default } = self.node_kind(run) {
                    let list =
                        cases.iter().find(|(case, _)| *case == value).map_or(*default, |(_, list)| *list);
                    self.open_list(run, list);
                }
            }
            (Evaluate::ForEachValues, Evaluation::List(values)) => {
                self.runs[run].outputs = Some(json!({ "values": values }));
                self.touch(run);
                self.open_loop(run, values);
            }
            (Evaluate::SleepDuration, Evaluation::Duration(duration)) => {
                let started = self.runs[run].started_at.unwrap_or(self.now());
                self.set_wait(run, Wait::Timer(Timer::Sleep));
                let at = after(started, duration);
                self.command(Command::StartTimer {
                    run: self.runs[run].key.clone(),
                    timer: Timer::Sleep,
                    at,
                });
            }
            (Evaluate::FailMessage, Evaluation::Text(message)) => self.fail_run(run, message),
            _ => {}
        }
    }

    pub(crate) fn on_subflow_started(&mut self, run: usize, execution_id: String) {
        let outputs = json!({ "executionId": execution_id });
        let waits = matches!(self.node_kind(run), NodeKind::Subflow { wait: true });
        self.runs[run].outputs = Some(outputs);
        if waits {
            self.touch(run);
            self.set_wait(run, Wait::SubflowEnd);
        } else {
            self.end_run(run, TaskRunState::Success, None);
        }
    }

    pub(crate) fn on_subflow_ended(&mut self, run: usize, state: ExecutionState, outputs: Value) {
        if matches!(state, ExecutionState::Success | ExecutionState::Warning) {
            self.runs[run].outputs = Some(outputs);
            self.end_run(run, TaskRunState::Success, None);
        } else {
            let id =
                self.runs[run].outputs.as_ref().and_then(|o| o.get("executionId")).and_then(Value::as_str);
            let message = format!("subflow {} ended {state}", id.unwrap_or("?"));
            self.fail_run(run, message);
        }
    }

    pub(crate) fn on_resumed(&mut self, run: usize, inputs: Value) {
        self.runs[run].outputs = Some(inputs);
        self.end_run(run, TaskRunState::Success, None);
    }

    pub(crate) fn on_timer(&mut self, run: usize, timer: Timer) {
        match timer {
            Timer::Retry { .. } => self.dispatch(run),
            Timer::Sleep => self.end_run(run, TaskRunState::Success, None),
            Timer::TaskTimeout => self.on_task_timeout(run),
            Timer::PauseTimeout => {
                let message = match self.node_kind(run) {
                    NodeKind::Pause { timeout: Some(timeout), .. } => {
                        format!("not resumed within {}", humantime::format_duration(*timeout))
                    }
                    _ => "not resumed in time".to_owned(),
                };
                self.fail_run(run, message);
            }
        }
    }
}
