//! Scheduling inside task lists and loops. A list member starts once every predecessor ended
//! SUCCESS, WARNING or SKIPPED, as long as the list has a free slot and its region is not
//! stopped; a list is complete when no member runs and none can start. Work is queued and
//! drained (see [`Execution::drain`]) so a member that ends while its list is being filled
//! never re-enters the list half-updated.

use std::cmp::Reverse;

use serde_json::Value;

use super::Execution;
use super::plan::{NodeKind, Region};
use super::state::{BLOCKED, Children, ListInst, LoopInst, NO_RUN, Owner, Tally, Wait, Work, ends_ok};
use crate::records::TaskRunState;

impl Execution {
    /// A fresh instance of list `def`; nothing starts until it is pumped.
    pub(crate) fn new_inst(
        &mut self,
        def: usize,
        owner: Owner,
        region: Region,
        iterations: Vec<u32>,
        value: Option<Value>,
    ) -> usize {
        let list = &self.plan.lists[def];
        let waiting: Vec<u32> = list.preds.iter().map(|p| p.len() as u32).collect();
        let ready =
            waiting.iter().enumerate().filter(|(_, w)| **w == 0).map(|(pos, _)| Reverse(pos)).collect();
        self.insts.push(ListInst {
            def,
            owner,
            region,
            iterations,
            value,
            runs: vec![NO_RUN; list.members.len()],
            waiting,
            ready,
            active: 0,
            created: 0,
            tally: Tally::default(),
            complete: false,
        });
        self.insts.len() - 1
    }

    /// Gives a control-flow run its children (the list `def`) and schedules them.
    pub(crate) fn open_list(&mut self, run: usize, def: usize) {
        let inst = self.attach_list(run, def);
        self.set_wait(run, Wait::Children);
        self.work.push_back(Work::Pump(inst));
    }

    /// The list instance of a control-flow run's children, with the run's key suffix and value.
    pub(crate) fn attach_list(&mut self, run: usize, def: usize) -> usize {
        let region = self.region_of(run);
        let r = &self.runs[run];
        let (iterations, value) = (r.key.iterations.clone(), r.value.clone());
        let inst = self.new_inst(def, Owner::Run(run), region, iterations, value);
        self.metas[run].children = Some(Children::List(inst));
        inst
    }

    /// Gives a `flow.forEach` run its iterations over `values` and schedules them.
    pub(crate) fn open_loop(&mut self, run: usize, values: Vec<Value>) {
        let Some(lp) = self.attach_loop(run, values) else { return };
        self.set_wait(run, Wait::Children);
        self.work.push_back(Work::PumpLoop(lp));
    }

    /// The iterations of a `flow.forEach` run, none started yet.
    pub(crate) fn attach_loop(&mut self, run: usize, values: Vec<Value>) -> Option<usize> {
        let NodeKind::ForEach { body, concurrency } = *self.node_kind(run) else {
            return None;
        };
        self.loops.push(LoopInst {
            run,
            body,
            values,
            concurrency,
            next: 0,
            active: 0,
            tally: Tally::default(),
            complete: false,
        });
        let lp = self.loops.len() - 1;
        self.metas[run].children = Some(Children::Loop(lp));
        Some(lp)
    }

    /// Starts every ready member there is room for, then checks whether the list is complete.
    pub(crate) fn pump(&mut self, inst: usize) {
        if self.insts[inst].complete {
            return;
        }
        if let Owner::Run(owner) = self.insts[inst].owner
            && self.is_terminal(owner)
        {
            // The owner already ended (seen when restoring): its list does nothing more.
            self.insts[inst].complete = true;
            return;
        }
        let region = self.insts[inst].region;
        let limit = self.plan.lists[self.insts[inst].def].concurrency;
        let stopped = |ex: &Self| ex.gated(region) || ex.under_timeout(inst);
        loop {
            let full = limit != 0 && self.insts[inst].active >= limit;
            if full || stopped(self) {
                break;
            }
            let Some(Reverse(pos)) = self.insts[inst].ready.pop() else { break };
            let run = self.create_run(inst, pos);
            self.start_run(run);
        }
        let list = &self.insts[inst];
        if list.active == 0 && (list.ready.is_empty() || stopped(self)) {
            self.complete_inst(inst);
        }
    }

    /// Records that a member's run ended: unblocks or blocks its successors.
    pub(crate) fn member_ended(&mut self, run: usize) {
        let state = self.runs[run].state;
        let meta = &self.metas[run];
        let (inst, pos) = (meta.inst, self.plan.nodes[meta.node].pos);
        let def = self.insts[inst].def;
        let succs = &self.plan.lists[def].succs[pos];
        let list = &mut self.insts[inst];
        list.active -= 1;
        list.tally.add(state, Some(run));
        for &next in succs {
            let waiting = &mut list.waiting[next];
            if *waiting == BLOCKED {
                continue;
            }
            if ends_ok(state) {
                *waiting -= 1;
                if *waiting == 0 && list.runs[next] == NO_RUN {
                    list.ready.push(Reverse(next));
                }
            } else {
                *waiting = BLOCKED;
            }
        }
        self.work.push_back(Work::Pump(inst));
    }

