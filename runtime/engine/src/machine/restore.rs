//! Rebuilding an execution from its records. The records hold everything the machine decides
//! on; what it keeps beside them (list instances, counters, what each run waits for) is derived
//! here the way the live steps built it:
//!
//! - a run's list instance comes from its `parent` (and, in a loop, its last iteration index);
//! - a `flow.if`/`flow.switch` branch is the list its children belong to; a condition that was
//!   being evaluated (no children yet) is asked for again;
//! - a `flow.forEach`'s values are its `outputs.values`; iterations start in order;
//! - an attempt still RUNNING died with the old process (or the node that lost the lease):
//!   it is marked FAILED "interrupted: its server stopped or lost the execution" and a new
//!   attempt is dispatched (at-least-once); an attempt KILLED without an end time had its
//!   `Cancel` sent: it ends KILLED now;
//! - a started native task with a `timeout` asks again for it, due `timeout` after it started;
//!   one that had timed out (its error is set while it is still open) starts no new child;
//! - RETRYING asks again for its timer, due the same instant as before (the backoff after the
//!   last attempt's end); a pause's timeout is due `timeout` after the pause started; a sleep's
//!   duration is evaluated again and counted from the sleep's start;
//! - a subflow without an `executionId` output is started again (the scheduler makes starting
//!   idempotent on the parent run); one with an id keeps waiting for `SubflowEnded`;
//! - the current region is the last one with runs; `record.error` on a running execution means
//!   the main tasks are failing.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use sluice_flow::Flow;

use super::attempts::{INTERRUPTED, is_cancelling};
use super::plan::{NodeKind, Region};
use super::state::{BLOCKED, Children, NO_RUN, RunMeta, Wait, Work, ends_ok};
use super::{Evaluate, Execution, Step};
use crate::records::{ExecutionRecord, ExecutionState, TaskRun, TaskRunState, Timestamp};

/// Placeholder for a run that could not be placed (a record that does not fit the flow).
const UNPLACED: usize = usize::MAX;

impl Execution {
    pub(crate) fn restore_from(
        flow: Arc<Flow>,
        record: ExecutionRecord,
        runs: Vec<TaskRun>,
        now: Timestamp,
    ) -> (Self, Step) {
        let mut ex = Self::fresh(flow, record);
        ex.begin_step(now);
        ex.load(runs);
        let state = ex.record.state;
        if state.is_terminal() || matches!(state, ExecutionState::Created | ExecutionState::Queued) {
            return (ex, Step::default());
        }
        ex.place_runs();
        ex.count_predecessors();
        ex.derive_counters();
        for run in 0..ex.runs.len() {
            if ex.metas[run].inst != UNPLACED && !ex.is_terminal(run) {
                ex.resume_run(run);
            }
        }
        // Started with no run persisted (an empty main list): scheduled with the rest below.
        ex.region_inst(Region::Main);
        ex.work.extend((0..ex.insts.len()).map(Work::Pump));
        ex.work.extend((0..ex.loops.len()).map(Work::PumpLoop));
        ex.drain();
        let step = ex.end_step();
        (ex, step)
    }

    /// Indexes the runs of tasks this flow has; others are left out.
    fn load(&mut self, runs: Vec<TaskRun>) {
        for run in runs {
            let Some(&node) = self.plan.by_id.get(&run.key.task) else { continue };
            if self.index.contains_key(&run.key) {
                continue;
            }
            let index = self.runs.len();
            self.index.insert(run.key.clone(), index);
            self.node_runs[node].push(index);
            // Only a native task's timeout leaves an error on a run that has not ended.
            let timed_out = !run.state.is_terminal() && run.error.is_some();
            self.metas.push(RunMeta {
                node,
                inst: UNPLACED,
                wait: Wait::Nothing,
                children: None,
                stamp: 0,
                timed_out,
            });
            self.runs.push(run);
        }
    }

