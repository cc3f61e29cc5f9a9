//! [`Error`]: why an HTTP request did not produce a response.

use std::fmt;

use wstd::http::error::ErrorCode;

use crate::TaskError;

/// Why an HTTP request did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The host refused the request: the flow did not grant this origin.
    Denied {
        /// `scheme://host[:port]` of the refused request.
        origin: String,
    },
    /// The host refused to connect to the address the origin resolved to.
    AddressProhibited {
        /// `scheme://host[:port]` of the refused request.
        origin: String,
    },
    /// The request could not be built: bad URL, method or header.
    InvalidRequest(String),
    /// The request failed on the way: DNS, connection, TLS, timeout, protocol.
    Failed {
        /// `scheme://host[:port]` of the failed request.
        origin: String,
        /// What happened, naming the origin.
        message: String,
    },
    /// The server redirected more than [`MAX_REDIRECTS`](super::MAX_REDIRECTS) times.
    TooManyRedirects {
        /// The URL of the last redirect.
        url: String,
    },
    /// The response body is larger than the request's limit.
    BodyTooLarge {
        /// The URL that sent it.
        url: String,
        /// The limit, in bytes.
        max: u64,
    },
    /// The response body is not what the caller expected (e.g. not JSON).
    Decode(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied { origin } if origin == super::DOCKER_ORIGIN => f.write_str(
                "the Docker Engine API was refused by the host: add `docker: true` to the task's `allow`",
            ),
            Self::Denied { origin } => write!(
                f,
                "outbound HTTP to {origin} was refused by the host: grant it in the task's `allow.network`"
            ),
            Self::AddressProhibited { origin } => write!(
                f,
                "outbound HTTP to {origin} was refused by the host: the address it resolves to is not allowed"
            ),
            Self::InvalidRequest(message) => f.write_str(message),
            Self::Failed { message, .. } => f.write_str(message),
            Self::TooManyRedirects { url } => {
                write!(f, "too many redirects (more than {}), the last to {url}", super::MAX_REDIRECTS)
            }
            Self::BodyTooLarge { url, max } => {
                write!(f, "the response body from {url} is larger than {max} bytes")
            }
            Self::Decode(message) => write!(f, "could not decode the response body: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// Host refusals become [`TaskError::Denied`]; everything else fails the task.
impl From<Error> for TaskError {
    fn from(err: Error) -> Self {
        match err {
            Error::Denied { .. } | Error::AddressProhibited { .. } => TaskError::Denied(err.to_string()),
            _ => TaskError::Failed(err.to_string()),
        }
    }
}

/// For components that implement the raw bindings themselves.
impl From<Error> for crate::bindings::sluice::plugin::types::TaskError {
    fn from(err: Error) -> Self {
        TaskError::from(err).into()
    }
}

/// Classify an error from `wstd`: a `wasi:http` error code when the host gave one.
pub(super) fn from_wstd(err: &wstd::http::Error, origin: &str) -> Error {
    match err.downcast_ref::<ErrorCode>() {
        Some(code) => from_code(code, origin),
        None => failed(origin, format!("HTTP request to {origin} failed: {err:#}")),
    }
}

fn from_code(code: &ErrorCode, origin: &str) -> Error {
    let message = match code {
        ErrorCode::HttpRequestDenied => {
            return Error::Denied { origin: origin.to_string() };
        }
        ErrorCode::DestinationIpProhibited => {
            return Error::AddressProhibited { origin: origin.to_string() };
        }
        ErrorCode::DnsTimeout => format!("DNS lookup for {origin} timed out"),
        ErrorCode::DnsError(payload) => match &payload.rcode {
            Some(rcode) => format!("DNS lookup for {origin} failed: {rcode}"),
            None => format!("DNS lookup for {origin} failed"),
        },
        ErrorCode::DestinationNotFound => format!("{origin} was not found (DNS)"),
        ErrorCode::DestinationUnavailable => format!("{origin} is unavailable"),
        ErrorCode::DestinationIpUnroutable => format!("no route to {origin}"),
        ErrorCode::ConnectionRefused => format!("connection refused to {origin}"),
        ErrorCode::ConnectionTerminated => {
            format!("the connection to {origin} was closed unexpectedly")
        }
        ErrorCode::ConnectionTimeout => format!("connecting to {origin} timed out"),
        ErrorCode::ConnectionReadTimeout => format!("reading from {origin} timed out"),
        ErrorCode::ConnectionWriteTimeout => format!("writing to {origin} timed out"),
        ErrorCode::ConnectionLimitReached => {
            format!("too many open connections to reach {origin}")
        }
        ErrorCode::TlsProtocolError => format!("TLS handshake with {origin} failed"),
        ErrorCode::TlsCertificateError => format!("the TLS certificate of {origin} is not valid"),
        ErrorCode::TlsAlertReceived(alert) => tls_failure(origin, alert.alert_message.as_deref()),
        ErrorCode::HttpResponseTimeout => format!("{origin} did not respond in time"),
        ErrorCode::HttpResponseIncomplete => format!("the response from {origin} was incomplete"),
        ErrorCode::HttpProtocolError => format!("HTTP protocol error talking to {origin}"),
        ErrorCode::HttpRequestUriInvalid => format!("the host rejected the URL for {origin}"),
        ErrorCode::InternalError(Some(text)) => {
            format!("HTTP request to {origin} failed: {text}")
        }
        other => format!("HTTP request to {origin} failed: {other:?}"),
    };
    failed(origin, message)
}

/// The host puts rustls' reason in a `tls-alert-received`, for an alert the server sent and for
/// a certificate the host rejected alike (`invalid peer certificate: UnknownIssuer`).
fn tls_failure(origin: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("TLS handshake with {origin} failed: {reason}"),
        None => format!("TLS handshake with {origin} failed: the server sent an alert"),
    }
}

pub(super) fn failed(origin: &str, message: String) -> Error {
    Error::Failed { origin: origin.to_string(), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_denied_and_the_rest_failed() {
        let origin = "https://api.example";
        let denied = TaskError::from(from_code(&ErrorCode::HttpRequestDenied, origin));
        assert_eq!(
            denied,
            TaskError::Denied(
                "outbound HTTP to https://api.example was refused by the host: grant it in the task's `allow.network`".into()
            )
        );
        let docker = TaskError::from(from_code(&ErrorCode::HttpRequestDenied, super::super::DOCKER_ORIGIN));
        assert_eq!(
            docker,
            TaskError::Denied(
                "the Docker Engine API was refused by the host: add `docker: true` to the task's `allow`"
                    .into()
            )
        );
        assert_eq!(
            tls_failure(origin, Some("invalid peer certificate: UnknownIssuer")),
            "TLS handshake with https://api.example failed: invalid peer certificate: UnknownIssuer"
        );
        let refused = TaskError::from(from_code(&ErrorCode::ConnectionRefused, origin));
        assert_eq!(refused, TaskError::Failed("connection refused to https://api.example".into()));
    }
}
