//! Time bounds in query strings.

use sluice_engine::Timestamp;

use crate::error::ApiError;

/// A time bound of a list query (`after`, `before`, `since`...): an RFC 3339 time (`2026-05-01T10:00:00Z`, `...+02:00`). A `+` left
/// unencoded in a query string arrives as a space; as RFC 3339 has no other space before an
/// offset, `... 02:00` is read as `...+02:00`.
pub fn time_bound(name: &str, text: &str) -> Result<Timestamp, ApiError> {
    let text = text.trim_start();
    let restored;
    let text = match text.rsplit_once(' ') {
        Some((time, offset)) if is_offset(offset) && time.contains(':') => {
            restored = format!("{time}+{offset}");
            &restored
        }
        _ => text,
    };
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&chrono::Utc)).map_err(|_| {
        ApiError::BadRequest(format!(
            "`{name}={text}` is not an RFC 3339 time: write it like 2026-05-01T10:00:00Z, or with an \
             offset encoded as %2B (`+` in a query string means a space): 2026-05-01T12:00:00%2B02:00"
        ))
    })
}

/// `hh:mm`.
fn is_offset(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit())
}