    /// Puts every run in its list instance, creating the instances, in creation order (a
    /// parent is always created before its children).
    fn place_runs(&mut self) {
        let mut iterations: HashMap<(usize, usize), usize> = HashMap::new();
        for run in 0..self.runs.len() {
            let node = self.metas[run].node;
            let inst = match self.runs[run].parent.clone() {
                None => {
                    let region = self.plan.nodes[node].region;
                    if self.plan.nodes[node].parent.is_some() {
                        continue;
                    }
                    self.region_inst(region)
                }
                Some(parent_key) => {
                    let Some(&parent) = self.index.get(&parent_key) else { continue };
                    if self.metas[parent].inst == UNPLACED
                        || self.plan.nodes[node].parent != Some(self.metas[parent].node)
                    {
                        continue;
                    }
                    let loop_of_parent = match self.metas[parent].children {
                        Some(Children::List(inst)) if self.insts[inst].def == self.plan.nodes[node].list => {
                            Ok(inst)
                        }
                        Some(Children::List(_)) => continue,
                        Some(Children::Loop(lp)) => Err(lp),
                        None => match self.plan.nodes[self.metas[parent].node].kind {
                            NodeKind::ForEach { .. } => {
                                let values = self.runs[parent]
                                    .outputs
                                    .as_ref()
                                    .and_then(|o| o.get("values"))
                                    .and_then(Value::as_array)
                                    .cloned()
                                    .unwrap_or_default();
                                match self.attach_loop(parent, values) {
                                    Some(lp) => Err(lp),
                                    None => continue,
                                }
                            }
                            _ => Ok(self.attach_list(parent, self.plan.nodes[node].list)),
                        },
                    };
                    match loop_of_parent {
                        Ok(inst) => inst,
                        Err(lp) => {
                            let Some(&index) = self.runs[run].key.iterations.last() else { continue };
                            let index = index as usize;
                            match iterations.get(&(lp, index)) {
                                Some(&inst) => inst,
                                None => {
                                    let inst = self.attach_iteration(lp, index);
                                    iterations.insert((lp, index), inst);
                                    let lo = &mut self.loops[lp];
                                    lo.next = lo.next.max(index + 1);
                                    inst
                                }
                            }
                        }
                    }
                }
            };
            let pos = self.plan.nodes[node].pos;
            let terminal = self.is_terminal(run);
            let state = self.runs[run].state;
            let list = &mut self.insts[inst];
            if list.runs[pos] != NO_RUN {
                continue;
            }
            list.runs[pos] = run;
            list.created += 1;
            if terminal {
                list.tally.add(state, Some(run));
            } else {
                list.active += 1;
            }
            self.metas[run].inst = inst;
        }
        // Iterations start in order: one before the last started that left no run (an empty
        // body) is started again.
        for lp in 0..self.loops.len() {
            for index in 0..self.loops[lp].next {
                if !iterations.contains_key(&(lp, index)) {
                    self.attach_iteration(lp, index);
                }
            }
        }
        // A region that a later one followed is done with.
        for region in [Region::Main, Region::Errors] {
            let later = Region::ALL[region.index() + 1..].iter().any(|r| self.regions[r.index()].is_some());
            if let Some(inst) = self.regions[region.index()]
                && later
            {
                self.insts[inst].complete = true;
            }
        }
    }

    /// Predecessor counts and ready members, from the members that already ended.
    fn count_predecessors(&mut self) {
        for inst in 0..self.insts.len() {
            let def = &self.plan.lists[self.insts[inst].def];
            let mut waiting: Vec<u32> = def.preds.iter().map(|p| p.len() as u32).collect();
            for (pos, &run) in self.insts[inst].runs.iter().enumerate() {
                if run == NO_RUN || !self.runs[run].state.is_terminal() {
                    continue;
                }
                let ok = ends_ok(self.runs[run].state);
                for &next in &def.succs[pos] {
                    if waiting[next] != BLOCKED {
                        waiting[next] = if ok { waiting[next].saturating_sub(1) } else { BLOCKED };
                    }
                }
            }
            let list = &mut self.insts[inst];
            list.ready = (0..waiting.len())
                .filter(|&pos| waiting[pos] == 0 && list.runs[pos] == NO_RUN)
                .map(std::cmp::Reverse)
                .collect();
            list.waiting = waiting;
        }
    }

