//! Flow `concurrency`: how many executions of one flow run at once, and what happens to the one
//! over the limit (wait in QUEUED, or end CANCELLED / FAILED at once).
//!
//! The store arbitrates the places ([`Store::take_place`]), so a limit holds across every node
//! on the database. An execution of a limited flow takes a place when it starts (or queues);
//! the commit recording its end frees it, and the node that ended it admits whoever waits
//! ([`Admission::promote`]). Executions of a revision without a limit take no place: they count
//! by their recorded state. The limit applied is the one of the revision being started (for a
//! queued one, the one it was queued under). Queued executions are admitted in the order they
//! were queued, and a newcomer does not overtake them.
//!
//! This module remembers which of this node's executions wait, to start them once admitted:
//! at once when an execution ending here admits them, otherwise within a keeper round
//! ([`Admission::admitted_here`]), whichever node admitted them.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sluice_flow::{ConcurrencyBehavior, Flow};

use crate::records::ExecutionState;
use crate::store::{FlowPlace, PlaceAsk, PlaceOutcome, Store, StoreError};

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

/// This node's executions waiting in QUEUED, by id.
#[derive(Default)]
pub(crate) struct Admission {
    queued: Mutex<HashMap<String, FlowKey>>,
}

impl Admission {
    /// Decides for a new execution of `flow`, taking its place in the store.
    pub(crate) async fn admit<S: Store>(
        &self,
        store: &S,
        flow: &Flow,
        id: &str,
    ) -> Result<Decision, StoreError> {
        let Some(concurrency) = &flow.concurrency else { return Ok(Decision::Start) };
        let ask = match concurrency.behavior {
            ConcurrencyBehavior::Queue => PlaceAsk::StartOrQueue,
            ConcurrencyBehavior::Cancel | ConcurrencyBehavior::Fail => PlaceAsk::Start,
        };
        let place = place_of(flow, id, concurrency.limit);
        let (running, queued) = match patiently(|| store.take_place(&place, ask)).await? {
            PlaceOutcome::Running => return Ok(Decision::Start),
            PlaceOutcome::Queued => {
                self.remember(flow, id);
                return Ok(Decision::Queue);
            }
            PlaceOutcome::Over { running, queued } => (running, queued),
        };
        let reason = |what: &str| {
            format!(
                "{what}: flow {}.{} already has {running} running execution(s){}, its `concurrency.limit` is {}",
                flow.namespace,
                flow.id,
                queued_text(queued),
                concurrency.limit
            )
        };
        Ok(match concurrency.behavior {
            ConcurrencyBehavior::Cancel => Decision::Refuse(
                ExecutionState::Cancelled,
                reason("cancelled (`concurrency.behavior: cancel`)"),
            ),
            _ => Decision::Refuse(ExecutionState::Failed, reason("failed (`concurrency.behavior: fail`)")),
        })
    }

    /// Takes a place for an execution that runs again (restarted in place, or replayed as a new
    /// one) when the flow's limit leaves one and none is queued before it; otherwise the inner
    /// error says why. It never queues nor ends the execution: a rerun's records are rewritten
    /// to continue at once, so over the limit it is refused and the operator tries again later.
    /// `what` names the operation in the refusal. True when a place was taken (to give back if
    /// the rerun does not go through).
    pub(crate) async fn admit_rerun<S: Store>(
        &self,
        store: &S,
        flow: &Flow,
        id: &str,
        what: &str,
    ) -> Result<Result<bool, String>, StoreError> {
        let Some(concurrency) = &flow.concurrency else { return Ok(Ok(false)) };
        let place = place_of(flow, id, concurrency.limit);
        let PlaceOutcome::Over { running, queued } =
            patiently(|| store.take_place(&place, PlaceAsk::Start)).await?
        else {
            return Ok(Ok(true));
        };
        Ok(Err(format!(
            "flow {}.{} already has {running} running execution(s){}, its `concurrency.limit` is {}: \
             a {what} does not queue; try again when one ends",
            flow.namespace,
            flow.id,
            queued_text(queued),
            concurrency.limit
        )))
    }

    /// Queues a recovered QUEUED execution again in the store (it keeps its turn if its place
    /// is stored); its driver [remembers](Admission::remember) it once live.
    pub(crate) async fn requeue<S: Store>(&self, store: &S, flow: &Flow, id: &str) -> Result<(), StoreError> {
        // A revision's limit removed since: whoever promotes next admits it at once.
        let limit = flow.concurrency.as_ref().map_or(u32::MAX, |c| c.limit);
        let place = place_of(flow, id, limit);
        patiently(|| store.take_place(&place, PlaceAsk::Requeue)).await?;
        Ok(())
    }

    /// After an execution of the flow ended here: admits whoever waits for its place. Returns
    /// those this node holds, to start now; the nodes holding the others are told.
    pub(crate) async fn promote<S: Store>(
        &self,
        store: &S,
        key: &FlowKey,
    ) -> Result<Vec<String>, StoreError> {
        let admitted = patiently(|| store.promote_places(&key.0, &key.1)).await?;
        let here = self.take_here(&admitted);
        if admitted.len() > here.len() {
            store.announce_work().await?;
        }
        Ok(here)
    }

    /// This node's queued executions that were admitted meanwhile, by any node (first admitting
    /// those that can be, in case the node that ended an execution died before it did).
    pub(crate) async fn admitted_here<S: Store>(&self, store: &S) -> Result<Vec<String>, StoreError> {
        let (ids, flows): (Vec<String>, HashSet<FlowKey>) = {
            let queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
            (queued.keys().cloned().collect(), queued.values().cloned().collect())
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        for (namespace, flow_id) in &flows {
            store.promote_places(namespace, flow_id).await?;
        }
        let admitted = store.admitted_places(&ids).await?;
        Ok(self.take_here(&admitted))
    }

    /// No longer waiting here (ended, or driven by another node now).
    pub(crate) fn forget(&self, id: &str) {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    /// How many of this node's executions wait.
    pub(crate) fn queued(&self) -> usize {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Waits here: started once admitted.
    pub(crate) fn remember(&self, flow: &Flow, id: &str) {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        queued.insert(id.to_owned(), flow_key(flow));
    }

    /// Those of `admitted` that wait here, no longer waiting (each is started once).
    fn take_here(&self, admitted: &[String]) -> Vec<String> {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        admitted.iter().filter(|id| queued.remove(id.as_str()).is_some()).cloned().collect()
    }
}

fn place_of<'a>(flow: &'a Flow, id: &'a str, limit: u32) -> FlowPlace<'a> {
    FlowPlace { namespace: &flow.namespace, flow_id: &flow.id, execution_id: id, limit }
}

fn queued_text(queued: u64) -> String {
    match queued {
        0 => String::new(),
        n => format!(" and {n} queued"),
    }
}

/// The longest pause between two tries of a request the database could not take.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Runs `call` again while the database is unavailable (a restart, a cut network): an
/// execution waits for its place rather than failing with the database.
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut wait = Duration::from_millis(50);
    loop {
        match call().await {
            Err(StoreError::Unavailable(why)) => {
                tracing::warn!("the database is unavailable ({why}); the `concurrency` request waits for it");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_WAIT);
            }
            other => return other,
        }
    }
}
