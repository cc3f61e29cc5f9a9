//! Unit-bearing scalars: byte sizes, and the forms a duration may take (parsed by
//! [`crate::duration`], shared with run time).

/// The forms a duration may take, for hints.
pub const DURATION_FORMS: &str = "`30s`, `5m`, `1h 30m` or ISO 8601 `PT30S`";

/// The units a size may carry, for hints.
pub const SIZE_UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];

/// A byte size: `1024`, `256MiB`, `10 MB`. The error says what is wrong, without repeating it.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    if number.is_empty() {
        return Err("it does not start with a whole number".to_string());
    }
    let unit = unit.trim_start();
    let multiplier = if unit.is_empty() {
        1
    } else {
        SIZE_UNITS.iter().find(|(name, _)| *name == unit).map(|(_, m)| *m).ok_or_else(|| {
            if unit.starts_with('.') {
                "fractions are not supported; use a smaller unit".to_string()
            } else {
                format!("`{unit}` is not a size unit")
            }
        })?
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| "it is too large".to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("2KB"), Ok(2_000));
        assert_eq!(parse_size("3 MB"), Ok(3_000_000));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4KiB"), Ok(4_096));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert_eq!(parse_size("MiB").unwrap_err(), "it does not start with a whole number");
        assert_eq!(parse_size("10mb").unwrap_err(), "`mb` is not a size unit");
        assert_eq!(parse_size("1.5GiB").unwrap_err(), "fractions are not supported; use a smaller unit");
        assert_eq!(parse_size("99999999999GiB").unwrap_err(), "it is too large");
    }
}
