//! How a server's auth starts: on by default, open only on loopback before any token exists.

use std::net::SocketAddr;

use sluice_engine::StoreError;
use sluice_governance::token::token_hash;
use sluice_governance::{GovernanceStore, Grant, Grants, NewAuditEntry, NewToken, Role};

use super::Auth;
use crate::ServerStore;

/// The name of the admin token a server makes (or is given) on its first start.
pub const FIRST_ADMIN: &str = "admin";

/// What the operator must be told at start.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthStart {
    /// Bound to loopback with no token: anyone on this machine may do anything.
    Open,
    /// Tokens are needed.
    On,
    /// Tokens are needed, and this is the first admin token, made now: shown this once.
    MadeAdmin(String),
}

/// Decides the auth of a server bound to `bind`. `given_admin` (from `SLUICE_ADMIN_TOKEN`) is
/// stored as the admin token unless the store knows it already (replacing, i.e. revoking, the
/// admin token before it). Bound beyond loopback with no
/// token at all, the server makes the first admin token rather than run open.
pub async fn start_auth(
    store: &ServerStore,
    bind: SocketAddr,
    given_admin: Option<String>,
    metrics_need_token: bool,
) -> Result<(Auth, AuthStart), StoreError> {
    let loopback = bind.ip().is_loopback();
    let admin = || {
        Grants(vec![Grant {
            role: Role::Admin,
            namespace: sluice_governance::NamespacePattern::everything(),
        }])
    };
    let now = chrono::Utc::now();
    let mut made = None;
    if let Some(token) = given_admin.filter(|t| !t.trim().is_empty()) {
        let token = token.trim().to_owned();
        if store.token(&token_hash(&token)).await?.is_none() {
            // A new token given replaces the admin token given (or made) before.
            if store.revoke_token(FIRST_ADMIN, now).await? {
                record(store, "token.revoke", serde_json::json!({"why": "SLUICE_ADMIN_TOKEN changed"})).await;
            }
            let new = NewToken::from_token(FIRST_ADMIN, token, admin(), now, None);
            store.create_token(&new.record).await?;
            record(
                store,
                "token.create",
                serde_json::json!({"grants": new.record.grants, "why": "SLUICE_ADMIN_TOKEN"}),
            )
            .await;
        }
    } else if !loopback && !store.has_tokens().await? {
        let new = NewToken::generate(FIRST_ADMIN, admin(), now, None).map_err(StoreError::Database)?;
        store.create_token(&new.record).await?;
        record(store, "token.create", serde_json::json!({"grants": new.record.grants, "why": "first start"}))
            .await;
        made = Some(new.token);
    }
    let auth = Auth::new(!loopback, metrics_need_token);
    let on = auth.is_on(store).await?;
    let start = match (made, on) {
        (Some(token), _) => AuthStart::MadeAdmin(token),
        (None, true) => AuthStart::On,
        (None, false) => AuthStart::Open,
    };
    Ok((auth, start))
}

/// An entry for what the server did to its admin token.
async fn record(store: &ServerStore, action: &str, details: serde_json::Value) {
    let entry = NewAuditEntry::now("server".to_owned(), action, format!("token:{FIRST_ADMIN}"), details);
    crate::audit::append(store, entry).await;
}
