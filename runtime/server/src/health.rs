//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sluice_engine::{ALL_EXECUTION_STATES, ExecutionFilter, Store};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the store answers, plugins are loaded (they are before the state exists) and the
/// server is not draining for a shutdown (a load balancer should send new work elsewhere).
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    if state.engine.is_draining() {
        return Err(ApiError::Unavailable("draining for a shutdown: no new executions start here".into()));
    }
    if state.engine.store().get_execution("readyz").await.is_err() {
        return Err(ApiError::Unavailable("the store does not answer".into()));
    }
    if state.engine.plugins().iter().next().is_none() {
        return Err(ApiError::Unavailable("no plugins are loaded".into()));
    }
    Ok("ready")
}

/// The largest count per state the gauge reads; beyond it the gauge saturates.
const COUNT_CAP: u32 = 1_000_000;

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.engine.store();
    let mut counts = Vec::new();
    // The Store trait has no count query; listing ids per state is the honest workaround.
    for s in ALL_EXECUTION_STATES {
        let filter = ExecutionFilter { states: vec![s], limit: COUNT_CAP, ..ExecutionFilter::default() };
        counts.push((s.as_str(), store.list_executions(&filter).await?.len()));
    }
    let gauges = crate::metrics::Gauges {
        queued_executions: state.engine.queued_executions(),
        running_attempts: state.engine.running_attempts(),
        instantiation: state.engine.sandbox().instantiation_stats(),
        leases_held: state.engine.leases_held(),
        cluster: store.cluster_status().await?,
    };
    let text = state.metrics.render(&counts, &gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
