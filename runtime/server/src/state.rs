//! What every handler shares.

use std::sync::Arc;

use sluice_engine::scheduler::Engine;

use crate::auth::Auth;
use crate::limits::BodyLimits;
use crate::locked::LockedFlows;
use crate::metrics::Metrics;
use crate::store::ServerStore;
use crate::triggers::{SystemClock, TriggerContext, Triggers};

/// The engine (with its store and plugins) and the process's metrics. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine<ServerStore>,
    pub metrics: Arc<Metrics>,
    /// Webhooks, schedules and flow triggers (see [`crate::triggers`]).
    pub triggers: Arc<Triggers>,
    /// Validated flows by stored revision.
    pub locked: Arc<LockedFlows>,
    /// How large an upload may be.
    pub limits: BodyLimits,
    /// Who may do what (see [`crate::auth`]).
    pub auth: Arc<Auth>,
}

impl AppState {
    /// Also starts feeding the task-duration histogram from the engine's live updates, so
    /// it must be called inside a tokio runtime.
    pub fn new(engine: Engine<ServerStore>) -> AppState {
        let metrics = Arc::new(Metrics::default());
        metrics.clone().follow(engine.subscribe());
        let triggers = Arc::new(Triggers::new(Arc::new(SystemClock)));
        AppState {
            engine,
            metrics,
            triggers,
            locked: Arc::default(),
            limits: BodyLimits::default(),
            auth: Arc::default(),
        }
    }

    /// What the trigger loops get of it: the engine and the triggers' shared part.
    pub fn trigger_context(&self) -> TriggerContext {
        TriggerContext { engine: self.engine.clone(), triggers: self.triggers.clone() }
    }

    pub fn with_auth(mut self, auth: Auth) -> AppState {
        self.auth = Arc::new(auth);
        self
    }

    pub fn with_limits(mut self, limits: BodyLimits) -> AppState {
        self.limits = limits;
        self
    }
}
