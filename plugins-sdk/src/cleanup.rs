//! Undo what the task started elsewhere if the task is stopped: HTTP requests the host sends
//! when the run ends without returning (its `timeout`, a kill of the execution, a trap, the
//! memory limit), through the host's `cleanup` interface.
//!
//! After such an end no more of the component's code runs, so a task that starts something
//! remote (a CI build, a deployment) registers the request that stops it as soon as it knows
//! it, and drops the [`Guard`] (or calls [`Guard::cancel`]) once the work ended or was
//! stopped by the task itself:
//!
//! ```no_run
//! use sluice_plugin::cleanup::{self, AbortRequest};
//! # fn run(build_url: &str, auth: &str) -> Result<(), sluice_plugin::TaskError> {
//! let stop = AbortRequest::new("POST", format!("{build_url}/stop")).header("authorization", auth);
//! let guard = cleanup::on_abort(&stop)?;
//! // ... wait for the build ...
//! guard.cancel();
//! # Ok(())
//! # }
//! ```
//!
//! A run that returns (with outputs or an error) sends nothing, whatever is still registered.
//! The URL must be granted to the run (`allow.network`, or the origin of a config field the
//! task declares), the host gives each request [`SEND_TIMEOUT_SECS`] seconds and logs its
//! method, URL without query and status, never a header value. A run holds at most
//! [`MAX_REQUESTS`] at once, each at most [`MAX_REQUEST_BYTES`] (URL, headers and body).
//!
//! Outside a component (host unit tests of a plugin) there is no host: registering checks the
//! bounds and the URL's scheme, and nothing is ever sent.

use std::fmt;

use crate::TaskError;

/// The most requests a run holds registered at once.
pub const MAX_REQUESTS: usize = 8;
/// The most bytes of one request: URL, header names and values, and body together (64 KiB).
pub const MAX_REQUEST_BYTES: usize = 64 << 10;
/// How long the host waits for each request's answer.
pub const SEND_TIMEOUT_SECS: u64 = 10;

/// A request for the host to send if the run is stopped.
#[derive(Clone, PartialEq, Eq)]
pub struct AbortRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Shows method and URL only: header values hold credentials.
impl fmt::Debug for AbortRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AbortRequest({} {})", self.method, self.url)
    }
}

impl AbortRequest {
    /// `method url` (absolute, `http://` or `https://`), without headers or body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self { method: method.into(), url: url.into(), headers: Vec::new(), body: Vec::new() }
    }

    /// Adds a header (a repeated name is sent repeated).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (give a `content-type` header with it).
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// Why the host refused to register a request; the message says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cleanup request refused: {}", self.0)
    }
}

impl std::error::Error for Error {}

/// A refused registration fails the task (`failed`, with the host's reason).
impl From<Error> for TaskError {
    fn from(err: Error) -> Self {
        TaskError::Failed(err.to_string())
    }
}

/// A registered request; dropping it (or [`cancel`](Guard::cancel)) unregisters it.
#[must_use = "dropping the guard unregisters the request at once"]
#[derive(Debug)]
pub struct Guard {
    id: u32,
}

impl Guard {
    /// Unregisters the request: the work it would undo is done.
    pub fn cancel(self) {
        // Drop does it.
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        unregister(self.id);
    }
}

/// Registers `request` to be sent if the run ends without returning.
pub fn on_abort(request: &AbortRequest) -> Result<Guard, Error> {
    register(request).map(|id| Guard { id })
}

#[cfg(target_os = "wasi")]
fn register(request: &AbortRequest) -> Result<u32, Error> {
    crate::bindings::sluice::plugin::cleanup::register_request(
        &request.method,
        &request.url,
        &request.headers,
        &request.body,
    )
    .map_err(Error)
}

#[cfg(target_os = "wasi")]
fn unregister(id: u32) {
    crate::bindings::sluice::plugin::cleanup::cancel(id);
}

/// Outside a component: the host's checks that need no grants.
#[cfg(not(target_os = "wasi"))]
fn register(request: &AbortRequest) -> Result<u32, Error> {
    let size = request.url.len()
        + request.body.len()
        + request.headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
    if size > MAX_REQUEST_BYTES {
        return Err(Error(format!(
            "{size} bytes of URL, headers and body; the most for one cleanup request is {MAX_REQUEST_BYTES} bytes (64 KiB)"
        )));
    }
    if !(request.url.starts_with("http://") || request.url.starts_with("https://")) {
        return Err(Error("the URL must be absolute, `http://` or `https://`".into()));
    }
    Ok(0)
}

#[cfg(not(target_os = "wasi"))]
fn unregister(_id: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_header_values() {
        let request = AbortRequest::new("POST", "https://ci/stop").header("authorization", "Basic c2VjcmV0");
        assert_eq!(format!("{request:?}"), "AbortRequest(POST https://ci/stop)");
    }

    #[test]
    fn bounds_and_schemes_are_checked_outside_a_component_too() {
        assert!(on_abort(&AbortRequest::new("POST", "https://ci/stop")).is_ok());
        assert!(on_abort(&AbortRequest::new("POST", "ci/stop")).is_err());
        let big = AbortRequest::new("POST", "https://ci/stop").body(vec![0; MAX_REQUEST_BYTES]);
        let refused = on_abort(&big).expect_err("too big");
        assert!(refused.to_string().contains("64 KiB"), "{refused}");
    }
}
