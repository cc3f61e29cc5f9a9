//! Advisory locks: writes that read what they decide on (the next revision number of a flow,
//! the free places under a flow's limit) take a transaction-scoped lock on it, so that several
//! servers on one database (or several pool connections) never decide alike at once. Keys are
//! a class and a 32-bit hash of the name; two names that share a hash only wait for each other.

use sha2::{Digest, Sha256};
use sluice_engine::StoreError;
use sqlx::PgConnection;

use crate::error::db_error;

/// The lock classes (the first key of `pg_advisory_xact_lock(int4, int4)`).
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
pub(crate) enum Class {
    /// One flow's revisions.
    Flow = 0x5100_0001,
    /// One flow's places under its `concurrency.limit`.
    Places = 0x5100_0003,
    /// The audit log's head: one appender at a time, so the chain has no fork.
    Audit = 0x5100_0004,
}

/// A stable 32-bit hash of the parts (length-prefixed, so `("ab", "c")` and `("a", "bc")`
/// differ).
pub(crate) fn key(parts: &[&str]) -> i32 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    i32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Takes the locks of `keys` of one class until the transaction ends, in ascending order so
/// that two transactions that need overlapping sets cannot deadlock.
pub(crate) async fn lock(
    connection: &mut PgConnection,
    class: Class,
    mut keys: Vec<i32>,
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort_unstable();
    keys.dedup();
    // A function scan returns the array in order, and the locks are taken row by row.
    sqlx::query("SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k")
        .bind(class as i32)
        .bind(keys)
        .execute(connection)
        .await
        .map_err(db_error)?;
    Ok(())
}
