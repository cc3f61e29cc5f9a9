//! `/api/v1/executions`: start, list, read, kill and resume executions.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_engine::scheduler::StartRequest;
use sluice_engine::{ExecutionFilter, ExecutionRecord, ExecutionState, Store, TaskRunKey, Timestamp};

use crate::document::{execution_document, execution_summary};
use crate::error::{ApiError, read_body};
use crate::labels::{LabelQuery, parse_labels};
use crate::limits::INPUTS_BODY_LIMIT;
use crate::state::AppState;
use crate::upload::{StartInputs, json_inputs, start_inputs};

/// Default and largest page of `GET /executions`.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    wait: bool,
}

pub async fn start(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<StartQuery>, QueryRejection>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let Path((namespace, flow_id)) = path?;
    let Query(query) = query?;
    // Uploaded files live until the engine has copied them, i.e. until `start` returns.
    let given = start_inputs(request, &state.limits).await?;
    let store = state.engine.store();
    let Some(flow) = store.get_flow(&namespace, &flow_id, None).await? else {
        return Err(ApiError::NotFound(format!("no flow {namespace}.{flow_id}")));
    };
    // Validated against the installed plugins (once per revision for this server).
    let locked = state.locked.get_fresh(&state.engine, &flow).await?;
    given.check_files(&locked.flow.inputs)?;
    let StartInputs { inputs, _uploads, .. } = given;
    let request = StartRequest {
        flow: locked,
        revision: flow.revision,
        inputs,
        labels: BTreeMap::new(),
        trigger: Some(json!({"type": "api"})),
        parent: None,
    };
    let mut handle = state.engine.start(request).await?;
    let id = handle.id.clone();
    if !query.wait {
        // The answer gives the id: a GET with it must find the execution.
        handle.recorded().await;
        let state_now = store.get_execution(&id).await?.map_or(ExecutionState::Created, |r| r.state);
        return Ok(
            (StatusCode::ACCEPTED, Json(json!({"executionId": id, "state": state_now}))).into_response()
        );
    }
    let Some(done) = handle.finished().await else {
        return Err(ApiError::Internal(format!("execution {id} stopped without a final state")));
    };
    Ok(Json(execution_document(&done.record, &done.task_runs)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    namespace: Option<String>,
    #[serde(rename = "flowId")]
    flow_id: Option<String>,
    /// The executions a `flow.subflow` task of this one started.
    parent: Option<String>,
    /// Comma-separated state names.
    state: Option<String>,
    #[serde(flatten)]
    labels: LabelQuery,
    /// RFC 3339; see [`time_bound`].
    after: Option<String>,
    before: Option<String>,
    offset: Option<u32>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let mut states = Vec::new();
    for name in query.state.iter().flat_map(|s| s.split(',')) {
        let parsed = ExecutionState::parse(&name.to_ascii_uppercase())
            .ok_or_else(|| ApiError::BadRequest(format!("`{name}` is not an execution state")))?;
        states.push(parsed);
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let filter = ExecutionFilter {
        namespace: query.namespace,
        flow_id: query.flow_id,
        parent: query.parent,
        states,
        labels: parse_labels(&query.labels)?,
        created_after: query.after.as_deref().map(|t| time_bound("after", t)).transpose()?,
        created_before: query.before.as_deref().map(|t| time_bound("before", t)).transpose()?,
        offset: query.offset.unwrap_or(0),
        limit,
    };
    let records = state.engine.store().list_executions(&filter).await?;
    Ok(Json(Value::Array(records.iter().map(execution_summary).collect())))
}

/// An `after`/`before` bound: an RFC 3339 time (`2026-05-01T10:00:00Z`, `...+02:00`). A `+` left
/// unencoded in a query string arrives as a space; as RFC 3339 has no other space before an
/// offset, `... 02:00` is read as `...+02:00`.
fn time_bound(name: &str, text: &str) -> Result<Timestamp, ApiError> {
    let text = text.trim_start();
    let restored;
    let text = match text.rsplit_once(' ') {
        Some((time, offset)) if is_offset(offset) && time.contains(':') => {
            restored = format!("{time}+{offset}");
            &restored
        }
        _ => text,
    };
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&chrono::Utc)).map_err(|_| {
        ApiError::BadRequest(format!(
            "`{name}={text}` is not an RFC 3339 time: write it like 2026-05-01T10:00:00Z, or with an \
             offset encoded as %2B (`+` in a query string means a space): 2026-05-01T12:00:00%2B02:00"
        ))
    })
}

/// `hh:mm`.
fn is_offset(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit())
}

pub(crate) async fn find(state: &AppState, id: &str) -> Result<ExecutionRecord, ApiError> {
    state
        .engine
        .store()
        .get_execution(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no execution {id}")))
}

pub async fn get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = path?;
    let record = find(&state, &id).await?;
    let runs = state.engine.store().task_runs(&id).await?;
    let mut doc = execution_summary(&record);
    let mut full = execution_document(&record, &runs);
    doc["outputs"] = full["outputs"].take();
    doc["taskRuns"] = full["taskRuns"].take();
    Ok(Json(doc))
}

pub async fn kill(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let record = find(&state, &id).await?;
    // Here, or through the store for the server that drives it.
    if !state.engine.kill_anywhere(&id).await? {
        return Err(ApiError::Conflict(format!("execution {id} is not running (it is {})", record.state)));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"executionId": id, "state": "KILLING"}))).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ResumeQuery {
    #[serde(rename = "taskRun")]
    task_run: Option<String>,
}

pub async fn resume(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ResumeQuery>, QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let Query(query) = query?;
    let body = read_body(body, INPUTS_BODY_LIMIT, "the inputs of a resume").await?;
    let run = match query.task_run {
        Some(text) => Some(text.parse::<TaskRunKey>().map_err(ApiError::BadRequest)?),
        None => None,
    };
    let inputs = json_inputs(&body)?;
    find(&state, &id).await?;
    state.engine.resume(&id, run, inputs).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"executionId": id}))).into_response())
}
