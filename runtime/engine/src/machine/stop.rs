//! Stopping work: the graceful stop of the main tasks after a failure, and the hard stop of a
//! kill or a flow timeout.

use super::plan::Region;
use super::state::{Owner, Wait};
use super::{Command, Execution, Timer};
use crate::records::TaskRunState;

impl Execution {
    /// A main task failed: nothing new starts in the main tasks (see [`Execution::gated`]).
    /// Attempts, retries and subflows in progress finish; what only waits (a pending `runIf` or
    /// condition, a sleep, a pause, a `flow.fail` message) is KILLED now.
    pub(crate) fn stop_main_gracefully(&mut self) {
        for run in 0..self.runs.len() {
            if self.is_terminal(run) || self.region_of(run) != Region::Main {
                continue;
            }
            let idle = match self.metas[run].wait {
                Wait::Eval(_) | Wait::Resume | Wait::Timer(Timer::Sleep) => true,
                Wait::Timer(Timer::Retry { .. } | Timer::PauseTimeout | Timer::TaskTimeout)
                | Wait::Attempt(_)
                | Wait::Cancelling(_)
                | Wait::SubflowStart
                | Wait::SubflowEnd
                | Wait::Children
                | Wait::Nothing => false,
            };
            if idle {
                self.end_run(run, TaskRunState::Killed, Some("stopped: the execution is failing".to_owned()));
            }
        }
    }

    /// Whether a hard stop of `region` (all regions when None) would change anything.
    pub(crate) fn has_work_to_stop(&self, region: Option<Region>) -> bool {
        (0..self.runs.len()).any(|run| {
            !self.is_terminal(run)
                && region.is_none_or(|r| self.region_of(run) == r)
                && !matches!(self.metas[run].wait, Wait::Cancelling(_) | Wait::Children | Wait::Nothing)
        })
    }

    /// Cancels every running attempt in `region` (all regions when None) and KILLs every other
    /// waiting run there; control-flow runs end when their children have.
    pub(crate) fn stop_hard(&mut self, region: Option<Region>, reason: &str) {
        for run in 0..self.runs.len() {
            if self.is_terminal(run) || region.is_some_and(|r| self.region_of(run) != r) {
                continue;
            }
            self.stop_run_hard(run, reason);
        }
    }

    /// Cancels the run's attempt, or KILLs the run when it waits on anything else but its
    /// children.
    fn stop_run_hard(&mut self, run: usize, reason: &str) {
        match self.metas[run].wait {
            Wait::Attempt(attempt) => {
                if let Some(last) = self.runs[run].attempts.last_mut() {
                    // KILLED without an end time marks "cancel sent": a restore then knows
                    // the attempt is not to be run again.
                    last.state = TaskRunState::Killed;
                    last.error = Some(reason.to_owned());
                }
                self.touch(run);
                self.set_wait(run, Wait::Cancelling(attempt));
                self.command(Command::Cancel { run: self.runs[run].key.clone(), attempt });
            }
            Wait::Cancelling(_) | Wait::Children | Wait::Nothing => {}
            Wait::Eval(_) | Wait::Timer(_) | Wait::SubflowStart | Wait::SubflowEnd | Wait::Resume => {
                self.end_run(run, TaskRunState::Killed, Some(reason.to_owned()));
            }
        }
    }

    /// A native task's timeout: the hard stop of everything under `ancestor`.
    pub(crate) fn stop_descendants(&mut self, ancestor: usize, reason: &str) {
        for run in 0..self.runs.len() {
            if !self.is_terminal(run) && self.enclosing(run).any(|owner| owner == ancestor) {
                self.stop_run_hard(run, reason);
            }
        }
    }

    /// The control-flow runs around `run`, innermost first.
    fn enclosing(&self, run: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.owner_run(run), |&owner| self.owner_run(owner))
    }

    /// The control-flow run whose children include `run` (None at the top of a region).
    fn owner_run(&self, run: usize) -> Option<usize> {
        let inst = self.insts.get(self.metas[run].inst)?;
        self.inst_owner_run(inst.owner)
    }

    /// The run a list instance belongs to (None for a region's list).
    pub(crate) fn inst_owner_run(&self, owner: Owner) -> Option<usize> {
        match owner {
            Owner::Region(_) => None,
            Owner::Run(run) => Some(run),
            Owner::Iteration(lp) => Some(self.loops[lp].run),
        }
    }

    /// Whether the list instance is under a control-flow task whose timeout passed: none of its
    /// members starts any more.
    pub(crate) fn under_timeout(&self, inst: usize) -> bool {
        self.inst_owner_run(self.insts[inst].owner).is_some_and(|run| self.stopped_by_timeout(run))
    }

    /// Whether the timeout of `run` or of a task around it passed.
    pub(crate) fn stopped_by_timeout(&self, run: usize) -> bool {
        self.metas[run].timed_out || self.inside_timed_out(run)
    }

    /// Whether the timeout of a task around `run` passed.
    pub(crate) fn inside_timed_out(&self, run: usize) -> bool {
        self.enclosing(run).any(|owner| self.metas[owner].timed_out)
    }

    /// The `flow.pause` runs waiting for a resume, in creation order.
    pub(crate) fn paused_runs(&self) -> impl Iterator<Item = usize> + '_ {
        self.paused.iter().copied()
    }
}
