//! Turning sqlx's errors into the engine's [`StoreError`] on PostgreSQL; naming the row behind
//! a [`StoreError::Corrupt`] is `sluice_store::records`'.

use sluice_engine::StoreError;
use sluice_store::records::sqlx_error;
pub(crate) use sluice_store::records::{RowName, corrupt};

/// SQLSTATEs of transactions that lost a race and may succeed when retried.
const RETRYABLE: [&str; 2] = ["40001" /* serialization_failure */, "40P01" /* deadlock_detected */];

/// Maps an sqlx error onto the store's error kinds (see [`sqlx_error`]); serialisation
/// failures and deadlocks are lost races too.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    sqlx_error(error, |db| db.code().is_some_and(|code| RETRYABLE.contains(&code.as_ref())))
}
