//! The bookkeeping the machine keeps beside the task runs, and the primitive changes every other
//! part goes through (create a run, end a run, mark what a step changed). Everything here is
//! derived from the records and rebuilt by `restore`; see `restore.rs`.

use std::time::Duration;

use serde_json::Value;

use super::plan::{NodeKind, Region};
use super::{Command, Evaluate, Execution, Timer};
use crate::records::{ExecutionState, TaskRun, TaskRunKey, TaskRunState, Timestamp};

/// A position in a list instance that has no run yet.
pub(crate) const NO_RUN: usize = usize::MAX;
/// A member whose predecessor ended FAILED or KILLED: it never starts.
pub(crate) const BLOCKED: u32 = u32::MAX;

/// What a non-terminal run waits for; the answer that fits it is the only one accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Terminal (or not started yet).
    Nothing,
    Eval(Evaluate),
    Attempt(u32),
    /// A `Cancel` was sent for this attempt.
    Cancelling(u32),
    Timer(Timer),
    SubflowStart,
    SubflowEnd,
    /// A `flow.pause` waits for `Resume` (or its timeout).
    Resume,
    /// A control-flow task waits for its children.
    Children,
}

impl Wait {
    /// Whether the run makes progress without a person: an execution whose runs all wait for
    /// `Resume` (or children) is PAUSED.
    fn is_busy(self) -> bool {
        !matches!(self, Wait::Nothing | Wait::Children | Wait::Resume)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Children {
    List(usize),
    Loop(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct RunMeta {
    pub node: usize,
    /// The list instance this run is a member of.
    pub inst: usize,
    pub wait: Wait,
    pub children: Option<Children>,
    /// The last step that listed this run in `changed_runs`.
    pub stamp: u64,
    /// The task's own `timeout` passed (native tasks): no new child starts under it. Derived
    /// on restore from the error the timeout recorded on the still-open run.
    pub timed_out: bool,
}

/// Who is told when a list instance has nothing left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Region(Region),
    Run(usize),
    /// One iteration of the loop with this index.
    Iteration(usize),
}

/// How the members of a list (or the iterations of a loop) ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    pub failed: u32,
    pub killed: u32,
    pub warned: u32,
    /// The first run that ended FAILED or KILLED, to name in the error.
    pub first_bad: Option<usize>,
}

impl Tally {
    pub(crate) fn add(&mut self, state: TaskRunState, run: Option<usize>) {
        match state {
            TaskRunState::Failed => self.failed += 1,
            TaskRunState::Killed => self.killed += 1,
            TaskRunState::Warning => self.warned += 1,
            _ => return,
        }
        if matches!(state, TaskRunState::Failed | TaskRunState::Killed) && self.first_bad.is_none() {
            self.first_bad = run;
        }
    }
}

/// One run of one task list: a region, a control-flow task's chosen children, or one iteration
/// of a loop's body.
#[derive(Debug, Clone)]
pub(crate) struct ListInst {
    pub def: usize,
    pub owner: Owner,
    pub region: Region,
    /// The key suffix of the member runs.
    pub iterations: Vec<u32>,
    /// `TaskRun.value` of the member runs.
    pub value: Option<Value>,
    /// The run of each member, or [`NO_RUN`].
    pub runs: Vec<usize>,
    /// Predecessors each member still waits for, or [`BLOCKED`].
    pub waiting: Vec<u32>,
    /// Members whose predecessors are done and that have no run yet, smallest position first.
    pub ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>>,
    /// Members with a non-terminal run.
    pub active: u32,
    pub created: u32,
    pub tally: Tally,
    pub complete: bool,
}

/// The iterations of one `flow.forEach` run.
#[derive(Debug, Clone)]
pub(crate) struct LoopInst {
    pub run: usize,
    pub body: usize,
    pub values: Vec<Value>,
    pub concurrency: u32,
    /// The next iteration to start; iterations start in order.
    pub next: usize,
    /// Iterations started and not complete.
    pub active: u32,
    pub tally: Tally,
    pub complete: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    Pump(usize),
    PumpLoop(usize),
}

/// What the current step has done so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepScratch {
    pub number: u64,
    pub now: Timestamp,
    pub commands: Vec<Command>,
    pub changed: Vec<TaskRunKey>,
    pub execution_changed: bool,
}

/// `t + d`, saturating at the end of time instead of overflowing.
pub(crate) fn after(t: Timestamp, d: Duration) -> Timestamp {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

pub(crate) fn ends_ok(state: TaskRunState) -> bool {
    matches!(state, TaskRunState::Success | TaskRunState::Warning | TaskRunState::Skipped)
}

impl Execution {
    pub(crate) fn begin_step(&mut self, now: Timestamp) {
        self.step.number += 1;
        self.step.now = now;
        self.step.commands.clear();
        self.step.changed.clear();
        self.step.execution_changed = false;
    }

    /// Settles RUNNING/PAUSED and hands the step over.
    pub(crate) fn end_step(&mut self) -> super::Step {
        let state = self.record.state;
        if matches!(state, ExecutionState::Running | ExecutionState::Paused) && !self.awaiting_outputs {
            let wanted = if self.busy == 0 && !self.paused.is_empty() {
                ExecutionState::Paused
            } else {
                ExecutionState::Running
            };
            if wanted != state {
                self.record.state = wanted;
                self.touch_record();
            }
        }
        super::Step {
            commands: std::mem::take(&mut self.step.commands),
            changed_runs: std::mem::take(&mut self.step.changed),
            execution_changed: self.step.execution_changed,
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.step.now
    }

    pub(crate) fn command(&mut self, command: Command) {
        self.step.commands.push(command);
    }

    pub(crate) fn touch(&mut self, run: usize) {
        let meta = &mut self.metas[run];
        if meta.stamp != self.step.number {
            meta.stamp = self.step.number;
            self.step.changed.push(self.runs[run].key.clone());
        }
    }

    pub(crate) fn touch_record(&mut self) {
        self.step.execution_changed = true;
    }

    pub(crate) fn set_wait(&mut self, run: usize, wait: Wait) {
        let old = std::mem::replace(&mut self.metas[run].wait, wait);
        if old.is_busy() {
            self.busy -= 1;
        }
        if wait.is_busy() {
            self.busy += 1;
        }
        if old == Wait::Resume {
            self.paused.remove(&run);
        }
        if wait == Wait::Resume {
            self.paused.insert(run);
        }
    }

    pub(crate) fn node_kind(&self, run: usize) -> &NodeKind {
        &self.plan.nodes[self.metas[run].node].kind
    }

    pub(crate) fn region_of(&self, run: usize) -> Region {
        self.plan.nodes[self.metas[run].node].region
    }

    pub(crate) fn killing(&self) -> bool {
        self.record.state == ExecutionState::Killing
    }

    /// No new task starts in `region`: the execution is being killed, the main tasks are
    /// failing (an error is recorded), or a flow timeout stopped the region.
    pub(crate) fn gated(&self, region: Region) -> bool {
        self.killing()
            || match region {
                Region::Main => self.record.error.is_some(),
                other => self.hard_stopped[other.index()],
            }
    }

    pub(crate) fn is_terminal(&self, run: usize) -> bool {
        self.runs[run].state.is_terminal()
    }

    /// Adds the run of member `pos` of list instance `inst` in CREATED and returns it.
    pub(crate) fn create_run(&mut self, inst: usize, pos: usize) -> usize {
        let list = &self.insts[inst];
        let node = self.plan.lists[list.def].members[pos];
        let key = TaskRunKey { task: self.plan.nodes[node].id.clone(), iterations: list.iterations.clone() };
        let parent = self.owner_key(list.owner);
        let run = TaskRun {
            key: key.clone(),
            parent,
            state: TaskRunState::Created,
            attempts: Vec::new(),
            outputs: None,
            error: None,
            value: list.value.clone(),
            created_at: self.now(),
            started_at: None,
            ended_at: None,
        };
        let index = self.runs.len();
        self.runs.push(run);
        self.metas.push(RunMeta {
            node,
            inst,
            wait: Wait::Nothing,
            children: None,
            stamp: 0,
            timed_out: false,
        });
        self.index.insert(key, index);
        self.node_runs[node].push(index);
        let list = &mut self.insts[inst];
        list.runs[pos] = index;
        list.created += 1;
        list.active += 1;
        self.touch(index);
        index
    }

    /// The key of the run that owns a list instance (the `parent` of its members).
    fn owner_key(&self, owner: Owner) -> Option<TaskRunKey> {
        self.inst_owner_run(owner).map(|run| self.runs[run].key.clone())
    }

    /// Moves a run to a terminal state and tells its list.
    pub(crate) fn end_run(&mut self, run: usize, state: TaskRunState, error: Option<String>) {
        debug_assert!(state.is_terminal() && !self.is_terminal(run));
        let now = self.now();
        let r = &mut self.runs[run];
        r.state = state;
        r.ended_at = Some(now);
        if error.is_some() {
            r.error = error;
        }
        self.set_wait(run, Wait::Nothing);
        self.touch(run);
        if state == TaskRunState::Warning {
            self.warnings += 1;
        }
        self.member_ended(run);
        let node = &self.plan.nodes[self.metas[run].node];
        let (contained, region) = (node.contained, node.region);
        if state == TaskRunState::Failed && !contained && self.record.error.is_none() {
            let r = &self.runs[run];
            self.record.error =
                Some(format!("task `{}` failed: {}", r.key, r.error.as_deref().unwrap_or("no reason given")));
            self.touch_record();
            if region == Region::Main {
                self.stop_main_gracefully();
            }
        }
    }

    /// Ends a run as failed: FAILED, or WARNING when the task allows failure.
    pub(crate) fn fail_run(&mut self, run: usize, error: String) {
        let state = if self.plan.nodes[self.metas[run].node].allow_failure {
            TaskRunState::Warning
        } else {
            TaskRunState::Failed
        };
        self.end_run(run, state, Some(error));
    }

    /// Puts a run in RUNNING.
    pub(crate) fn mark_running(&mut self, run: usize) {
        let now = self.now();
        let r = &mut self.runs[run];
        r.state = TaskRunState::Running;
        if r.started_at.is_none() {
            r.started_at = Some(now);
        }
        self.touch(run);
    }

    pub(crate) fn drain(&mut self) {
        while let Some(work) = self.work.pop_front() {
            match work {
                Work::Pump(inst) => self.pump(inst),
                Work::PumpLoop(lp) => self.pump_loop(lp),
            }
        }
    }
}