    /// The state a list's owner ends in, from how its members ended.
    pub(crate) fn inst_outcome(&self, inst: usize) -> (TaskRunState, Option<String>) {
        let list = &self.insts[inst];
        let unrun = list.runs.len() - list.created as usize;
        self.outcome(&list.tally, unrun)
    }

    /// FAILED if a child FAILED (or KILLED, unless the execution is being killed: then KILLED);
    /// KILLED if children never ran because their region stopped; else WARNING if a child is
    /// WARNING; else SUCCESS.
    fn outcome(&self, tally: &Tally, unrun: usize) -> (TaskRunState, Option<String>) {
        let named = |tally: &Tally| match tally.first_bad {
            Some(run) => {
                let r = &self.runs[run];
                format!("task `{}` ended {}", r.key, r.state)
            }
            None => "a task failed".to_owned(),
        };
        if tally.failed > 0 {
            (TaskRunState::Failed, Some(named(tally)))
        } else if tally.killed > 0 {
            if self.killing() {
                (TaskRunState::Killed, Some("killed".to_owned()))
            } else {
                (TaskRunState::Failed, Some(named(tally)))
            }
        } else if unrun > 0 {
            (TaskRunState::Killed, Some("stopped before all its tasks ran".to_owned()))
        } else if tally.warned > 0 {
            (TaskRunState::Warning, None)
        } else {
            (TaskRunState::Success, None)
        }
    }

    fn complete_inst(&mut self, inst: usize) {
        self.insts[inst].complete = true;
        let (state, error) = self.inst_outcome(inst);
        match self.insts[inst].owner {
            Owner::Run(run) => self.finish_container(run, state, error),
            Owner::Iteration(lp) => {
                let first_bad = self.insts[inst].tally.first_bad;
                let lo = &mut self.loops[lp];
                lo.active -= 1;
                lo.tally.add(state, first_bad);
                self.work.push_back(Work::PumpLoop(lp));
            }
            Owner::Region(region) => self.region_complete(region),
        }
    }

    /// Ends a control-flow run with its children's outcome (FAILED becomes WARNING when the
    /// task allows failure).
    pub(crate) fn finish_container(&mut self, run: usize, state: TaskRunState, error: Option<String>) {
        if self.is_terminal(run) {
            return;
        }
        // Its own timeout passed: it fails with that, whatever its children did.
        let (state, error) = if self.metas[run].timed_out {
            (TaskRunState::Failed, self.runs[run].error.clone())
        } else {
            (state, error)
        };
        if state == TaskRunState::Failed && self.plan.nodes[self.metas[run].node].allow_failure {
            self.end_run(run, TaskRunState::Warning, error);
        } else {
            self.end_run(run, state, error);
        }
    }

    /// Starts iterations while there is room, then checks whether the loop is complete.
    pub(crate) fn pump_loop(&mut self, lp: usize) {
        let run = self.loops[lp].run;
        if self.loops[lp].complete {
            return;
        }
        if self.is_terminal(run) {
            self.loops[lp].complete = true;
            return;
        }
        let region = self.region_of(run);
        let stopped = |ex: &Self| ex.gated(region) || ex.stopped_by_timeout(run);
        loop {
            let lo = &self.loops[lp];
            if lo.next >= lo.values.len() || (lo.concurrency != 0 && lo.active >= lo.concurrency) {
                break;
            }
            if stopped(self) {
                break;
            }
            self.start_iteration(lp);
        }
        let lo = &self.loops[lp];
        if lo.active == 0 && (lo.next >= lo.values.len() || stopped(self)) {
            let unrun = lo.values.len().saturating_sub(lo.next);
            let (state, error) = self.outcome(&lo.tally, unrun);
            self.loops[lp].complete = true;
            self.finish_container(run, state, error);
        }
    }

    fn start_iteration(&mut self, lp: usize) {
        let lo = &mut self.loops[lp];
        let index = lo.next;
        lo.next += 1;
        let inst = self.attach_iteration(lp, index);
        self.work.push_back(Work::Pump(inst));
    }

    /// The list instance of iteration `index` of a loop, counted as active.
    pub(crate) fn attach_iteration(&mut self, lp: usize, index: usize) -> usize {
        let lo = &mut self.loops[lp];
        lo.active += 1;
        let (run, body) = (lo.run, lo.body);
        let value = lo.values.get(index).cloned().unwrap_or(Value::Null);
        let mut iterations = self.runs[run].key.iterations.clone();
        iterations.push(index as u32);
        let region = self.region_of(run);
        self.new_inst(body, Owner::Iteration(lp), region, iterations, Some(value))
    }
}
