//! `/api/v1/tokens` (admins over every namespace): make, list and revoke API tokens. A token is
//! shown once, in the answer that makes it; the store keeps its hash.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_governance::{GovernanceStore, Grant, Grants, NewToken, TokenRecord};

use crate::audit::record;
use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

/// How a token reads in lists (never its hash).
pub fn token_document(token: &TokenRecord) -> Value {
    json!({
        "name": token.name,
        "grants": token.grants,
        "createdAt": token.created_at,
        "expiresAt": token.expires_at,
        "revokedAt": token.revoked_at,
    })
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let tokens = state.engine.store().tokens().await?;
    Ok(Json(Value::Array(tokens.iter().map(token_document).collect())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    /// `role:namespace-pattern` (`editor:acme.*`), or a bare role for every namespace.
    grants: Vec<String>,
    /// `90d`, `12h`...; unset, the token does not expire.
    #[serde(rename = "expiresIn")]
    expires_in: Option<String>,
}

/// `POST {"name": "ci", "grants": ["editor:acme.*"], "expiresIn": "90d"}`: 201 with the token.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = read_body(body, 16 * 1024, "a token request").await?;
    let body: CreateBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be {{\"name\": \"ci\", \"grants\": [\"editor:acme.*\"], \"expiresIn\": \"90d\"}}: {e}"
        ))
    })?;
    let grants = body
        .grants
        .iter()
        .map(|text| Grant::parse(text).map_err(|e| ApiError::BadRequest(format!("grants: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if grants.is_empty() {
        return Err(ApiError::BadRequest("grants: give at least one, like \"viewer:acme.*\"".into()));
    }
    let now = chrono::Utc::now();
    let expires_at = match &body.expires_in {
        Some(text) => Some(expiry(now, text).map_err(|e| ApiError::BadRequest(format!("expiresIn: {e}")))?),
        None => None,
    };
    let made =
        NewToken::generate(&body.name, Grants(grants), now, expires_at).map_err(ApiError::BadRequest)?;
    state.engine.store().create_token(&made.record).await.map_err(|error| match error {
        sluice_engine::StoreError::Conflict(message) => ApiError::Conflict(message),
        other => other.into(),
    })?;
    state.auth.token_made();
    let target = format!("token:{}", made.record.name);
    record(
        &state,
        &caller,
        "token.create",
        target,
        json!({"grants": made.record.grants, "expiresAt": expires_at}),
    )
    .await;
    let mut document = token_document(&made.record);
    document["token"] = json!(made.token);
    Ok((StatusCode::CREATED, Json(document)))
}

/// When a token made at `now` to live `text` (`90d`) expires.
pub fn expiry(
    now: chrono::DateTime<chrono::Utc>,
    text: &str,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let duration = sluice_flow::duration::parse_duration(text)?;
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .filter(|_| !duration.is_zero())
        .ok_or_else(|| format!("`{text}` is not a lifetime a token can have"))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = path?;
    if !state.engine.store().revoke_token(&name, chrono::Utc::now()).await? {
        return Err(ApiError::NotFound(format!("no live token named `{name}`")));
    }
    state.auth.forget(&name);
    record(&state, &caller, "token.revoke", format!("token:{name}"), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
