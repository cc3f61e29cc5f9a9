//! The network grant's unit: an origin pattern (`https://*.example.com:8443`), parsed and
//! matched the way the HTTP hook checks every request, or a TCP destination
//! (`smtp://mail.example.com:587`, `smtps://...`, `tcp://host:port`) for the `tcp` interface.
//! The two never stand for each other: an HTTP pattern (`*` schemes included) opens no TCP, and
//! a TCP one allows no HTTP request.

use std::fmt;
use std::str::FromStr;

/// An allowed origin, `scheme://host[:port]`, with `*` wildcards: `https://*.example.com`,
/// `http://127.0.0.1:*`, `*://api.example.com`. Without a port, the scheme's default port is
/// meant (80 for http, 443 for https); a `*` scheme with no port allows both defaults.
///
/// TCP destinations (the `tcp` interface) use the schemes `smtp` (default port 587, mail
/// submission), `smtps` (465, TLS from the first byte only) and `tcp` (the port is required).
/// `*` as a scheme stands for `http` and `https` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: Pattern,
    host: Pattern,
    port: PortPattern,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com` (not the apex itself).
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    SchemeDefault,
}

/// Why an origin pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid network grant `{pattern}`: {reason} (expected `scheme://host[:port]`, e.g. `https://api.example.com` or `https://*.example.com:8443`)"
)]
pub struct OriginPatternError {
    pattern: String,
    reason: &'static str,
}

impl FromStr for OriginPattern {
    type Err = OriginPatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| OriginPatternError { pattern: text.to_string(), reason };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| err("missing `://`"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => Pattern::Any,
            s @ ("http" | "https" | "smtp" | "smtps" | "tcp") => Pattern::Exact(s.to_string()),
            _ => return Err(err("the scheme must be http, https, * or, for TCP, smtp, smtps or tcp")),
        };
        if rest.contains(['/', '?', '#', '@']) {
            return Err(err("an origin has no path, query, fragment or user info"));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| err("malformed host or port"))?;
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            Pattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') {
                return Err(err("`*` may only stand for whole leading labels, as in `*.example.com`"));
            }
            Pattern::Suffix(format!(".{suffix}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(err("`*` may only stand for whole leading labels, as in `*.example.com`"));
        } else {
            Pattern::Exact(host)
        };
        let port = match port {
            None if scheme == Pattern::Exact("tcp".into()) => {
                return Err(err("a tcp:// grant names its port, as in `tcp://host:6379`"));
            }
            None => PortPattern::SchemeDefault,
            Some("*") => PortPattern::Any,
            Some(p) => PortPattern::Exact(
                p.parse().map_err(|_| err("the port must be a number from 0 to 65535 or *"))?,
            ),
        };
        Ok(OriginPattern { scheme, host, port, text: text.to_string() })
    }
}

