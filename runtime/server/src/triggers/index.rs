//! The deployed flows with their triggers, parsed once and shared by the schedule loop and the
//! flow listener. Reloaded from the store when the API changed a flow (this process) and at
//! least every [`RELOAD_EVERY`] (changes made by another server on the same database).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sluice_engine::Store;
use sluice_flow::LockedFlow;
use tokio::sync::Mutex;

use sluice_engine::scheduler::Engine;

use crate::ServerStore;
use crate::error::BODY_FILE_NAME;

pub const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// One deployed flow, validated against the installed plugins.
#[derive(Clone)]
pub struct IndexedFlow {
    pub flow: LockedFlow,
    pub revision: u32,
}

#[derive(Default)]
pub struct FlowIndex {
    dirty: AtomicBool,
    cached: Mutex<Option<(Instant, Arc<Vec<IndexedFlow>>)>>,
}

impl FlowIndex {
    pub fn invalidate(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// The flows that have triggers, fresh enough.
    pub async fn flows(&self, engine: &Engine<ServerStore>) -> Arc<Vec<IndexedFlow>> {
        let mut cached = self.cached.lock().await;
        let dirty = self.dirty.swap(false, Ordering::SeqCst);
        if let Some((loaded, flows)) = &*cached
            && !dirty
            && loaded.elapsed() < RELOAD_EVERY
        {
            return flows.clone();
        }
        let flows: Arc<Vec<IndexedFlow>> = match engine.store().list_flows(None).await {
            Ok(revisions) => Arc::new(
                revisions
                    .into_iter()
                    .filter_map(|revision| {
                        match sluice_flow::load(BODY_FILE_NAME, &revision.source, &engine.plugins()) {
                            Ok(flow) if !flow.flow.triggers.is_empty() => {
                                Some(IndexedFlow { flow, revision: revision.revision })
                            }
                            Ok(_) => None,
                            Err(_) => {
                                tracing::warn!(
                                    flow = %format!("{}.{}", revision.namespace, revision.id),
                                    "the flow no longer validates; its triggers are ignored"
                                );
                                None
                            }
                        }
                    })
                    .collect(),
            ),
            Err(error) => {
                tracing::error!(%error, "cannot list flows for the triggers; keeping the previous list");
                self.dirty.store(dirty, Ordering::SeqCst);
                return cached.as_ref().map(|(_, flows)| flows.clone()).unwrap_or_default();
            }
        };
        *cached = Some((Instant::now(), flows.clone()));
        flows
    }
}
