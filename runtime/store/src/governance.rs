//! [`GovernanceStore`] on SQLite: API tokens and the audit log (migration 7).

use sluice_engine::{StoreError, Timestamp};
use sluice_governance::audit::action_match;
use sluice_governance::token::name_taken;
use sluice_governance::{AuditEntry, AuditFilter, GovernanceStore, Grants, NewAuditEntry, TokenRecord};
use sqlx::Connection;

use crate::SqliteStore;
use crate::error::db_error;
use crate::records::{
    json_from_db, json_to_db, optional_timestamp_from_db, optional_timestamp_to_db, timestamp_bound_to_db,
    timestamp_from_db, timestamp_to_db,
};

type TokenRow = (String, String, String, i64, Option<i64>, Option<i64>);

fn token_from_row(
    (hash, name, grants, created_at, expires_at, revoked_at): TokenRow,
) -> Result<TokenRecord, StoreError> {
    let grants: Grants = json_from_db(format_args!("token `{name}`"), "grants", &grants)?;
    Ok(TokenRecord {
        name,
        hash,
        grants,
        created_at: timestamp_from_db(created_at),
        expires_at: optional_timestamp_from_db(expires_at),
        revoked_at: optional_timestamp_from_db(revoked_at),
    })
}

const TOKEN_COLUMNS: &str = "hash, name, grants, created_at, expires_at, revoked_at";

type AuditRow = (i64, i64, String, String, String, String, String, String, String);

fn entry_from_row(
    (seq, at, actor, action, target, source, details, prev_hash, hash): AuditRow,
) -> AuditEntry {
    AuditEntry {
        seq: u64::try_from(seq).unwrap_or(0),
        at: timestamp_from_db(at),
        actor,
        action,
        target,
        source,
        details,
        prev_hash,
        hash,
    }
}

const AUDIT_COLUMNS: &str = "seq, at, actor, action, target, source, details, prev_hash, hash";

impl GovernanceStore for SqliteStore {
    async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let result = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        )))
        .bind(&token.hash)
        .bind(&token.name)
        .bind(json_to_db(&token.grants)?)
        .bind(timestamp_to_db(token.created_at)?)
        .bind(optional_timestamp_to_db(token.expires_at)?)
        .bind(optional_timestamp_to_db(token.revoked_at)?)
        .execute(&mut *self.writer.lock().await?)
        .await;
        match result.map_err(db_error) {
            Err(StoreError::Conflict(_)) => Err(name_taken(&token.name)),
            other => other.map(drop),
        }
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?1");
        let query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(hash);
        let row: Option<TokenRow> = read!(self, |db| query.fetch_optional(db)).map_err(db_error)?;
        row.map(token_from_row).transpose()
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, name");
        let query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        let rows: Vec<TokenRow> = read!(self, |db| query.fetch_all(db)).map_err(db_error)?;
        rows.into_iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, name: &str, at: Timestamp) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL")
                .bind(name)
                .bind(timestamp_to_db(at)?)
                .execute(&mut *self.writer.lock().await?)
                .await
                .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        let query = sqlx::query_scalar("SELECT 1 FROM api_tokens LIMIT 1");
        let any: Option<i64> = read!(self, |db| query.fetch_optional(db)).map_err(db_error)?;
        Ok(any.is_some())
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut connection = self.writer.lock().await?;
        let mut tx = connection.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let last = last.map(|(seq, hash)| (u64::try_from(seq).unwrap_or(0), hash));
        let entry = AuditEntry::after(last, entry);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        )))
        .bind(i64::try_from(entry.seq).unwrap_or(i64::MAX))
        .bind(timestamp_to_db(entry.at)?)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.source)
        .bind(&entry.details)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(entry)
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let (action, action_prefix) = action_match(filter.action.as_deref());
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > ?1 \
             AND (?2 IS NULL OR actor = ?2) \
             AND (?3 IS NULL OR action = ?3) \
             AND (?4 IS NULL OR substr(action, 1, length(?4)) = ?4) \
             AND (?5 IS NULL OR target = ?5) \
             AND at >= ?6 AND at <= ?7 \
             ORDER BY seq LIMIT ?8"
        );
        let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(i64::try_from(filter.after_seq.unwrap_or(0)).unwrap_or(i64::MAX))
            .bind(filter.actor.as_deref())
            .bind(action)
            .bind(action_prefix)
            .bind(filter.target.as_deref())
            .bind(filter.since.map_or(i64::MIN, timestamp_bound_to_db))
            .bind(filter.until.map_or(i64::MAX, timestamp_bound_to_db))
            .bind(filter.limit.map_or(-1, i64::from));
        let rows: Vec<AuditRow> = read!(self, |db| query.fetch_all(db)).map_err(db_error)?;
        Ok(rows.into_iter().map(entry_from_row).collect())
    }
}
