//! Flow `concurrency`: how many executions of one flow run at once, and what happens to the one
//! over the limit (wait in QUEUED, or end CANCELLED / FAILED at once).
//!
//! Every execution this process drives holds a place here from its start to its end, whether
//! or not its flow sets a limit (a flow may gain one in a later revision while older
//! executions still run). The limit applied is the one of the revision being started or
//! admitted. Queued executions are admitted in the order they were queued.
//!
//! Scope: the count is per process. Recovery rebuilds it from the store (running executions
//! hold their places, queued ones queue again in creation order). Several servers sharing one
//! database would need the store to arbitrate the places instead.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use sluice_flow::{Concurrency, ConcurrencyBehavior, Flow};

use crate::records::ExecutionState;

/// A flow, by `(namespace, id)`.
pub(crate) type FlowKey = (String, String);

pub(crate) fn flow_key(flow: &Flow) -> FlowKey {
    (flow.namespace.clone(), flow.id.clone())
}

/// What to do with an execution that asks to start.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Start,
    Queue,
    Refuse(ExecutionState, String),
}

#[derive(Default)]
pub(crate) struct Admission {
    flows: Mutex<HashMap<FlowKey, Places>>,
}

#[derive(Default)]
struct Places {
    running: HashSet<String>,
    queued: VecDeque<String>,
    /// The limit of the revision last started or queued; None = unbounded.
    limit: Option<usize>,
}

impl Places {
    fn has_room(&self) -> bool {
        self.limit.is_none_or(|limit| self.running.len() < limit)
    }

    /// Takes a place for `id` under `flow`'s limit (recorded as the current one) when the flow
    /// has none, or a place is free and no earlier execution waits for one (a newcomer may not
    /// overtake them). Otherwise nothing changes and the limit that stood in the way is returned.
    fn take_free<'f>(&mut self, flow: &'f Flow, id: &str) -> Option<&'f Concurrency> {
        self.limit = flow.concurrency.as_ref().map(|c| c.limit as usize);
        let over = flow.concurrency.as_ref().filter(|_| !self.has_room() || !self.queued.is_empty());
        if over.is_none() {
            self.running.insert(id.to_owned());
        }
        over
    }

    /// Moves queued executions to running while there is room; returns them.
    fn admit_queued(&mut self) -> Vec<String> {
        let mut admitted = Vec::new();
        while self.has_room() {
            let Some(id) = self.queued.pop_front() else { break };
            self.running.insert(id.clone());
            admitted.push(id);
        }
        admitted
    }
}

impl Admission {
    /// Decides for a new execution of `flow` and records its place.
    pub(crate) fn admit(&self, flow: &Flow, id: &str) -> Decision {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        let places = flows.entry(flow_key(flow)).or_default();
        let Some(concurrency) = places.take_free(flow, id) else { return Decision::Start };
        let reason = |what: &str| {
            format!(
                "{what}: flow {}.{} already has {} running execution(s), its `concurrency.limit` is {}",
                flow.namespace,
                flow.id,
                places.running.len(),
                concurrency.limit
            )
        };
        match concurrency.behavior {
            ConcurrencyBehavior::Queue => {
                places.queued.push_back(id.to_owned());
                Decision::Queue
            }
            ConcurrencyBehavior::Cancel => Decision::Refuse(
                ExecutionState::Cancelled,
                reason("cancelled (`concurrency.behavior: cancel`)"),
            ),
            ConcurrencyBehavior::Fail => {
                Decision::Refuse(ExecutionState::Failed, reason("failed (`concurrency.behavior: fail`)"))
            }
        }
    }

    /// Takes a place for an execution that runs again (restarted in place, or replayed as a new
    /// one) when the flow's limit leaves one and none is queued before it; otherwise says why.
    /// It never queues nor ends the execution: a rerun's records are rewritten to continue at
    /// once, so over the limit it is refused and the operator tries again later. `what` names
    /// the operation in the refusal.
    pub(crate) fn admit_rerun(&self, flow: &Flow, id: &str, what: &str) -> Result<(), String> {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        let places = flows.entry(flow_key(flow)).or_default();
        let Some(concurrency) = places.take_free(flow, id) else { return Ok(()) };
        let queued = match places.queued.len() {
            0 => String::new(),
            n => format!(" and {n} queued"),
        };
        Err(format!(
            "flow {}.{} already has {} running execution(s){queued}, its `concurrency.limit` is {}: \
             a {what} does not queue; try again when one ends",
            flow.namespace,
            flow.id,
            places.running.len(),
            concurrency.limit
        ))
    }

    /// Records an execution that runs without asking (recovered).
    pub(crate) fn occupy(&self, key: FlowKey, id: &str) {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        flows.entry(key).or_default().running.insert(id.to_owned());
    }

