//! Durations as flows write them: humantime (`30s`, `5m`, `1h 30m`, `2days`) or ISO 8601
//! (`PT30S`, `PT1H30M`, `P1D`; no years or months, whose length varies).

use std::time::Duration;

/// Parses either form. The error says what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.starts_with('P') || text.starts_with('p') {
        return parse_iso(text);
    }
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_iso(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("`{text}` is not an ISO 8601 duration ({why})");
    let upper = text.to_ascii_uppercase();
    let body = &upper[1..];
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let mut total = 0f64;
    let mut any = false;
    for (part, units) in [
        (date, &[('W', 604_800f64), ('D', 86_400f64)][..]),
        (time.unwrap_or(""), &[('H', 3600f64), ('M', 60f64), ('S', 1f64)][..]),
    ] {
        let mut rest = part;
        let mut allowed = units.iter();
        while !rest.is_empty() {
            let end = rest
                .find(|c: char| c.is_ascii_alphabetic())
                .ok_or_else(|| bad("a number must end in a unit"))?;
            let number: f64 = rest[..end].replace(',', ".").parse().map_err(|_| bad("expected a number"))?;
            let unit = rest[end..].chars().next().unwrap_or(' ');
            if unit == 'Y' || (unit == 'M' && std::ptr::eq(part, date)) {
                return Err(bad("years and months have no fixed length; use days or weeks"));
            }
            let seconds = allowed
                .by_ref()
                .find(|(u, _)| *u == unit)
                .map(|(_, s)| *s)
                .ok_or_else(|| bad("units out of order or unknown"))?;
            total += number * seconds;
            any = true;
            rest = &rest[end + 1..];
        }
    }
    if !any || time == Some("") {
        return Err(bad("no value"));
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad("out of range"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn both_forms() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("PT30S").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("PT1H30M").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("P1DT1S").unwrap(), Duration::from_secs(86_401));
        assert_eq!(parse_duration("P2W").unwrap(), Duration::from_secs(2 * 604_800));
        assert_eq!(parse_duration("PT0.5S").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse_duration("P1M").unwrap_err().contains("no fixed length"));
        assert!(parse_duration("PT").unwrap_err().contains("no value"));
        assert!(parse_duration("PT5X").unwrap_err().contains("unknown"));
        assert!(parse_duration("PT1S1H").unwrap_err().contains("out of order"));
        assert!(parse_duration("soon").is_err());
    }
}
