//! Percent-encoding for URL paths, queries and `application/x-www-form-urlencoded` bodies.

/// Percent-encode `value` for one path segment or one query or form value: everything but
/// RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped, `/`, `&`, `=`, `+` and
/// spaces included, so the value cannot change the URL's structure.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `name=value&...`, each part encoded with [`encode_component`]: a query string, or a
/// `application/x-www-form-urlencoded` body (which servers decode the same way).
pub fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| format!("{}={}", encode_component(name), encode_component(value)))
        .collect();
    parts.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_escaped() {
        assert_eq!(encode_component("a b/c&d=e+f~g.h_i-j"), "a%20b%2Fc%26d%3De%2Bf~g.h_i-j");
        assert_eq!(encode_component("é"), "%C3%A9");
        assert_eq!(form([("q", "state=1^active=true"), ("n", "")]), "q=state%3D1%5Eactive%3Dtrue&n=");
    }
}
