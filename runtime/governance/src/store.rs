//! What governance needs persisted, beside the engine's [`sluice_engine::Store`]: both stores
//! implement it, and the store contract tests hold them to it.

use std::future::Future;

use sluice_engine::{StoreError, Timestamp};

use crate::audit::{AuditEntry, AuditFilter, NewAuditEntry};
use crate::token::TokenRecord;

pub trait GovernanceStore: Send + Sync + 'static {
    /// Stores a new token; [`StoreError::Conflict`] when a token not revoked has its name.
    fn create_token(&self, token: &TokenRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The token with this hash, revoked or expired ones included.
    fn token(&self, hash: &str) -> impl Future<Output = Result<Option<TokenRecord>, StoreError>> + Send;

    /// Every token, revoked ones included, oldest first.
    fn tokens(&self) -> impl Future<Output = Result<Vec<TokenRecord>, StoreError>> + Send;

    /// Revokes the token of this name that is not revoked yet; false when there is none.
    fn revoke_token(
        &self,
        name: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether any token has been made (revoked ones count: auth, once on, stays on).
    fn has_tokens(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Appends an entry after the newest one, numbered and chained; concurrent appenders (other
    /// servers on the database included) are serialised, so the chain has no fork.
    fn append_audit(
        &self,
        entry: NewAuditEntry,
    ) -> impl Future<Output = Result<AuditEntry, StoreError>> + Send;

    /// Entries matching the filter, oldest first.
    fn audit_entries(
        &self,
        filter: &AuditFilter,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;
}
