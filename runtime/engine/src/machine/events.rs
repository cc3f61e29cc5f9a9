//! `apply`: every event is checked against the state first and rejected before anything changes
//! when it does not fit; then the matching handler runs and queued scheduling work is drained.

use super::plan::NodeKind;
use super::state::Wait;
use super::{Event, Execution, MachineError, Step, Timer};
use crate::records::{ExecutionState, TaskRunKey};

fn rejected(message: impl Into<String>) -> MachineError {
    MachineError::Rejected(message.into())
}

impl Execution {
    pub(crate) fn apply_event(&mut self, event: Event) -> Result<Step, MachineError> {
        let state = self.record.state;
        if state.is_terminal() {
            return Err(rejected(format!("the execution already ended {state}")));
        }
        let not_started = matches!(state, ExecutionState::Created | ExecutionState::Queued);
        match event {
            Event::Start { now } => {
                if !not_started {
                    return Err(rejected(format!("cannot start an execution that is {state}")));
                }
                self.begin_step(now);
                self.start_execution();
            }
            Event::Queue { now } => {
                if state != ExecutionState::Created {
                    return Err(rejected(format!("cannot queue an execution that is {state}")));
                }
                self.begin_step(now);
                self.record.state = ExecutionState::Queued;
                self.touch_record();
            }
            Event::Refuse { now, state: to, reason } => {
                if !not_started || !to.is_terminal() {
                    return Err(rejected(format!("cannot refuse an execution that is {state} with {to}")));
                }
                self.begin_step(now);
                self.record.error = Some(reason);
                self.finish(to);
            }
            Event::Evaluated { run, now, result } => {
                let r = self.find(&run)?;
                let Wait::Eval(what) = self.metas[r].wait else {
                    return Err(rejected(format!("task run `{run}` is not waiting for an evaluation")));
                };
                if !Self::fits(what, &result) {
                    return Err(rejected(format!("task run `{run}` asked for {what:?}, not {result:?}")));
                }
                self.begin_step(now);
                self.on_evaluated(r, what, result);
            }
            Event::TaskSucceeded { run, attempt, now, outputs } => {
                let r = self.find_attempt(&run, attempt, true)?;
                self.begin_step(now);
                self.on_task_succeeded(r, outputs);
            }
            Event::TaskFailed { run, attempt, now, error, retryable } => {
                let r = self.find_attempt(&run, attempt, true)?;
                self.begin_step(now);
                self.on_task_failed(r, error, retryable);
            }
            Event::TaskCancelled { run, attempt, now } => {
                let r = self.find_attempt(&run, attempt, false)?;
                self.begin_step(now);
                self.on_task_cancelled(r);
            }
            Event::TimerFired { run, timer, now } => {
                let r = self.find(&run)?;
                let fits = match (self.metas[r].wait, timer) {
                    (_, Timer::TaskTimeout) => self.may_time_out(r),
                    (Wait::Timer(waited), fired) => waited == fired,
                    (Wait::Resume, Timer::PauseTimeout) => {
                        matches!(self.node_kind(r), NodeKind::Pause { timeout: Some(_), .. })
                    }
                    _ => false,
                };
                if !fits {
                    return Err(rejected(format!("task run `{run}` is not waiting for {timer:?}")));
                }
                self.begin_step(now);
                self.on_timer(r, timer);
            }
            Event::SubflowStarted { run, execution_id, now } => {
                let r = self.find_waiting(&run, Wait::SubflowStart)?;
                self.begin_step(now);
                self.on_subflow_started(r, execution_id);
            }
            Event::SubflowFailed { run, now, error } => {
                let r = self.find_waiting(&run, Wait::SubflowStart)?;
                self.begin_step(now);
                self.fail_run(r, error);
            }
            Event::SubflowEnded { run, now, state, outputs } => {
                let r = self.find_waiting(&run, Wait::SubflowEnd)?;
                self.begin_step(now);
                self.on_subflow_ended(r, state, outputs);
            }
            Event::Resume { run, now, inputs } => {
                let r = match run {
                    Some(key) => self.find_waiting(&key, Wait::Resume)?,
                    None => {
                        let mut paused = self.paused_runs();
                        match (paused.next(), paused.next()) {
                            (Some(only), None) => only,
                            (None, _) => return Err(rejected("no task is paused")),
                            (Some(_), Some(_)) => {
                                return Err(rejected("several tasks are paused: name the one to resume"));
                            }
                        }
                    }
                };
                self.begin_step(now);
                self.on_resumed(r, inputs);
            }
            Event::Kill { now } => {
                if state == ExecutionState::Killing {
                    return Err(rejected("the execution is already being killed"));
                }
                self.begin_step(now);
                self.kill();
            }
            Event::FlowTimedOut { now } => {
                let region = match self.current_region() {
                    Some(region) if !self.awaiting_outputs && state != ExecutionState::Killing => region,
                    _ => {
                        return Err(rejected(format!(
                            "no task of an execution that is {state} can time out"
                        )));
                    }
                };
                if !self.has_work_to_stop(Some(region)) {
                    return Err(rejected("the running tasks are already being stopped"));
                }
                self.begin_step(now);
                self.time_out(region);
            }
            Event::OutputsRendered { now, result } => {
                if !self.awaiting_outputs {
                    return Err(rejected("the flow outputs were not asked for"));
                }
                self.begin_step(now);
                self.on_outputs_rendered(result);
            }
        }
        self.drain();
        Ok(self.end_step())
    }

    fn find(&self, key: &TaskRunKey) -> Result<usize, MachineError> {
        self.index.get(key).copied().ok_or_else(|| rejected(format!("no task run `{key}`")))
    }

    fn find_waiting(&self, key: &TaskRunKey, wait: Wait) -> Result<usize, MachineError> {
        let run = self.find(key)?;
        if self.metas[run].wait != wait {
            return Err(rejected(format!("task run `{key}` is not waiting for {wait:?}")));
        }
        Ok(run)
    }

    /// The run whose current attempt is `attempt`; with `ended`, an attempt being cancelled
    /// may still report its own end.
    fn find_attempt(&self, key: &TaskRunKey, attempt: u32, ended: bool) -> Result<usize, MachineError> {
        let run = self.find(key)?;
        let fits = match self.metas[run].wait {
            Wait::Attempt(current) => ended && current == attempt,
            Wait::Cancelling(current) => current == attempt,
            _ => false,
        };
        if !fits {
            return Err(rejected(format!("attempt {attempt} of task run `{key}` is not the one running")));
        }
        Ok(run)
    }
}
