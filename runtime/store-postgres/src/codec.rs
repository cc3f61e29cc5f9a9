//! How record fields are written to columns and read back: timestamps as integer nanoseconds
//! and JSON as text, as `sluice_store::records` (shared with the SQLite store) does them; other
//! strings as their UTF-8 bytes, the PostgreSQL store's own. Reads name the row on failure.

use std::fmt::Display;

use sluice_engine::StoreError;
pub(crate) use sluice_store::records::{
    json_from_db, json_to_db, key_from_db, optional_json_from_db, optional_json_to_db, optional_key_from_db,
    optional_timestamp_from_db, optional_timestamp_to_db, timestamp_bound_to_db, timestamp_from_db,
    timestamp_to_db, u32_from_db,
};

use crate::error::corrupt;

/// A string column (BYTEA) read back: its bytes must be UTF-8.
pub(crate) fn text_from_db(row: impl Display, column: &str, bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|e| corrupt(row, column, format_args!("not UTF-8: {e}")))
}

pub(crate) fn optional_text_from_db(
    row: impl Display,
    column: &str,
    bytes: Option<Vec<u8>>,
) -> Result<Option<String>, StoreError> {
    bytes.map(|b| text_from_db(row, column, b)).transpose()
}

/// A string column read before the row can be named (its key columns): invalid bytes are
/// replaced, so the error about the row can still say which it is.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Keeps one entry per key of a batch: at the position of its first occurrence, with the value
/// of its last (a row given twice in one batch ends as its last version, created where it first
/// appeared). PostgreSQL refuses an upsert that touches one row twice.
pub(crate) fn last_versions<'a, T, K: Eq + std::hash::Hash>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let mut slots: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match slots.entry(key(item)) {
            std::collections::hash_map::Entry::Occupied(slot) => out[*slot.get()] = item,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(item);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_are_corrupt_and_name_the_row() {
        let error = text_from_db("execution `e`", "error", vec![0xff, b'a']).expect_err("not UTF-8");
        assert!(
            matches!(error, StoreError::Corrupt(m) if m.starts_with("execution `e`, column `error`: not UTF-8"))
        );
        assert_eq!(text_from_db("x", "y", "nul \0 ü".as_bytes().to_vec()).expect("UTF-8"), "nul \0 ü");
    }

    #[test]
    fn a_key_given_twice_keeps_its_first_place_and_last_value() {
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let kept: Vec<_> = last_versions(&items, |(k, _)| *k).into_iter().copied().collect();
        assert_eq!(kept, [("a", 3), ("b", 5), ("c", 4)]);
    }
}
