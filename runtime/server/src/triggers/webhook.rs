//! `POST|GET /api/v1/webhooks/{namespace}/{flowId}/{key}`: starts the flow whose `webhook`
//! trigger has this key. The request is the trigger document: `trigger.body` (JSON when it
//! parses, else text), `trigger.headers` (lowercase names) and `trigger.query`.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sluice_engine::{ExecutionState, Store};
use sluice_flow::inputs::REDACTED;
use sluice_flow::template::{Context, Reference, SecretAccess, references};
use sluice_flow::{TriggerKind, WebhookSignature};
use subtle::ConstantTimeEq;

use super::fire::{FireError, fire};
use super::signature::{header_name, verify};
use crate::document::execution_document;
use crate::error::{ApiError, read_body};
use crate::limits::WEBHOOK_BODY_LIMIT;
use crate::state::AppState;

pub async fn receive(
    State(state): State<AppState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path((namespace, flow_id, key)) = path?;
    let Query(query) = query?;
    // One answer for an unknown flow and an unknown key, so the key cannot be probed per flow.
    let not_found = || ApiError::NotFound(format!("no webhook at /api/v1/webhooks/{namespace}/{flow_id}/…"));
    let Some(stored) = state.engine.store().get_flow(&namespace, &flow_id, None).await? else {
        return Err(not_found());
    };
    let locked = state.locked.get_fresh(&state.engine, &stored).await?;
    let trigger = locked
        .flow
        .triggers
        .iter()
        .find(|t| matches!(&t.kind, TriggerKind::Webhook { key: k, .. } if same_key(&state, k, &key)))
        .cloned()
        .ok_or_else(not_found)?;
    let TriggerKind::Webhook { signature, .. } = &trigger.kind else { return Err(not_found()) };
    let body = read_body(body, WEBHOOK_BODY_LIMIT, "a webhook request").await?;
    if let Some(scheme) = signature {
        let name = format!("{namespace}.{flow_id}/{}", trigger.id);
        check_signature(&state, &name, scheme, &headers, &body)?;
    }
    if trigger.disabled {
        return Err(ApiError::Conflict(format!(
            "the webhook trigger `{}` of flow {namespace}.{flow_id} is disabled (`disabled: true`)",
            trigger.id
        )));
    }
    let document = json!({
        "type": "webhook",
        "id": trigger.id,
        "body": parse_body(&body)?,
        "headers": header_map(&headers, signature.as_ref()),
        "query": query_map(query.clone()),
    });
    let wait = query.iter().any(|(k, v)| k == "wait" && v == "true");
    let mut handle =
        match fire(&state.engine, &state.triggers.templates, locked, stored.revision, &trigger, document)
            .await
        {
            Ok(handle) => handle,
            Err(error) => return Err(fire_error(error)),
        };
    let id = handle.id.clone();
    let store = state.engine.store();
    if !wait {
        // The answer gives the id: a GET with it must find the execution.
        handle.recorded().await;
        let now = store.get_execution(&id).await?.map_or(ExecutionState::Created, |r| r.state);
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"executionId": id, "state": now, "trigger": trigger.id})),
        )
            .into_response());
    }
    let Some(done) = handle.finished().await else {
        return Err(ApiError::Internal(format!("execution {id} stopped without a final state")));
    };
    Ok(Json(execution_document(&done.record, &done.task_runs)).into_response())
}

/// Constant-time; a templated key (`{{ secret('HOOK_KEY') }}`) is rendered with the secrets
/// it names.
fn same_key(state: &AppState, configured: &str, given: &str) -> bool {
    let expected = if configured.contains("{{") || configured.contains("{%") {
        match render_key(state, configured) {
            Some(key) => key,
            None => return false,
        }
    } else {
        configured.to_owned()
    };
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

fn render_key(state: &AppState, template: &str) -> Option<String> {
    let names: Vec<String> = references(template)
        .ok()?
        .into_iter()
        .filter_map(|r| match r {
            Reference::Secret { name } => Some(name),
            _ => None,
        })
        .collect();
    let access = SecretAccess { source: state.engine.secrets().as_ref(), allowed: &names };
    match state.triggers.templates.render_str("webhook key", template, &Context::default(), Some(&access)) {
        Ok(rendered) => Some(rendered.value),
        Err(error) => {
            tracing::error!(%error, "a webhook key does not render; no request can match it");
            None
        }
    }
}

/// `trigger` names the webhook (`namespace.flow/trigger`) in the log.
fn check_signature(
    state: &AppState,
    trigger: &str,
    scheme: &WebhookSignature,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let (WebhookSignature::Github { secret } | WebhookSignature::Gitlab { secret }) = scheme;
    let Some(key) = state.engine.secrets().get(secret) else {
        // The operator's configuration is incomplete: every request is refused until it is
        // fixed. A 4xx (the server itself is fine, and no retry will help), logged for the
        // operator, who is the one who can act.
        tracing::error!(
            %trigger,
            "webhook request refused: its signing secret `{secret}` is not configured (set SLUICE_SECRET_{secret})"
        );
        return Err(ApiError::Forbidden(format!(
            "the webhook cannot take requests: its signing secret `{secret}` is not configured on the \
             server (the operator sets SLUICE_SECRET_{secret})"
        )));
    };
    let header = headers.get(header_name(scheme)).map(|v| v.as_bytes());
    verify(scheme, &key, header, body).map_err(|e| ApiError::Unauthorized(e.to_string()))
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return Ok(value);
    }
    match std::str::from_utf8(body) {
        Ok(text) => Ok(Value::String(text.to_owned())),
        Err(_) => Err(ApiError::BadRequest("the body is neither JSON nor UTF-8 text".into())),
    }
}

/// Lowercase names; a header sent more than once is its values joined with `, `. Values that
/// are not UTF-8 are left out. A GitLab token is the secret itself, so it is redacted: the
/// trigger document is stored with the execution.
fn header_map(headers: &HeaderMap, signature: Option<&WebhookSignature>) -> Value {
    let mut map = Map::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        if !values.is_empty() {
            map.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
        }
    }
    if let Some(scheme @ WebhookSignature::Gitlab { .. }) = signature
        && let Some(token) = map.get_mut(&header_name(scheme).to_ascii_lowercase())
    {
        *token = Value::String(REDACTED.to_owned());
    }
    Value::Object(map)
}

/// A parameter given once is a string; one given several times is the list of its values.
fn query_map(pairs: Vec<(String, String)>) -> Value {
    let mut map = Map::new();
    for (key, value) in pairs {
        match map.get_mut(&key) {
            None => {
                map.insert(key, Value::String(value));
            }
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(first) => *first = Value::Array(vec![first.take(), Value::String(value)]),
        }
    }
    Value::Object(map)
}

fn fire_error(error: FireError) -> ApiError {
    match error {
        FireError::Inputs { .. } => ApiError::InvalidInputs(vec![error.to_string()]),
        FireError::Start(start) => start.into(),
    }
}
