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
use sluice_engine::{ExecutionFilter, ExecutionRecord, ExecutionState, Store, TaskRunKey};
use sluice_governance::Role;

use crate::audit::record;
use crate::auth::Caller;
use crate::document::{execution_document, execution_summary};
use crate::error::{ApiError, read_body};
use crate::labels::{LabelQuery, parse_labels};
use crate::limits::INPUTS_BODY_LIMIT;
use crate::state::AppState;
use crate::time_bound::time_bound;
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
    caller: Caller,
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
        // Who started it stays with the execution (its document and the UI show it).
        trigger: Some(json!({"type": "api", "actor": caller.actor()})),
        parent: None,
    };
    let mut handle = state.engine.start(request).await?;
    let id = handle.id.clone();
    let details = json!({"flow": format!("{namespace}.{flow_id}"), "revision": flow.revision});
    record(&state, &caller, "execution.start", format!("execution:{id}"), details).await;
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

/// Only the executions of namespaces the caller may see: a page is counted before that, so a
/// token that sees some namespaces only may get short pages unless it asks for one namespace.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
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
    if let Some(namespace) = &filter.namespace {
        caller.require(Role::Viewer, namespace)?;
    }
    let records = state.engine.store().list_executions(&filter).await?;
    let visible = records.iter().filter(|r| caller.may(Role::Viewer, &r.namespace));
    Ok(Json(Value::Array(visible.map(execution_summary).collect())))
}

/// The execution, if the caller may act on it as `role`.
pub(crate) async fn find(
    state: &AppState,
    caller: &Caller,
    role: Role,
    id: &str,
) -> Result<ExecutionRecord, ApiError> {
    let record = state
        .engine
        .store()
        .get_execution(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no execution {id}")))?;
    caller.require(role, &record.namespace)?;
    Ok(record)
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = path?;
    let record = find(&state, &caller, Role::Viewer, &id).await?;
    let runs = state.engine.store().task_runs(&id).await?;
    let mut doc = execution_summary(&record);
    let mut full = execution_document(&record, &runs);
    doc["outputs"] = full["outputs"].take();
    doc["taskRuns"] = full["taskRuns"].take();
    Ok(Json(doc))
}

pub async fn kill(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let record = find(&state, &caller, Role::Runner, &id).await?;
    // Here, or through the store for the server that drives it.
    if !state.engine.kill_anywhere(&id).await? {
        return Err(ApiError::Conflict(format!("execution {id} is not running (it is {})", record.state)));
    }
    record_on(&state, &caller, "execution.kill", &record).await;
    Ok((StatusCode::ACCEPTED, Json(json!({"executionId": id, "state": "KILLING"}))).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ResumeQuery {
    #[serde(rename = "taskRun")]
    task_run: Option<String>,
}

pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
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
    let record = find(&state, &caller, Role::Runner, &id).await?;
    state.engine.resume(&id, run, inputs).await?;
    record_on(&state, &caller, "execution.resume", &record).await;
    Ok((StatusCode::ACCEPTED, Json(json!({"executionId": id}))).into_response())
}

/// Appends what `caller` did to an execution (with its flow and state then).
pub(crate) async fn record_on(state: &AppState, caller: &Caller, action: &str, execution: &ExecutionRecord) {
    let details = json!({
        "flow": format!("{}.{}", execution.namespace, execution.flow_id),
        "revision": execution.revision,
        "stateBefore": execution.state,
    });
    record(state, caller, action, format!("execution:{}", execution.id), details).await;
}
