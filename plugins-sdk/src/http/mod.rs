//! A small blocking HTTP client over `wasi:http`.
//!
//! The host sends the requests and allows only the origins the flow grants; a refusal comes back
//! as [`Error::Denied`], which `?` turns into [`TaskError::Denied`](crate::TaskError::Denied).
//! Redirects are followed by default (each hop is a new request, so the host checks each origin).
//!
//! ```ignore
//! let response = sluice_plugin::http::get("https://example.com/api")
//!     .header("accept", "application/json")
//!     .send()?;
//! let value: serde_json::Value = response.json()?;
//! ```

mod error;
mod request;
mod response;
mod send;
mod url;

pub use error::Error;
pub use request::Request;
pub use response::Response;

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
