//! Where a notification goes: a URL that may itself be the credential (Slack, Teams and Discord
//! webhooks), so everything said about it (logs, errors) names its origin only.

use sluice_plugin::TaskError;
use sluice_plugin::http;

/// A destination URL and the part of it that may be shown.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The whole URL: never logged, never in an error.
    pub url: String,
    /// `scheme://host[:port]`, what messages name.
    pub origin: String,
    /// The service, for messages (`Slack`, `the webhook`).
    pub service: &'static str,
}

impl Endpoint {
    /// `url` from config field `field`; an error names the field, never the value.
    pub fn parse(url: &str, field: &str, service: &'static str) -> Result<Endpoint, TaskError> {
        let origin = origin_of(url).ok_or_else(|| {
            TaskError::invalid_config(format!(
                "`{field}` is not an absolute http(s) URL (its value is not shown: it may be a secret)"
            ))
        })?;
        Ok(Endpoint { url: url.to_string(), origin, service })
    }

    /// A transport error as a task error that names the origin only (the SDK's messages for a
    /// redirect loop or a large body quote the whole URL).
    pub fn transport_error(&self, err: http::Error) -> TaskError {
        let origin = &self.origin;
        match err {
            http::Error::Denied { .. } | http::Error::AddressProhibited { .. } => err.into(),
            http::Error::Failed { message, .. } => {
                TaskError::failed(format!("sending to {} ({origin}) failed: {message}", self.service))
            }
            http::Error::InvalidRequest(_) => TaskError::invalid_config(format!(
                "the request to {} ({origin}) could not be built: check the URL and headers",
                self.service
            )),
            http::Error::BodyTooLarge { max, .. } => TaskError::failed(format!(
                "{} ({origin}) answered with a body larger than {max} bytes",
                self.service
            )),
            _ => TaskError::failed(format!("sending to {} ({origin}) failed", self.service)),
        }
    }
}

/// `scheme://host[:port]` of an absolute http(s) URL, user info left out; None otherwise.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() || host_port.contains(char::is_whitespace) {
        return None;
    }
    Some(format!("{scheme}://{}", host_port.to_ascii_lowercase()))
}

/// The start of a service's answer, for an error message: trimmed, at most `max` bytes.
pub fn preview(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() { format!("{}…", &text[..end]) } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_hide_paths_and_user_info() {
        assert_eq!(
            origin_of("https://hooks.slack.com/services/T0/B0/XXXX").as_deref(),
            Some("https://hooks.slack.com")
        );
        assert_eq!(origin_of("http://u:p@127.0.0.1:8080/x?y").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(origin_of("ftp://x/y"), None);
        assert_eq!(origin_of("hooks.slack.com/services"), None);
    }

    #[test]
    fn a_bad_url_is_not_quoted() {
        let err = Endpoint::parse("not a url: secret-token", "webhook", "Slack").unwrap_err();
        assert!(!err.message().contains("secret-token"), "{err}");
    }

    #[test]
    fn previews_cut_at_a_char_boundary() {
        assert_eq!(preview("  héllo  ", 2), "h…");
        assert_eq!(preview("ok", 10), "ok");
    }
}
