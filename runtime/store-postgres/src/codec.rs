//! How record fields are written to columns and read back: timestamps as integer nanoseconds,
//! JSON as text, other strings as their UTF-8 bytes. Reads name the row on failure.

use std::fmt::Display;

use chrono::DateTime;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_engine::{StoreError, TaskRunKey, Timestamp};

use crate::error::corrupt;

/// Nanoseconds since the Unix epoch: exact for every timestamp the engine makes. The range
/// (1677-09-21 to 2262-04-11) is the price; a timestamp outside it is refused on write.
pub(crate) fn timestamp_to_db(time: Timestamp) -> Result<i64, StoreError> {
    time.timestamp_nanos_opt().ok_or_else(|| {
        StoreError::Database(format!(
            "timestamp {time} cannot be stored: only 1677-09-21 to 2262-04-11 is supported"
        ))
    })
}

pub(crate) fn optional_timestamp_to_db(time: Option<Timestamp>) -> Result<Option<i64>, StoreError> {
    time.map(timestamp_to_db).transpose()
}

/// For range filters: a bound outside the storable range is clamped, which selects the same rows.
pub(crate) fn timestamp_bound_to_db(time: Timestamp) -> i64 {
    time.timestamp_nanos_opt().unwrap_or(if time.timestamp() < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn timestamp_from_db(nanos: i64) -> Timestamp {
    DateTime::from_timestamp_nanos(nanos)
}

pub(crate) fn optional_timestamp_from_db(nanos: Option<i64>) -> Option<Timestamp> {
    nanos.map(timestamp_from_db)
}

pub(crate) fn json_to_db(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(format!("cannot encode JSON: {e}")))
}

pub(crate) fn optional_json_to_db(value: Option<&impl Serialize>) -> Result<Option<String>, StoreError> {
    value.map(json_to_db).transpose()
}

pub(crate) fn json_from_db<T: DeserializeOwned>(
    row: impl Display,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(row, column, format_args!("invalid JSON: {e}")))
}

pub(crate) fn optional_json_from_db<T: DeserializeOwned>(
    row: impl Display,
    column: &str,
    text: Option<&str>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| json_from_db(row, column, t)).transpose()
}

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

pub(crate) fn u32_from_db(row: impl Display, column: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(row, column, format_args!("{value} is not a u32")))
}

pub(crate) fn key_from_db(row: impl Display, column: &str, text: &str) -> Result<TaskRunKey, StoreError> {
    text.parse().map_err(|e: String| corrupt(row, column, e))
}

pub(crate) fn optional_key_from_db(
    row: impl Display,
    column: &str,
    text: Option<&str>,
) -> Result<Option<TaskRunKey>, StoreError> {
    text.map(|t| key_from_db(row, column, t)).transpose()
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
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_nanosecond() {
        let time = chrono::Utc.timestamp_opt(1_767_225_600, 123_456_789).single().expect("valid");
        let stored = timestamp_to_db(time).expect("in range");
        assert_eq!(stored, 1_767_225_600_123_456_789);
        assert_eq!(timestamp_from_db(stored), time);
    }

    #[test]
    fn timestamps_outside_the_range_are_refused_and_clamped_as_bounds() {
        let far = chrono::Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).single().expect("valid");
        let early = chrono::Utc.with_ymd_and_hms(1600, 1, 1, 0, 0, 0).single().expect("valid");
        assert!(matches!(timestamp_to_db(far), Err(StoreError::Database(_))));
        assert_eq!(timestamp_bound_to_db(far), i64::MAX);
        assert_eq!(timestamp_bound_to_db(early), i64::MIN);
    }

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
