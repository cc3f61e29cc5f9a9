//! `/api/v1/session`: the web UI logs in with a token, which the server hands back as a cookie
//! the page's scripts cannot read (`HttpOnly`) and other sites cannot make the browser send
//! (`SameSite=Strict`), so that `EventSource` streams, which cannot set headers, are
//! authenticated too.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Access, Identity, identify};
use crate::error::{ApiError, read_body};
use crate::state::AppState;

/// The cookie's name.
pub const COOKIE: &str = "sluice_token";

/// The session cookie's token, if the request has one.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

#[derive(Debug, Deserialize)]
struct Login {
    token: String,
}

fn who(identity: &Identity, auth_on: bool) -> Value {
    match identity {
        Identity::Token { name, grants } => json!({"auth": true, "token": name, "grants": grants}),
        _ => json!({"auth": auth_on, "token": null, "grants": null}),
    }
}

/// `POST` `{"token": "..."}`: checks the token and sets the cookie (for as long as the token
/// lives, else for the browser's session).
pub async fn login(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(body, 4096, "a login").await?;
    let login: Login = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body must be {{\"token\": \"...\"}}: {e}")))?;
    // What could not be a cookie's value cannot be a token either.
    if !login.token.trim().bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',') {
        return Err(ApiError::NeedsToken("the token is not one this server knows".to_owned()));
    }
    let record = state.auth.token(&**state.engine.store(), login.token.trim()).await?;
    let max_age = record
        .expires_at
        .map(|at| format!("; Max-Age={}", (at - chrono::Utc::now()).num_seconds().max(0)))
        .unwrap_or_default();
    let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{max_age}", login.token.trim());
    let identity = Identity::Token { name: record.name, grants: record.grants };
    let mut response = Json(who(&identity, true)).into_response();
    let value = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// `DELETE`: forgets the cookie.
pub async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET`: who the request's token (or cookie) is, and whether the server needs one; a 401 for
/// a token it does not take.
pub async fn current(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let identity = match identify(&state, Access::InHandler(sluice_governance::Role::Viewer), &headers).await
    {
        Ok(identity) => identity,
        Err(ApiError::NeedsToken(_)) if super::presented_token(&headers)?.is_none() => {
            return Ok(Json(who(&Identity::Anonymous, true)));
        }
        Err(error) => return Err(error),
    };
    let on = state.auth.is_on(&**state.engine.store()).await?;
    Ok(Json(who(&identity, on)))
}