/// Splits `host[:port]`, keeping bracketed IPv6 literals (`[::1]:8080`) whole.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((&authority[..host.len() + 2], None)),
            _ => Some((&authority[..host.len() + 2], Some(after.strip_prefix(':')?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// The default port of a scheme that sluice lets components speak.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "smtp" => Some(587),
        "smtps" => Some(465),
        _ => None,
    }
}

/// The schemes that grant TCP destinations rather than HTTP origins.
const TCP_SCHEMES: [&str; 3] = ["smtp", "smtps", "tcp"];

impl OriginPattern {
    /// Whether a request to `scheme://host:port` is allowed by this pattern.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let scheme_ok = match &self.scheme {
            Pattern::Any => true,
            Pattern::Exact(s) => *s == scheme,
            Pattern::Suffix(_) => false,
        };
        let host_ok = match &self.host {
            Pattern::Any => true,
            Pattern::Exact(h) => *h == host,
            Pattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Exact(p) => p == port,
            PortPattern::SchemeDefault => default_port(&scheme) == Some(port),
        };
        scheme_ok && host_ok && port_ok
    }

    /// Whether this is a TCP grant (`smtp`, `smtps`, `tcp`) that lets the `tcp` interface open
    /// `host:port`; `smtps` only with TLS from the first byte (`implicit_tls`). `host` is in
    /// lower case with IPv6 in brackets, as the interface names it.
    pub(crate) fn allows_tcp(&self, host: &str, port: u16, implicit_tls: bool) -> bool {
        let scheme = match &self.scheme {
            Pattern::Exact(s) if TCP_SCHEMES.contains(&s.as_str()) => s.as_str(),
            _ => return false,
        };
        if scheme == "smtps" && !implicit_tls {
            return false;
        }
        self.allows(scheme, host, port)
    }

    /// Whether this pattern grants TCP destinations (not HTTP origins).
    pub fn is_tcp(&self) -> bool {
        matches!(&self.scheme, Pattern::Exact(s) if TCP_SCHEMES.contains(&s.as_str()))
    }

    /// The exact origin of a URL (`https://example.com/x?y` -> `https://example.com`), as the
    /// grant that a task with a `network-from-config` capability gets by default.
    pub fn origin_of_url(url: &str) -> Result<OriginPattern, OriginPatternError> {
        let err = |reason| OriginPatternError { pattern: url.to_string(), reason };
        let uri: http::Uri = url.parse().map_err(|_| err("not a valid URL"))?;
        let scheme = uri.scheme_str().ok_or_else(|| err("the URL has no scheme"))?;
        let authority = uri.authority().ok_or_else(|| err("the URL has no host"))?;
        let host_port = authority.as_str().rsplit_once('@').map_or(authority.as_str(), |(_, hp)| hp);
        format!("{scheme}://{host_port}").parse()
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> OriginPattern {
        s.parse().expect("valid pattern")
    }

    #[test]
    fn exact_origin_with_default_port() {
        let pat = p("https://api.example.com");
        assert!(pat.allows("https", "api.example.com", 443));
        assert!(pat.allows("HTTPS", "API.example.com", 443));
        assert!(!pat.allows("https", "api.example.com", 8443));
        assert!(!pat.allows("http", "api.example.com", 80));
        assert!(!pat.allows("https", "evil.example.com", 443));
        assert!(!pat.allows("https", "api.example.com.evil.net", 443));
    }

    #[test]
    fn wildcards() {
        let pat = p("https://*.example.com");
        assert!(pat.allows("https", "a.example.com", 443));
        assert!(pat.allows("https", "a.b.example.com", 443));
        assert!(!pat.allows("https", "example.com", 443));
        assert!(!pat.allows("https", "badexample.com", 443));
        let any_port = p("http://127.0.0.1:*");
        assert!(any_port.allows("http", "127.0.0.1", 1234));
        assert!(!any_port.allows("http", "127.0.0.2", 1234));
        let any_scheme = p("*://h:8080");
        assert!(any_scheme.allows("http", "h", 8080) && any_scheme.allows("https", "h", 8080));
        let everything = p("*://*:*");
        assert!(everything.allows("https", "anything", 1));
    }

    #[test]
    fn ipv6_literals() {
        let pat = p("http://[::1]:8080");
        assert!(pat.allows("http", "[::1]", 8080));
        assert!(!pat.allows("http", "[::1]", 8081));
    }

    #[test]
    fn rejects_malformed_patterns_with_a_reason() {
        for (bad, reason) in [
            ("example.com", "missing `://`"),
            ("ftp://example.com", "the scheme must be http, https, * or, for TCP, smtp, smtps or tcp"),
            ("tcp://example.com", "a tcp:// grant names its port, as in `tcp://host:6379`"),
            ("https://example.com/path", "an origin has no path, query, fragment or user info"),
            ("https://ex*ample.com", "`*` may only stand for whole leading labels, as in `*.example.com`"),
            ("https://example.com:99999", "the port must be a number from 0 to 65535 or *"),
        ] {
            let err = bad.parse::<OriginPattern>().expect_err(bad);
            assert_eq!(err.reason, reason, "{bad}");
            assert!(err.to_string().starts_with(&format!("invalid network grant `{bad}`")));
        }
    }

    #[test]
    fn tcp_grants_open_tcp_and_http_grants_do_not() {
        let smtp = p("smtp://Mail.Example.com");
        assert!(
            smtp.allows_tcp("mail.example.com", 587, false) && smtp.allows_tcp("mail.example.com", 587, true)
        );
        assert!(!smtp.allows_tcp("mail.example.com", 25, false));
        assert!(
            !smtp.allows("http", "mail.example.com", 587) && !smtp.allows("https", "mail.example.com", 587)
        );
        let smtps = p("smtps://mail.example.com");
        assert!(smtps.allows_tcp("mail.example.com", 465, true));
        assert!(!smtps.allows_tcp("mail.example.com", 465, false), "smtps is TLS from the first byte only");
        let any = p("tcp://*.internal:*");
        assert!(any.allows_tcp("redis.internal", 6379, false) && !any.allows_tcp("internal", 6379, false));
        for http in ["http://mail.example.com:587", "https://mail.example.com:587", "*://*:*"] {
            assert!(!p(http).allows_tcp("mail.example.com", 587, true), "{http}");
            assert!(!p(http).is_tcp());
        }
        assert!(smtp.is_tcp() && smtps.is_tcp() && any.is_tcp());
    }

    #[test]
    fn origin_of_url_drops_path_and_userinfo() {
        let o = OriginPattern::origin_of_url("https://user:pw@example.com:8443/a/b?c").expect("url");
        assert_eq!(o.to_string(), "https://example.com:8443");
        assert!(o.allows("https", "example.com", 8443));
        let o = OriginPattern::origin_of_url("http://example.com/x").expect("url");
        assert!(o.allows("http", "example.com", 80));
        assert!(OriginPattern::origin_of_url("/relative").is_err());
    }
}
