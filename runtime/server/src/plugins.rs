//! `/api/v1/plugins`: the installed plugins and their task schemas, in the documents
//! `sluice plugin list|describe --json` print; and deploying a plugin to every node on the
//! database (`POST` with the component's bytes).

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use sluice_engine::document::{plugin_document, plugin_summary};
use sluice_engine::scheduler::DeployError;
use sluice_engine::setup::Origin;

use crate::audit::record;
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let plugins = state.engine.plugins();
    Json(Value::Array(plugins.installed().map(|(plugin, origin)| plugin_summary(plugin, origin)).collect()))
}

pub async fn get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(name) = path?;
    let plugins = state.engine.plugins();
    let (plugin, origin) =
        plugins.find(&name).ok_or_else(|| ApiError::NotFound(format!("no plugin `{name}`")))?;
    Ok(Json(plugin_document(plugin, origin)))
}

/// Deploys the component in the body (`curl --data-binary @plugin.wasm`) under the name it
/// gives itself, to this server at once and to every node on the database within a round.
/// 201 with the plugin's summary; 400 for bytes that are not a plugin; 409 for the name of a
/// built-in plugin or a plugin file installed on this server.
pub async fn deploy(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let wasm = read_body(body, state.limits.upload_bytes(), "a plugin component").await?;
    let plugin = state.engine.deploy_plugin(&wasm).await.map_err(|error| match error {
        DeployError::Load(load) => ApiError::BadRequest(format!("the body is not a sluice plugin: {load}")),
        DeployError::Installed { .. } => ApiError::Conflict(error.to_string()),
        DeployError::Store(store) => store.into(),
    })?;
    let summary = plugin_summary(&plugin, &Origin::Deployed);
    let details = serde_json::json!({"digest": summary["digest"], "version": summary["version"]});
    record(&state, &caller, "plugin.deploy", format!("plugin:{}", plugin.info().name), details).await;
    Ok((StatusCode::CREATED, Json(summary)))
}
