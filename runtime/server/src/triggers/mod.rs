//! Triggers: what starts executions without an API call.
//!
//! - `webhook`: [`webhook::receive`] answers `POST|GET /api/v1/webhooks/{namespace}/{flowId}/{key}`
//!   (signatures in `signature`);
//! - `schedule`: one loop per server (`schedule`), cron arithmetic in `cron`;
//! - `flow`: a listener on the engine's updates (`flow`).
//!
//! Every one of them starts through `fire`, i.e. [`sluice_engine::scheduler::Engine::start`],
//! with a trigger document that templates see as `trigger`, so the flow's `concurrency` and
//! input checks apply to every trigger alike. The loops read the deployed flows from a shared
//! index that the flow routes invalidate ([`Triggers::flows_changed`]).

mod api;
mod clock;
mod cron;
mod fire;
mod flow;
mod index;
mod schedule;
mod signature;
mod webhook;

use std::sync::Arc;

use sluice_flow::template::Templates;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use clock::{Clock, SystemClock};
pub use flow::MAX_CHAIN_DEPTH;
pub use schedule::MAX_CATCH_UP;
pub use signature::{GITHUB_HEADER, GITLAB_HEADER, github_signature};

pub(crate) use api::list;
pub(crate) use webhook::receive;

use sluice_engine::scheduler::Engine;

use crate::ServerStore;

/// What the trigger loops read: the engine (deployed flows, executions, starts, updates) and the
/// triggers' shared part. Not the server's whole state: the loops need nothing of the HTTP side.
#[derive(Clone)]
pub struct TriggerContext {
    pub engine: Engine<ServerStore>,
    pub triggers: Arc<Triggers>,
}

/// What the trigger handlers and loops share. One per server.
pub struct Triggers {
    pub(crate) index: index::FlowIndex,
    pub(crate) templates: Templates,
    pub(crate) clock: Arc<dyn Clock>,
    /// Wakes the schedule loop early (a flow changed).
    pub(crate) wake: Notify,
}

impl Triggers {
    pub fn new(clock: Arc<dyn Clock>) -> Triggers {
        Triggers {
            index: index::FlowIndex::default(),
            templates: Templates::new(),
            clock,
            wake: Notify::new(),
        }
    }

    /// A flow was deployed, updated or deleted: schedules and flow triggers follow at once.
    pub fn flows_changed(&self) {
        self.index.invalidate();
        self.wake.notify_one();
    }
}

/// The schedule loop and the flow-trigger listener, running until [`TriggerRuntime::stop`].
pub struct TriggerRuntime {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts the background part of the triggers (webhooks need nothing but the router).
pub fn start(context: TriggerContext) -> TriggerRuntime {
    let (stop, stopped) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(schedule::run(context.clone(), stopped.clone())),
        tokio::spawn(flow::listen(context, stopped)),
    ];
    TriggerRuntime { stop, tasks }
}

/// Only the flow-trigger listener: a worker's triggers.
pub fn start_flow_triggers(context: TriggerContext) -> TriggerRuntime {
    let (stop, stopped) = watch::channel(false);
    TriggerRuntime { stop, tasks: vec![tokio::spawn(flow::listen(context, stopped))] }
}

impl TriggerRuntime {
    /// Stops firing; returns once both loops have ended (a start in progress completes).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
