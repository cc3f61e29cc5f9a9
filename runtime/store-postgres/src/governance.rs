//! [`GovernanceStore`] on PostgreSQL: API tokens and the audit log (migration 7). Appends
//! serialise on an advisory lock, so servers sharing the database extend one chain.

use sluice_engine::{StoreError, Timestamp};
use sluice_governance::audit::action_match;
use sluice_governance::token::name_taken;
use sluice_governance::{AuditEntry, AuditFilter, GovernanceStore, Grants, NewAuditEntry, TokenRecord};
use sqlx::Acquire;

use crate::PostgresStore;
use crate::codec::{
    json_from_db, json_to_db, lossy, optional_timestamp_from_db, optional_timestamp_to_db, text_from_db,
    timestamp_bound_to_db, timestamp_from_db, timestamp_to_db,
};
use crate::error::db_error;
use crate::locks::{self, Class};

type TokenRow = (String, Vec<u8>, String, i64, Option<i64>, Option<i64>);

fn token_from_row(
    (hash, name, grants, created_at, expires_at, revoked_at): TokenRow,
) -> Result<TokenRecord, StoreError> {
    let row = format!("token `{}`", lossy(&name));
    let grants: Grants = json_from_db(&row, "grants", &grants)?;
    Ok(TokenRecord {
        name: text_from_db(&row, "name", name)?,
        hash,
        grants,
        created_at: timestamp_from_db(created_at),
        expires_at: optional_timestamp_from_db(expires_at),
        revoked_at: optional_timestamp_from_db(revoked_at),
    })
}

const TOKEN_COLUMNS: &str = "hash, name, grants, created_at, expires_at, revoked_at";

type AuditRow = (i64, i64, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, String, String, String);

fn entry_from_row(
    (seq, at, actor, action, target, source, details, prev_hash, hash): AuditRow,
) -> Result<AuditEntry, StoreError> {
    let row = format!("audit entry {seq}");
    Ok(AuditEntry {
        seq: u64::try_from(seq).unwrap_or(0),
        at: timestamp_from_db(at),
        actor: text_from_db(&row, "actor", actor)?,
        action: text_from_db(&row, "action", action)?,
        target: text_from_db(&row, "target", target)?,
        source: text_from_db(&row, "source", source)?,
        details,
        prev_hash,
        hash,
    })
}

const AUDIT_COLUMNS: &str = "seq, at, actor, action, target, source, details, prev_hash, hash";

impl GovernanceStore for PostgresStore {
    async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let result = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        )))
        .bind(&token.hash)
        .bind(token.name.as_bytes())
        .bind(json_to_db(&token.grants)?)
        .bind(timestamp_to_db(token.created_at)?)
        .bind(optional_timestamp_to_db(token.expires_at)?)
        .bind(optional_timestamp_to_db(token.revoked_at)?)
        .execute(&self.pool)
        .await;
        match result.map_err(db_error) {
            Err(StoreError::Conflict(_)) => Err(name_taken(&token.name)),
            other => other.map(drop),
        }
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1");
        let row: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(token_from_row).transpose()
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, name");
        let rows: Vec<TokenRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(db_error)?;
        rows.into_iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, name: &str, at: Timestamp) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
                .bind(name.as_bytes())
                .bind(timestamp_to_db(at)?)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        let any: Option<i32> = sqlx::query_scalar("SELECT 1 FROM api_tokens LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(any.is_some())
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut connection = self.pool.acquire().await.map_err(db_error)?;
        let mut tx = connection.begin().await.map_err(db_error)?;
        locks::lock(&mut tx, Class::Audit, vec![0]).await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let last = last.map(|(seq, hash)| (u64::try_from(seq).unwrap_or(0), hash));
        let entry = AuditEntry::after(last, entry);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(i64::try_from(entry.seq).unwrap_or(i64::MAX))
        .bind(timestamp_to_db(entry.at)?)
        .bind(entry.actor.as_bytes())
        .bind(entry.action.as_bytes())
        .bind(entry.target.as_bytes())
        .bind(entry.source.as_bytes())
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
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 \
             AND ($2::bytea IS NULL OR actor = $2) \
             AND ($3::bytea IS NULL OR action = $3) \
             AND ($4::bytea IS NULL OR substr(action, 1, length($4)) = $4) \
             AND ($5::bytea IS NULL OR target = $5) \
             AND at >= $6 AND at <= $7 \
             ORDER BY seq LIMIT $8"
        );
        let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(i64::try_from(filter.after_seq.unwrap_or(0)).unwrap_or(i64::MAX))
            .bind(filter.actor.as_deref().map(str::as_bytes))
            .bind(action.map(str::as_bytes))
            .bind(action_prefix.map(str::as_bytes))
            .bind(filter.target.as_deref().map(str::as_bytes))
            .bind(filter.since.map_or(i64::MIN, timestamp_bound_to_db))
            .bind(filter.until.map_or(i64::MAX, timestamp_bound_to_db))
            .bind(filter.limit.map(i64::from))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(entry_from_row).collect()
    }
}
