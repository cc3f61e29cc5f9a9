//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sluice_engine::{ALL_EXECUTION_STATES, ExecutionFilter, Store};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the store answers and plugins are loaded (they are before the state exists,
/// so this mostly checks the store).
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store_ok = state.engine.store().get_execution("readyz").await.is_ok();
    let plugins_ok = state.engine.plugins().iter().next().is_some();
    if store_ok && plugins_ok {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
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
    };
    let text = state.metrics.render(&counts, &gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
