//! URL handling the client needs: checking a target and resolving `Location` headers.

use wstd::http::Uri;

use super::Error;

/// A request target: the parsed URL and its origin, which is what the host grants.
pub(super) struct Target {
    pub uri: Uri,
    pub origin: String,
}

impl Target {
    /// Parse an absolute `http`/`https` URL.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::InvalidRequest(format!("`{url}` is not a valid URL: {why}"));
        let uri: Uri = url.parse().map_err(|err| invalid(&format!("{err}")))?;
        let scheme = match uri.scheme_str() {
            Some(scheme @ ("http" | "https")) => scheme,
            Some(other) => return Err(invalid(&format!("scheme `{other}` is not http or https"))),
            None => return Err(invalid("it has no scheme (http:// or https://)")),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| invalid("it has no host"))?;
        let origin = match uri.port_u16() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        Ok(Self { uri, origin })
    }
}

/// Resolve a redirect's `Location` against the URL that sent it (RFC 3986, section 5.2).
pub(super) fn resolve(base: &Uri, location: &str) -> String {
    let location = location.trim();
    let location = location.split_once('#').map_or(location, |(before, _)| before);
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map_or("", |a| a.as_str());
    if has_scheme(location) {
        return location.to_string();
    }
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let (path, query) = match location.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (location, None),
    };
    let (path, query) = if path.is_empty() {
        (base.path().to_string(), query.or(base.query()))
    } else if path.starts_with('/') {
        (remove_dot_segments(path), query)
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        (remove_dot_segments(&format!("{dir}/{path}")), query)
    };
    match query {
        Some(query) => format!("{scheme}://{authority}{path}?{query}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

fn has_scheme(reference: &str) -> bool {
    match reference.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// Apply `.` and `..` segments of an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Uri {
        "http://a.example:8080/b/c/d?q=1".parse().expect("valid")
    }

    #[test]
    fn resolves_locations() {
        let cases = [
            ("https://other.example/x", "https://other.example/x"),
            ("//other.example/x", "http://other.example/x"),
            ("/x/y", "http://a.example:8080/x/y"),
            ("e", "http://a.example:8080/b/c/e"),
            ("../e?z=2", "http://a.example:8080/b/e?z=2"),
            ("./", "http://a.example:8080/b/c/"),
            ("?z=2", "http://a.example:8080/b/c/d?z=2"),
            ("", "http://a.example:8080/b/c/d?q=1"),
            ("/x#frag", "http://a.example:8080/x"),
        ];
        for (location, expected) in cases {
            assert_eq!(resolve(&base(), location), expected, "{location}");
        }
    }

    #[test]
    fn origin_keeps_an_explicit_port() {
        let target = Target::parse("https://user@h.example:8443/p").expect("valid");
        assert_eq!(target.origin, "https://h.example:8443");
        assert!(Target::parse("ftp://h.example/").is_err());
        assert!(Target::parse("/relative").is_err());
    }
}
