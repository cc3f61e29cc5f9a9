//! The execution as a whole: main tasks, then `errors` (after a failure), then `finally`, then
//! the flow's outputs, then the terminal state.

use serde_json::Value;

use super::plan::Region;
use super::state::{Owner, Work};
use super::{Command, Execution};
use crate::records::{ExecutionState, TaskRunState};

impl Execution {
    pub(crate) fn start_execution(&mut self) {
        self.record.state = ExecutionState::Running;
        if self.record.started_at.is_none() {
            self.record.started_at = Some(self.now());
        }
        self.touch_record();
        self.start_region(Region::Main);
    }

    pub(crate) fn start_region(&mut self, region: Region) {
        if self.regions[region.index()].is_none() {
            let inst = self.region_inst(region);
            self.work.push_back(Work::Pump(inst));
        }
    }

    /// The list instance of a region's root list, created (not scheduled) on first use.
    pub(crate) fn region_inst(&mut self, region: Region) -> usize {
        if let Some(inst) = self.regions[region.index()] {
            return inst;
        }
        let inst =
            self.new_inst(self.plan.roots[region.index()], Owner::Region(region), region, Vec::new(), None);
        self.regions[region.index()] = Some(inst);
        inst
    }

    /// The region started last: the one whose tasks run now.
    pub(crate) fn current_region(&self) -> Option<Region> {
        Region::ALL.into_iter().rev().find(|r| self.regions[r.index()].is_some())
    }

    /// Whether the main tasks ended SUCCESS or WARNING.
    fn main_succeeded(&self) -> bool {
        self.regions[Region::Main.index()].is_some_and(|inst| {
            self.insts[inst].complete
                && matches!(self.inst_outcome(inst).0, TaskRunState::Success | TaskRunState::Warning)
        })
    }

    pub(crate) fn region_complete(&mut self, region: Region) {
        if self.killing() {
            return self.finish(ExecutionState::Killed);
        }
        match region {
            Region::Main => {
                if self.main_succeeded() {
                    self.start_region(Region::Finally);
                } else {
                    if self.record.error.is_none()
                        && let Some(inst) = self.regions[Region::Main.index()]
                    {
                        // Only a stop without a failed task gets here (e.g. tasks that never ran).
                        let (state, reason) = self.inst_outcome(inst);
                        let reason = reason.unwrap_or_else(|| state.to_string());
                        self.record.error = Some(format!("the main tasks ended {state}: {reason}"));
                        self.touch_record();
                    }
                    let next = if self.flow.errors.is_empty() { Region::Finally } else { Region::Errors };
                    self.start_region(next);
                }
            }
            Region::Errors => self.start_region(Region::Finally),
            Region::Finally => {
                if self.main_succeeded() && !self.flow.outputs.is_empty() {
                    self.awaiting_outputs = true;
                    self.command(Command::RenderOutputs);
                } else {
                    self.finish(self.final_state());
                }
            }
        }
    }

    /// FAILED when a failure or timeout was recorded, else WARNING when a task ended WARNING,
    /// else SUCCESS.
    fn final_state(&self) -> ExecutionState {
        if self.record.error.is_some() {
            ExecutionState::Failed
        } else if self.warnings > 0 {
            ExecutionState::Warning
        } else {
            ExecutionState::Success
        }
    }

    pub(crate) fn on_outputs_rendered(&mut self, result: Result<Value, String>) {
        self.awaiting_outputs = false;
        match result {
            Ok(outputs) => {
                self.record.outputs = Some(outputs);
                self.finish(self.final_state());
            }
            Err(reason) => {
                if self.record.error.is_none() {
                    self.record.error = Some(reason);
                }
                self.finish(ExecutionState::Failed);
            }
        }
    }

    pub(crate) fn finish(&mut self, state: ExecutionState) {
        self.awaiting_outputs = false;
        self.record.state = state;
        self.record.ended_at = Some(self.now());
        self.touch_record();
        self.command(Command::Finished { state });
    }

    /// Kill: cancel running attempts, KILL everything else that waits, end KILLED once the
    /// cancelled attempts answered. No `errors`, no `finally`.
    pub(crate) fn kill(&mut self) {
        if matches!(self.record.state, ExecutionState::Created | ExecutionState::Queued)
            || self.awaiting_outputs
        {
            return self.finish(ExecutionState::Killed);
        }
        self.record.state = ExecutionState::Killing;
        self.touch_record();
        self.stop_hard(None, "killed");
        // Nothing may have been left waiting (everything stopped at once): complete the region.
        if let Some(region) = self.current_region()
            && let Some(inst) = self.regions[region.index()]
        {
            self.work.push_back(Work::Pump(inst));
        }
    }

    /// Flow timeout: a hard stop of the tasks running now, then `errors` (when the main tasks
    /// were cut) and `finally`, and FAILED.
    pub(crate) fn time_out(&mut self, region: Region) {
        let limit = match (self.flow.timeout, self.record.started_at) {
            (Some(limit), _) => limit,
            (None, Some(started)) => {
                std::time::Duration::from_secs((self.now() - started).to_std().unwrap_or_default().as_secs())
            }
            (None, None) => std::time::Duration::ZERO,
        };
        let reason = format!("flow timeout after {}", humantime::format_duration(limit));
        if self.record.error.is_none() {
            self.record.error = Some(reason.clone());
            self.touch_record();
        }
        if region != Region::Main {
            self.hard_stopped[region.index()] = true;
        }
        self.stop_hard(Some(region), &reason);
    }
}