    fn derive_counters(&mut self) {
        self.warnings = self.runs.iter().filter(|r| r.state == TaskRunState::Warning).count();
        for run in 0..self.runs.len() {
            let region = self.region_of(run);
            let r = &self.runs[run];
            let stopped = r.state == TaskRunState::Killed || r.attempts.last().is_some_and(is_cancelling);
            if region != Region::Main && stopped {
                self.hard_stopped[region.index()] = true;
            }
        }
    }

    /// Sets what a non-terminal run waits for and asks again for what it was waiting on.
    fn resume_run(&mut self, run: usize) {
        let running = self.runs[run].state == TaskRunState::Running;
        self.resume_wait(run);
        // A started native task asks again for its own deadline (a CREATED one did on start).
        if running && !self.is_terminal(run) {
            self.start_task_timeout(run);
        }
    }

    fn resume_wait(&mut self, run: usize) {
        let region = self.region_of(run);
        let stopped = self.killing()
            || (region != Region::Main && self.hard_stopped[region.index()])
            || self.inside_timed_out(run);
        if self.metas[run].children.is_some() {
            return self.set_wait(run, Wait::Children);
        }
        if self.runs[run].state == TaskRunState::Created {
            return if stopped {
                self.end_run(run, TaskRunState::Killed, Some("killed".to_owned()))
            } else {
                self.start_run(run)
            };
        }
        match *self.node_kind(run) {
            NodeKind::Plugin => return self.resume_attempt(run, stopped),
            NodeKind::Sequential { list } | NodeKind::Parallel { list } => return self.open_list(run, list),
            _ if stopped => return self.end_run(run, TaskRunState::Killed, Some("killed".to_owned())),
            _ => {}
        }
        match self.node_kind(run) {
            NodeKind::If { .. } => self.ask(run, Evaluate::IfCondition),
            NodeKind::Switch { .. } => self.ask(run, Evaluate::SwitchValue),
            NodeKind::ForEach { .. } => {
                let values =
                    self.runs[run].outputs.as_ref().and_then(|o| o.get("values")).and_then(Value::as_array);
                match values.cloned() {
                    Some(values) => self.open_loop(run, values),
                    None => self.ask(run, Evaluate::ForEachValues),
                }
            }
            NodeKind::Subflow { wait } => match (self.runs[run].outputs.is_some(), *wait) {
                (false, _) => self.start_subflow(run),
                (true, true) => self.set_wait(run, Wait::SubflowEnd),
                (true, false) => self.end_run(run, TaskRunState::Success, None),
            },
            NodeKind::Pause { .. } => self.wait_for_resume(run),
            NodeKind::Sleep => self.ask(run, Evaluate::SleepDuration),
            NodeKind::Fail => self.ask(run, Evaluate::FailMessage),
            NodeKind::Plugin | NodeKind::Sequential { .. } | NodeKind::Parallel { .. } => {}
        }
    }

    fn resume_attempt(&mut self, run: usize, stopped: bool) {
        let now = self.now();
        if self.runs[run].state == TaskRunState::Retrying {
            return if stopped {
                self.end_run(run, TaskRunState::Killed, Some("killed".to_owned()))
            } else {
                self.wait_for_retry(run)
            };
        }
        let last = self.runs[run].attempts.last_mut();
        match last {
            Some(attempt) if is_cancelling(attempt) => {
                attempt.ended_at = Some(now);
                let reason = attempt.error.clone();
                self.end_run(run, TaskRunState::Killed, reason);
            }
            Some(attempt) if attempt.state == TaskRunState::Running => {
                attempt.state = TaskRunState::Failed;
                attempt.ended_at = Some(now);
                attempt.error = Some(INTERRUPTED.to_owned());
                self.touch(run);
                if stopped {
                    self.end_run(run, TaskRunState::Killed, Some("killed".to_owned()));
                } else {
                    self.dispatch(run);
                }
            }
            _ if stopped => self.end_run(run, TaskRunState::Killed, Some("killed".to_owned())),
            _ => self.dispatch(run),
        }
    }
}
