//! The remote repository over smart HTTP: its URL, credentials, and the two requests of the
//! protocol (`GET info/refs`, `POST git-<service>`), with their failures turned into errors
//! that say what to do.

use sluice_plugin::TaskError;
use sluice_plugin::http::{self, Request, Response};

use crate::pktline::{garbage, preview};

/// Largest response the plugin reads (a pack is held in memory while it is decoded).
const MAX_RESPONSE_BYTES: u64 = 2 << 30;

/// A remote repository.
pub struct Remote {
    /// The repository URL without a trailing `/`.
    pub url: String,
    /// `scheme://host[:port]`, for messages.
    pub origin: String,
    authorization: Option<String>,
}

/// Which service a request is for.
#[derive(Clone, Copy)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }
}

impl Remote {
    /// Check `url` (http/https, no credentials in it) and keep the credentials for basic auth.
    pub fn new(url: &str, username: Option<&str>, password: Option<&str>) -> Result<Remote, TaskError> {
        let invalid = |why: &str| TaskError::invalid_config(format!("at /url: `{url}` {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("is not an http(s) URL"))?;
        if scheme != "http" && scheme != "https" {
            return Err(invalid("is not an http(s) URL (only the smart HTTP protocol is supported)"));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(invalid(
                "has credentials in it; put them in `username` and `password` (from a secret) instead",
            ));
        }
        if authority.is_empty() {
            return Err(invalid("has no host"));
        }
        let authorization = match (username, password) {
            (None, None) => None,
            (user, pass) => {
                Some(sluice_plugin::http::basic_auth(user.unwrap_or("git"), pass.unwrap_or_default()))
            }
        };
        Ok(Remote {
            url: url.trim_end_matches('/').to_string(),
            origin: format!("{scheme}://{authority}"),
            authorization,
        })
    }

    /// `GET <url>/info/refs?service=...`: the ref advertisement (or, in protocol v2, the
    /// capabilities). Returns the body.
    pub fn info_refs(&self, service: Service, v2: bool) -> Result<Vec<u8>, TaskError> {
        let url = format!("{}/info/refs?service={}", self.url, service.name());
        let mut request = self.request("GET", &url);
        if v2 {
            request = request.header("git-protocol", "version=2");
        }
        let response = self.send(request, &url)?;
        self.expect_type(&response, &format!("application/x-{}-advertisement", service.name()), &url)?;
        Ok(response.body)
    }

    /// `POST <url>/<service>` with a request body; returns the response body.
    pub fn post(&self, service: Service, body: Vec<u8>, v2: bool) -> Result<Vec<u8>, TaskError> {
        let url = format!("{}/{}", self.url, service.name());
        let mut request = self
            .request("POST", &url)
            .header("content-type", format!("application/x-{}-request", service.name()))
            .header("accept", format!("application/x-{}-result", service.name()))
            // Held whole, so it goes with a `content-length` (the SDK's rule), as the git CLI
            // sends any request below its `http.postBuffer`: some servers refuse chunked
            // bodies. git streams larger ones chunked only because it does not hold them; a
            // pack here is built whole first, so it keeps its length at any size.
            .body(body);
        if v2 {
            request = request.header("git-protocol", "version=2");
        }
        let response = self.send(request, &url)?;
        self.expect_type(&response, &format!("application/x-{}-result", service.name()), &url)?;
        Ok(response.body)
    }

    fn request(&self, method: &str, url: &str) -> Request {
        let mut request =
            Request::new(method, url).max_body_bytes(MAX_RESPONSE_BYTES).header("user-agent", crate::AGENT);
        if let Some(auth) = &self.authorization {
            request = request.header("authorization", auth.as_str());
        }
        request
    }

    fn send(&self, request: Request, url: &str) -> Result<Response, TaskError> {
        let response = request.send().map_err(|err| match err {
            http::Error::InvalidRequest(m) => TaskError::invalid_config(format!("at /url: {m}")),
            other => TaskError::from(other),
        })?;
        match response.status {
            200..=299 => Ok(response),
            401 | 403 => Err(TaskError::failed(format!(
                "authentication failed for {}: check username/password (HTTP {} from {url}{})",
                self.origin,
                response.status,
                if self.authorization.is_none() { "; no credentials were given" } else { "" }
            ))),
            404 => Err(TaskError::failed(format!(
                "no git repository at {} (HTTP 404 from {url}): check the URL",
                self.url
            ))),
            status => {
                Err(TaskError::failed(format!("{url} answered HTTP {status}: {}", preview(&response.body))))
            }
        }
    }

    fn expect_type(&self, response: &Response, expected: &str, url: &str) -> Result<(), TaskError> {
        let actual = response.header("content-type").unwrap_or("none");
        if actual.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(expected)) {
            return Ok(());
        }
        Err(garbage(
            url,
            &format!(
                "content-type `{actual}`, not `{expected}`; body starts with `{}`",
                preview(&response.body)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let remote = Remote::new("http://h.example:8080/r.git/", Some("ci"), Some("t"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(remote.url, "http://h.example:8080/r.git");
        assert_eq!(remote.origin, "http://h.example:8080");
        assert_eq!(remote.authorization.as_deref(), Some("Basic Y2k6dA=="));
        assert!(Remote::new("ssh://h/r", None, None).is_err());
        assert!(Remote::new("https://u:p@h/r", None, None).is_err());
    }
}
