//! `POST /executions/{id}/restart` and `POST /executions/{id}/replay?fromTask=`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sluice_engine::scheduler::RerunError;

use sluice_governance::Role;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::executions::{find, record_on};
use crate::state::AppState;

fn api_error(error: RerunError) -> ApiError {
    match error {
        RerunError::NotFound(id) => ApiError::NotFound(format!("no execution {id}")),
        RerunError::Refused(why) => ApiError::Conflict(why),
        RerunError::ShuttingDown => ApiError::Unavailable(RerunError::ShuttingDown.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Re-runs the failed and killed tasks of a FAILED or KILLED execution, in place.
pub async fn restart(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let execution = find(&state, &caller, Role::Runner, &id).await?;
    let handle = state.engine.restart(&id).await.map_err(api_error)?;
    record_on(&state, &caller, "execution.restart", &execution).await;
    Ok((StatusCode::ACCEPTED, Json(json!({"executionId": handle.id, "state": "RUNNING"}))).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ReplayQuery {
    #[serde(rename = "fromTask")]
    from_task: Option<String>,
}

/// A new execution of the same flow revision and inputs, keeping what ran before `fromTask`.
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReplayQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let Query(query) = query?;
    let execution = find(&state, &caller, Role::Runner, &id).await?;
    let handle = state.engine.replay(&id, query.from_task.as_deref()).await.map_err(api_error)?;
    let details = json!({"replayOf": id, "fromTask": query.from_task, "flow": format!("{}.{}", execution.namespace, execution.flow_id)});
    crate::audit::record(&state, &caller, "execution.replay", format!("execution:{}", handle.id), details)
        .await;
    let body =
        json!({"executionId": handle.id, "state": "RUNNING", "replayOf": id, "fromTask": query.from_task});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
