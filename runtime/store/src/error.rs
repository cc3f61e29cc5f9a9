//! Turning sqlx's errors into the engine's [`StoreError`] on SQLite.

use sluice_engine::StoreError;

use crate::records::sqlx_error;

/// SQLite's primary result code for "the database file is locked by another connection".
const SQLITE_BUSY: i32 = 5;

/// Maps an sqlx error onto the store's error kinds (see [`sqlx_error`]); a lock held past the
/// busy timeout is a lost race too.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    // A local file: never unreachable the way a server is (its I/O errors are `Database`).
    sqlx_error(error, |db| is_busy(db.code().as_deref()), None)
}

/// SQLite reports extended result codes (`SQLITE_BUSY_SNAPSHOT` is 517); the low byte is the
/// primary code.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| c & 0xff == SQLITE_BUSY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_recognised_through_extended_codes() {
        assert!(is_busy(Some("5")));
        assert!(is_busy(Some("517")));
        assert!(!is_busy(Some("19")));
        assert!(!is_busy(Some("2067")));
        assert!(!is_busy(None));
    }
}
