//! `/api/v1/plugins`: the installed plugins and their task schemas, in the documents
//! `sluice plugin list|describe --json` print.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde_json::Value;
use sluice_engine::document::{plugin_document, plugin_summary};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let plugins = state.engine.plugins().installed();
    Json(Value::Array(plugins.map(|(plugin, origin)| plugin_summary(plugin, origin)).collect()))
}

pub async fn get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(name) = path?;
    let found = state.engine.plugins().find(&name);
    let (plugin, origin) = found.ok_or_else(|| ApiError::NotFound(format!("no plugin `{name}`")))?;
    Ok(Json(plugin_document(plugin, origin)))
}
