//! The audit log from the API's side: what each change or action appends, and
//! `GET /api/v1/audit` (admins), its entries with filters, oldest first.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::Value;
use sluice_governance::{AuditFilter, GovernanceStore, NewAuditEntry};

use crate::ServerStore;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time_bound::time_bound;

/// Default and largest page.
const DEFAULT_LIMIT: u32 = 1000;
const MAX_LIMIT: u32 = 10_000;

/// Appends an entry. The action is done by then; an entry that cannot be written is logged as
/// an error for the operator rather than undoing it.
pub async fn append(store: &ServerStore, entry: NewAuditEntry) {
    let (action, target) = (entry.action.clone(), entry.target.clone());
    if let Err(error) = store.append_audit(entry).await {
        tracing::error!(%error, action, target, "the audit log could not record an action");
    }
}

/// Appends what `caller` did through the API.
pub async fn record(state: &AppState, caller: &Caller, action: &str, target: String, details: Value) {
    let entry = NewAuditEntry {
        source: caller.source.clone(),
        ..NewAuditEntry::now(caller.actor(), action, target, details)
    };
    append(state.engine.store(), entry).await;
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    until: Option<String>,
    /// Entries numbered above this one.
    after: Option<u64>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let filter = AuditFilter {
        after_seq: query.after,
        actor: query.actor,
        action: query.action,
        target: query.target,
        since: query.since.as_deref().map(|t| time_bound("since", t)).transpose()?,
        until: query.until.as_deref().map(|t| time_bound("until", t)).transpose()?,
        limit: Some(limit),
    };
    let entries = state.engine.store().audit_entries(&filter).await?;
    Ok(Json(Value::Array(entries.iter().map(|e| e.to_json()).collect())))
}
