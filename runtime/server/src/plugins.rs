//! `/api/v1/plugins`: the installed plugins and their task schemas.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use sluice_sandbox::Plugin;

use crate::error::ApiError;
use crate::state::AppState;

fn summary(plugin: &Plugin) -> Value {
    let info = plugin.info();
    json!({
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "digest": plugin.digest().hex(),
        "tasks": info.tasks.iter().map(|t| format!("{}.{}", info.name, t.name)).collect::<Vec<_>>(),
    })
}

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(Value::Array(state.engine.plugins().iter().map(|p| summary(p)).collect()))
}

pub async fn get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(name) = path?;
    let plugin =
        state.engine.plugins().get(&name).ok_or_else(|| ApiError::NotFound(format!("no plugin `{name}`")))?;
    let mut doc = summary(plugin);
    // Every task with its config and output schemas.
    doc["tasks"] = json!(plugin.info().tasks);
    Ok(Json(doc))
}