    /// Queues a recovered QUEUED execution behind those already queued.
    pub(crate) fn requeue(&self, flow: &Flow, id: &str) {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        let places = flows.entry(flow_key(flow)).or_default();
        places.limit = flow.concurrency.as_ref().map(|c| c.limit as usize);
        places.queued.push_back(id.to_owned());
    }

    /// Frees the place of an execution that ended; returns the queued ones admitted now.
    pub(crate) fn release(&self, key: &FlowKey, id: &str) -> Vec<String> {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(places) = flows.get_mut(key) else { return Vec::new() };
        places.running.remove(id);
        places.queued.retain(|queued| queued != id);
        let admitted = places.admit_queued();
        if places.running.is_empty() && places.queued.is_empty() {
            flows.remove(key);
        }
        admitted
    }

    /// How many executions wait, over every flow.
    pub(crate) fn queued(&self) -> usize {
        let flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        flows.values().map(|places| places.queued.len()).sum()
    }

    /// Admits queued executions where there is room (after recovery).
    pub(crate) fn admit_waiting(&self) -> Vec<String> {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        flows.values_mut().flat_map(Places::admit_queued).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn flow(concurrency: &str) -> Flow {
        let yaml = format!(
            "id: f\nnamespace: t\n{concurrency}tasks:\n  - id: a\n    type: flow.sleep\n    duration: 1s\n"
        );
        sluice_flow::parse("f.yaml", &yaml).unwrap().flow
    }

    #[test]
    fn queue_admits_in_order_when_places_free() {
        let f = flow("concurrency: {limit: 2, behavior: queue}\n");
        let admission = Admission::default();
        assert_eq!(admission.admit(&f, "1"), Decision::Start);
        assert_eq!(admission.admit(&f, "2"), Decision::Start);
        assert_eq!(admission.admit(&f, "3"), Decision::Queue);
        assert_eq!(admission.admit(&f, "4"), Decision::Queue);
        let key = flow_key(&f);
        assert_eq!(
            admission.release(&key, "4"),
            Vec::<String>::new(),
            "a queued one that ends frees nothing"
        );
        assert_eq!(admission.release(&key, "1"), ["3"]);
        assert_eq!(admission.admit(&f, "5"), Decision::Queue);
        assert_eq!(admission.release(&key, "2"), ["5"]);
    }

    #[test]
    fn cancel_and_fail_refuse_with_the_reason() {
        let admission = Admission::default();
        let cancel = flow("concurrency: {limit: 1, behavior: cancel}\n");
        assert_eq!(admission.admit(&cancel, "1"), Decision::Start);
        let Decision::Refuse(state, reason) = admission.admit(&cancel, "2") else { panic!() };
        assert_eq!(state, ExecutionState::Cancelled);
        assert_eq!(
            reason,
            "cancelled (`concurrency.behavior: cancel`): flow t.f already has 1 running execution(s), its `concurrency.limit` is 1"
        );
        let fail = flow("concurrency: {limit: 1, behavior: fail}\n");
        assert!(matches!(admission.admit(&fail, "3"), Decision::Refuse(ExecutionState::Failed, _)));
        admission.release(&flow_key(&fail), "1");
        assert_eq!(admission.admit(&fail, "4"), Decision::Start);
    }

    #[test]
    fn a_rerun_takes_a_free_place_or_is_refused_without_queueing() {
        let admission = Admission::default();
        let f = flow("concurrency: {limit: 1, behavior: queue}\n");
        assert_eq!(admission.admit_rerun(&f, "1", "restart"), Ok(()));
        assert_eq!(admission.admit(&f, "2"), Decision::Queue);
        assert_eq!(
            admission.admit_rerun(&f, "3", "replay"),
            Err("flow t.f already has 1 running execution(s) and 1 queued, its `concurrency.limit` is 1: \
                 a replay does not queue; try again when one ends"
                .into())
        );
        assert_eq!(admission.queued(), 1, "the refused one did not queue");
        let key = flow_key(&f);
        assert_eq!(admission.release(&key, "1"), ["2"]);
        assert!(admission.admit_rerun(&f, "4", "restart").is_err(), "2 runs now");
        admission.release(&key, "2");
        assert_eq!(admission.admit_rerun(&f, "4", "restart"), Ok(()));
        assert_eq!(admission.admit_rerun(&flow(""), "5", "replay"), Ok(()), "no limit");
    }

    #[test]
    fn without_a_limit_everything_starts_and_recovered_queues_drain() {
        let admission = Admission::default();
        let open = flow("");
        for id in ["1", "2", "3"] {
            assert_eq!(admission.admit(&open, id), Decision::Start);
        }
        let limited = flow("concurrency: {limit: 4, behavior: queue}\n");
        admission.requeue(&limited, "9");
        admission.requeue(&limited, "10");
        assert_eq!(admission.admit_waiting(), ["9"], "3 running + 1 admitted = the limit of 4");
    }
}
