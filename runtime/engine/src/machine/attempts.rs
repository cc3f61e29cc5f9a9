//! Attempts of runnable (plugin) tasks: dispatch, their ends, and the retry decision.

use serde_json::Value;

use super::retry::{backoff, jitter_seed};
use super::state::{Wait, after};
use super::{Command, Execution, Timer};
use crate::records::{Attempt, TaskRunState, Timestamp};

/// The error of an attempt that was running when the engine restarted. Such attempts do not
/// count against `maxAttempts`: the task never had its chance.
pub(crate) const INTERRUPTED: &str = "interrupted: its server stopped or lost the execution";

pub(crate) fn is_interrupted(attempt: &Attempt) -> bool {
    attempt.state == TaskRunState::Failed && attempt.error.as_deref() == Some(INTERRUPTED)
}

/// An attempt with a `Cancel` sent and no answer yet: KILLED without an end time.
pub(crate) fn is_cancelling(attempt: &Attempt) -> bool {
    attempt.state == TaskRunState::Killed && attempt.ended_at.is_none()
}

impl Execution {
    /// RUNNING, with a new attempt sent to the sandbox.
    pub(crate) fn dispatch(&mut self, run: usize) {
        if self.hold_dispatches {
            // Left as it is (CREATED, or RETRYING for a retry): restore starts it afresh.
            return;
        }
        let now = self.now();
        self.mark_running(run);
        let attempts = &mut self.runs[run].attempts;
        let number = attempts.len() as u32 + 1;
        attempts.push(Attempt {
            number,
            state: TaskRunState::Running,
            started_at: now,
            ended_at: None,
            error: None,
        });
        self.set_wait(run, Wait::Attempt(number));
        self.command(Command::Dispatch { run: self.runs[run].key.clone(), attempt: number });
    }

    pub(crate) fn on_task_succeeded(&mut self, run: usize, outputs: Value) {
        let now = self.now();
        let r = &mut self.runs[run];
        if let Some(attempt) = r.attempts.last_mut() {
            attempt.state = TaskRunState::Success;
            attempt.ended_at = Some(now);
            attempt.error = None;
        }
        r.outputs = Some(outputs);
        self.end_run(run, TaskRunState::Success, None);
    }

    pub(crate) fn on_task_failed(&mut self, run: usize, error: String, retryable: bool) {
        let now = self.now();
        let cancelling = matches!(self.metas[run].wait, Wait::Cancelling(_));
        if let Some(attempt) = self.runs[run].attempts.last_mut() {
            attempt.state = TaskRunState::Failed;
            attempt.ended_at = Some(now);
            attempt.error = Some(error.clone());
        }
        if retryable && !cancelling && self.may_retry(run) {
            self.runs[run].state = TaskRunState::Retrying;
            self.touch(run);
            self.wait_for_retry(run);
        } else {
            self.fail_run(run, error);
        }
    }

    pub(crate) fn on_task_cancelled(&mut self, run: usize) {
        let now = self.now();
        let mut reason = None;
        if let Some(attempt) = self.runs[run].attempts.last_mut() {
            attempt.ended_at = Some(now);
            reason = attempt.error.clone();
        }
        self.end_run(run, TaskRunState::Killed, reason.or_else(|| Some("killed".to_owned())));
    }

    /// Whether a policy allows another attempt now: attempts left (interrupted ones not
    /// counted) and, with `maxDuration`, less than that since the first attempt started.
    fn may_retry(&self, run: usize) -> bool {
        let Some(retry) = &self.plan.nodes[self.metas[run].node].retry else {
            return false;
        };
        let attempts = &self.runs[run].attempts;
        let counted = attempts.iter().filter(|a| !is_interrupted(a)).count() as u32;
        if counted >= retry.max_attempts {
            return false;
        }
        match (retry.max_duration, attempts.first()) {
            (Some(limit), Some(first)) => after(first.started_at, limit) > self.now(),
            _ => true,
        }
    }

    /// RETRYING waits for `Timer::Retry`, due the backoff after the last attempt ended. Derived
    /// from the records alone, so a restore asks for the same instant.
    pub(crate) fn wait_for_retry(&mut self, run: usize) {
        let (timer, at) = self.retry_timer(run);
        self.set_wait(run, Wait::Timer(timer));
        self.command(Command::StartTimer { run: self.runs[run].key.clone(), timer, at });
    }

    fn retry_timer(&self, run: usize) -> (Timer, Timestamp) {
        let r = &self.runs[run];
        let next = r.attempts.len() as u32 + 1;
        let failures = r.attempts.iter().filter(|a| !is_interrupted(a)).count() as u32;
        let ended = r.attempts.last().and_then(|a| a.ended_at).unwrap_or(self.now());
        let wait = match &self.plan.nodes[self.metas[run].node].retry {
            Some(retry) => backoff(retry, failures.max(1), jitter_seed(&self.record.id, &r.key, next)),
            None => std::time::Duration::ZERO,
        };
        (Timer::Retry { attempt: next }, after(ended, wait))
    }
}
