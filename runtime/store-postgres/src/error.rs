//! Turning sqlx's errors into the engine's [`StoreError`] on PostgreSQL; naming the row behind
//! a [`StoreError::Corrupt`] is `sluice_store::records`'.

use sluice_engine::StoreError;
use sluice_store::records::sqlx_error;
pub(crate) use sluice_store::records::{RowName, corrupt};

/// SQLSTATEs of transactions that lost a race and may succeed when retried.
const RETRYABLE: [&str; 2] = ["40001" /* serialization_failure */, "40P01" /* deadlock_detected */];

/// SQLSTATEs of a server that cannot serve now: the connection-exception class `08`, and
/// `57P01` admin_shutdown, `57P02` crash_shutdown, `57P03` cannot_connect_now (starting up).
fn unreachable(code: &str) -> bool {
    code.starts_with("08") || ["57P01", "57P02", "57P03"].contains(&code)
}

/// Maps an sqlx error onto the store's error kinds (see [`sqlx_error`]); serialisation
/// failures and deadlocks are lost races too, and a server shutting down or starting is
/// unavailable like a lost connection.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    sqlx_error(
        error,
        |db| db.code().is_some_and(|code| RETRYABLE.contains(&code.as_ref())),
        Some(&|db| db.code().is_some_and(|code| unreachable(&code))),
    )
}
