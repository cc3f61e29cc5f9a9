//! Authentication and authorisation of API requests.
//!
//! Every route names its [`Access`] in `routes.rs`. The middleware ([`authorize`]) finds the
//! caller's token (`Authorization: Bearer`, else the UI's session cookie), looks it up by hash
//! (cached for [`TOKEN_CACHE_FOR`]), checks what the route's access can be checked from the
//! request (a role somewhere, a role in the path's namespace, a role everywhere), and hands the
//! [`Caller`] to the handler, which checks the namespace of what it loads (an execution's).
//!
//! A server runs open (anyone may do anything, named `open` in the audit log) only while it
//! is bound to loopback and no token has ever been made; once one has, every request needs a
//! token. The first token turns auth on at once on the server that made it, and within
//! [`OPEN_RECHECK`] on the others.

mod caller;
pub mod session;
mod start;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use caller::{Caller, Identity};
use sluice_governance::token::token_hash;
use sluice_governance::{GovernanceStore, Role, TokenRecord};
pub use start::{AuthStart, FIRST_ADMIN, start_auth};

use crate::error::ApiError;
use crate::state::AppState;

/// How long a token looked up stays trusted without asking the store again: a token revoked on
/// another server stops working here within this time (at once on the server that revoked it).
pub const TOKEN_CACHE_FOR: Duration = Duration::from_secs(5);

/// How often an open server asks the store whether a token has been made elsewhere.
pub const OPEN_RECHECK: Duration = Duration::from_secs(2);

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: health, the API's description, webhooks (they check their own key and
    /// signature), the session login.
    Open,
    /// Nothing, unless the server was told that `/metrics` needs a token (then a viewer's).
    Metrics,
    /// The role in the namespace named by the path's `{namespace}`.
    InPath(Role),
    /// The role in some namespace; the handler checks the namespace of what it finds, or
    /// leaves out what the caller may not see.
    InHandler(Role),
    /// The role over every namespace (`admin:*` for tokens, plugins, the audit log).
    Everywhere(Role),
}

/// The server's auth state: whether it runs open, and the tokens it has looked up.
#[derive(Debug)]
pub struct Auth {
    /// Bound beyond loopback, or told to: never open.
    required: bool,
    /// A token exists (seen by this server); sticky.
    tokens_exist: AtomicBool,
    open_checked: Mutex<Option<Instant>>,
    metrics_need_token: bool,
    cache: Mutex<HashMap<String, (TokenRecord, Instant)>>,
}

impl Default for Auth {
    /// Open until a token is made (a server on loopback).
    fn default() -> Self {
        Auth::new(false, false)
    }
}

impl Auth {
    /// `required`: tokens are needed even before the first is made (a server bound beyond
    /// loopback). `metrics_need_token`: `/metrics` needs a viewer's token too.
    pub fn new(required: bool, metrics_need_token: bool) -> Auth {
        Auth {
            required,
            tokens_exist: AtomicBool::new(false),
            open_checked: Mutex::new(None),
            metrics_need_token,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether requests need a token now.
    pub async fn is_on(&self, store: &impl GovernanceStore) -> Result<bool, sluice_engine::StoreError> {
        if self.required || self.tokens_exist.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let due = {
            let mut checked = self.open_checked.lock().unwrap_or_else(|p| p.into_inner());
            let due = checked.is_none_or(|at| at.elapsed() >= OPEN_RECHECK);
            if due {
                *checked = Some(Instant::now());
            }
            due
        };
        if due && store.has_tokens().await? {
            self.tokens_exist.store(true, Ordering::Relaxed);
        }
        Ok(self.tokens_exist.load(Ordering::Relaxed))
    }

    /// A token was made through this server: auth is on from now.
    pub fn token_made(&self) {
        self.tokens_exist.store(true, Ordering::Relaxed);
    }

    /// A token was revoked through this server: forget it at once.
    pub fn forget(&self, name: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (record, _)| record.name != name);
    }

    /// The live token `token` is, or the 401 saying why not.
    async fn token(&self, store: &impl GovernanceStore, token: &str) -> Result<TokenRecord, ApiError> {
        let hash = token_hash(token);
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&hash)
                .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_FOR)
                .map(|(record, _)| record.clone())
        };
        let record = match cached {
            Some(record) => record,
            None => {
                let record = store.token(&hash).await?.ok_or_else(|| {
                    ApiError::NeedsToken("the token is not one this server knows".to_owned())
                })?;
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                // Tokens are few; a cache that grows past them holds stale entries.
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(hash, (record.clone(), Instant::now()));
                record
            }
        };
        let now = chrono::Utc::now();
        if let Some(revoked) = record.revoked_at {
            return Err(ApiError::NeedsToken(format!("token `{}` was revoked at {revoked}", record.name)));
        }
        if let Some(expired) = record.expires_at.filter(|at| *at <= now) {
            return Err(ApiError::NeedsToken(format!(
                "token `{}` expired at {expired}: make a new one with `sluice token create`",
                record.name
            )));
        }
        Ok(record)
    }
}

/// The token a request carries: `Authorization: Bearer <token>`, else the session cookie.
fn presented_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        return match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Ok(Some(token.trim()))
            }
            _ => Err(ApiError::NeedsToken("the Authorization header is not `Bearer <token>`".to_owned())),
        };
    }
    Ok(session::cookie_token(headers))
}

/// Who `request` comes from, as far as the route's access needs to know.
async fn identify(state: &AppState, access: Access, headers: &HeaderMap) -> Result<Identity, ApiError> {
    if access == Access::Open || (access == Access::Metrics && !state.auth.metrics_need_token) {
        return Ok(Identity::Anonymous);
    }
    let store = state.engine.store();
    match presented_token(headers)? {
        Some(token) => {
            let record = state.auth.token(&**store, token).await?;
            Ok(Identity::Token { name: record.name, grants: record.grants })
        }
        None if state.auth.is_on(&**store).await? => Err(ApiError::NeedsToken(
            "this server needs a token: send `Authorization: Bearer <token>` (an admin makes one with \
             `sluice token create`)"
                .to_owned(),
        )),
        None => Ok(Identity::Open),
    }
}

/// Checks what can be checked before the handler runs.
fn check(
    caller: &Caller,
    access: Access,
    params: Result<RawPathParams, RawPathParamsRejection>,
) -> Result<(), ApiError> {
    match access {
        Access::Open => Ok(()),
        Access::Metrics => match caller.identity {
            Identity::Anonymous => Ok(()),
            _ => caller.require_somewhere(Role::Viewer),
        },
        Access::InHandler(role) => caller.require_somewhere(role),
        Access::Everywhere(role) => caller.require_everywhere(role),
        Access::InPath(role) => {
            // A path that does not decode is the client's (the handler would refuse it too).
            let params = params.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
            match params.iter().find(|(name, _)| *name == "namespace") {
                Some((_, namespace)) => caller.require(role, namespace),
                None => Err(ApiError::Internal("a route checked by namespace has none in its path".into())),
            }
        }
    }
}

/// The middleware of every route (see the module's doc).
pub async fn authorize(
    State((state, access)): State<(AppState, Access)>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.to_string())
        .unwrap_or_default();
    let identity = match identify(&state, access, request.headers()).await {
        Ok(identity) => identity,
        Err(error) => return error.into_response(),
    };
    let caller = Caller { identity, source };
    if let Err(error) = check(&caller, access, params) {
        return error.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}
