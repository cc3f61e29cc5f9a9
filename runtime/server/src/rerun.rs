//! `POST /executions/{id}/restart` and `POST /executions/{id}/replay?fromTask=`.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sluice_engine::scheduler::RerunError;

use crate::error::ApiError;
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
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let handle = state.engine.restart(&id).await.map_err(api_error)?;
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
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ReplayQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let Query(query) = query?;
    let handle = state.engine.replay(&id, query.from_task.as_deref()).await.map_err(api_error)?;
    let body =
        json!({"executionId": handle.id, "state": "RUNNING", "replayOf": id, "fromTask": query.from_task});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
