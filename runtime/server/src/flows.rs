//! `/api/v1/flows`: deploy, update, read, list, delete and validate flows. Bodies are YAML.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_engine::{FlowRevision, Store};
use sluice_governance::Role;

use crate::audit::record;
use crate::auth::Caller;
use crate::error::{ApiError, BODY_FILE_NAME, read_body, text_body};
use crate::labels::{LabelQuery, parse_labels};
use crate::limits::FLOW_BODY_LIMIT;
use crate::locked::validate_fresh;
use crate::state::AppState;

fn saved(revision: &FlowRevision) -> Value {
    json!({"namespace": revision.namespace, "id": revision.id, "revision": revision.revision})
}

fn full(revision: &FlowRevision) -> Value {
    json!({
        "namespace": revision.namespace,
        "id": revision.id,
        "revision": revision.revision,
        "createdAt": revision.created_at,
        "source": revision.source,
    })
}

/// The body of a flow route, as text.
async fn flow_text(body: Body) -> Result<String, ApiError> {
    let bytes = read_body(body, FLOW_BODY_LIMIT, "a flow").await?;
    Ok(text_body(&bytes)?.to_owned())
}

pub async fn create(State(state): State<AppState>, caller: Caller, body: Body) -> Result<Response, ApiError> {
    let text = &flow_text(body).await?;
    let locked = validate_fresh(&state.engine, text).await?;
    let (namespace, id) = (&locked.flow.namespace, &locked.flow.id);
    caller.require(Role::Editor, namespace)?;
    let store = state.engine.store();
    if store.get_flow(namespace, id, None).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "flow {namespace}.{id} already exists; update it with PUT /api/v1/flows/{namespace}/{id}"
        )));
    }
    let revision = store.save_flow(namespace, id, text).await?;
    state.triggers.flows_changed();
    let details = json!({"revision": {"before": null, "after": revision.revision}});
    record(&state, &caller, "flow.create", format!("flow:{namespace}.{id}"), details).await;
    Ok((StatusCode::CREATED, Json(saved(&revision))).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let Path((namespace, id)) = path?;
    let text = &flow_text(body).await?;
    let locked = validate_fresh(&state.engine, text).await?;
    if locked.flow.namespace != namespace || locked.flow.id != id {
        return Err(ApiError::BadRequest(format!(
            "the body is flow {}.{}, but the path names {namespace}.{id}",
            locked.flow.namespace, locked.flow.id
        )));
    }
    let store = state.engine.store();
    let before = store.get_flow(&namespace, &id, None).await?.map(|f| f.revision);
    let revision = store.save_flow(&namespace, &id, text).await?;
    state.triggers.flows_changed();
    let details = json!({"revision": {"before": before, "after": revision.revision}});
    record(&state, &caller, "flow.update", format!("flow:{namespace}.{id}"), details).await;
    Ok(Json(saved(&revision)))
}

#[derive(Debug, Deserialize)]
pub struct RevisionQuery {
    revision: Option<u32>,
}

pub async fn get(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<RevisionQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((namespace, id)) = path?;
    let Query(query) = query?;
    let Some(found) = state.engine.store().get_flow(&namespace, &id, query.revision).await? else {
        return Err(match query.revision {
            Some(n) => ApiError::NotFound(format!("flow {namespace}.{id} has no revision {n}")),
            None => ApiError::NotFound(format!("no flow {namespace}.{id}")),
        });
    };
    if let Some(yaml) = yaml_type(&headers) {
        return Ok(([(header::CONTENT_TYPE, yaml)], found.source).into_response());
    }
    Ok(Json(full(&found)).into_response())
}

/// The YAML media type the client accepts, if any: `application/yaml` (RFC 9512), or the older
/// `application/x-yaml` and `text/yaml`, answered as asked.
fn yaml_type(headers: &HeaderMap) -> Option<&'static str> {
    let accepted: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .collect();
    ["application/yaml", "application/x-yaml", "text/yaml"]
        .into_iter()
        .find(|yaml| accepted.iter().any(|a| a == yaml))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    namespace: Option<String>,
    #[serde(flatten)]
    labels: LabelQuery,
}

/// Only the flows of namespaces the caller may see.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let wanted = parse_labels(&query.labels)?;
    let flows = state.engine.store().list_flows(query.namespace.as_deref()).await?;
    let mut listed = Vec::new();
    for flow in flows.iter().filter(|f| caller.may(Role::Viewer, &f.namespace)) {
        // A stored flow always parsed once; one that no longer does has no labels to match.
        let labels = sluice_flow::parse(BODY_FILE_NAME, &flow.source)
            .map(|parsed| parsed.flow.labels)
            .unwrap_or_default();
        if wanted.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            let mut doc = full(flow);
            doc["labels"] = json!(labels);
            listed.push(doc);
        }
    }
    Ok(Json(Value::Array(listed)))
}

pub async fn revisions(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((namespace, id)) = path?;
    let store = state.engine.store();
    if store.get_flow(&namespace, &id, None).await?.is_none() {
        return Err(ApiError::NotFound(format!("no flow {namespace}.{id}")));
    }
    let all = store.flow_revisions(&namespace, &id).await?;
    Ok(Json(Value::Array(all.iter().map(full).collect())))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((namespace, id)) = path?;
    let store = state.engine.store();
    let before = store.get_flow(&namespace, &id, None).await?.map(|f| f.revision);
    if store.delete_flow(&namespace, &id).await? {
        state.triggers.flows_changed();
        let details = json!({"revision": {"before": before, "after": null}});
        record(&state, &caller, "flow.delete", format!("flow:{namespace}.{id}"), details).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no flow {namespace}.{id}")))
    }
}

pub async fn check(State(state): State<AppState>, body: Body) -> Result<Json<Value>, ApiError> {
    validate_fresh(&state.engine, &flow_text(body).await?).await?;
    Ok(Json(json!({"valid": true})))
}
