//! A small blocking HTTP client over `wasi:http`.
//!
//! The host sends the requests and allows only the origins the flow grants; a refusal comes back
//! as [`Error::Denied`], which `?` turns into [`TaskError::Denied`](crate::TaskError::Denied).
//! Redirects are followed by default (each hop is a new request, so the host checks each origin).
//! Bodies can stream both ways: [`Request::body_reader`] sends from a reader as it goes, and
//! [`Request::send_streaming`] hands the response body over chunk by chunk.
//! [`Request::send_retrying`] sends again after a 429 or 5xx, honouring `Retry-After`.
//!
//! ```ignore
//! let response = sluice_plugin::http::get("https://example.com/api")
//!     .header("accept", "application/json")
//!     .send()?;
//! let value: serde_json::Value = response.json()?;
//! ```

mod auth;
mod error;
mod form;
mod request;
mod response;
mod retry;
mod send;
mod url;

pub use auth::{Credentials, basic_auth, bearer_auth};
pub use error::Error;
pub use form::{encode_component, form};
pub use request::Request;
pub use response::Response;
pub use retry::{DEADLINE_MARGIN, Retry, is_retryable, retry_after, task_deadline};

/// The origin of the Docker Engine API as the host offers it to tasks granted `docker`:
/// send plain HTTP here (`http://docker.sluice.internal/v1.41/containers/json`) and the host
/// forwards it to its daemon. Without the grant the request fails with [`Error::Denied`].
pub const DOCKER_ORIGIN: &str = "http://docker.sluice.internal";

/// How many response body bytes a request reads unless told otherwise (16 MiB).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// How many redirects a request follows before failing.
pub const MAX_REDIRECTS: u32 = 10;

/// A `GET` request to `url`.
pub fn get(url: impl Into<String>) -> Request {
    Request::new("GET", url)
}

/// A `POST` request to `url`.
pub fn post(url: impl Into<String>) -> Request {
    Request::new("POST", url)
}
