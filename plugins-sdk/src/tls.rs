//! HTTPS to a server with its own CA, and client certificates, through the host's `tls`
//! interface.
//!
//! By default [`http`](crate::http) requests over HTTPS trust the public web roots and present
//! no client certificate. A Kubernetes API server (or any internal service) usually has its own
//! CA and may want a client certificate; [`trust_origin`] sets both for one origin, for the
//! rest of the task run, as kubectl does with a kubeconfig's `certificate-authority-data`,
//! `client-certificate-data` and `client-key-data`:
//!
//! ```no_run
//! use sluice_plugin::tls::{self, ClientIdentity};
//! # fn run(server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<(), sluice_plugin::TaskError> {
//! // server = "https://10.0.0.1:6443"; the flow must grant it in `allow.network`.
//! let origin = tls::origin_of(server)?;
//! let client = ClientIdentity { certificate_chain: cert_pem.into(), private_key: key_pem.into() };
//! tls::trust_origin(&origin, Some(ca_pem), Some(&client))?;
//! let _pods = sluice_plugin::http::get(format!("{server}/api/v1/namespaces/default/pods")).send()?;
//! # Ok(())
//! # }
//! ```
//!
//! The trust belongs to the run: the next run of the task (or another task running at the same
//! time) starts with the defaults again. Only an origin the flow grants can be given trust, and
//! a run may hold trust for at most [`MAX_ORIGINS`] origins, each call passing at most
//! [`MAX_PEM_BYTES`] of PEM.
//!
//! Outside a component (host unit tests of a plugin) there is no host to configure: the calls
//! check the origin and the PEM's outline as the host would, and change nothing.

use std::fmt;

use crate::TaskError;

/// The most PEM (CA certificates, chain and key together) one call may pass: 1 MiB.
pub const MAX_PEM_BYTES: usize = 1 << 20;
/// The most origins a run may give trust of their own.
pub const MAX_ORIGINS: usize = 64;

/// A client certificate to present when the server asks for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// PEM, one or more `CERTIFICATE` blocks, the leaf first.
    pub certificate_chain: String,
    /// PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`),
    /// the key of the leaf certificate.
    pub private_key: String,
}

/// Why the host refused to set an origin's trust; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The origin is not granted to the run: the message says what to grant.
    Denied(String),
    /// The origin or the PEM is not valid: the message names the part and why.
    Invalid(String),
    /// Past [`MAX_PEM_BYTES`] or [`MAX_ORIGINS`]: the message says which.
    Limit(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(m) | Self::Limit(m) => f.write_str(m),
            Self::Invalid(m) => write!(f, "TLS settings refused: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// A refusal for want of a grant is [`TaskError::Denied`]; bad or oversized TLS material comes
/// from the task's config, so it is [`TaskError::InvalidConfig`].
impl From<Error> for TaskError {
    fn from(err: Error) -> Self {
        match err {
            Error::Denied(_) => TaskError::Denied(err.to_string()),
            Error::Invalid(_) | Error::Limit(_) => TaskError::InvalidConfig(err.to_string()),
        }
    }
}

/// For components that implement the raw bindings themselves.
impl From<Error> for crate::bindings::sluice::plugin::types::TaskError {
    fn from(err: Error) -> Self {
        TaskError::from(err).into()
    }
}

/// For the rest of the run, HTTPS to `origin` (exactly `https://host[:port]`, granted to the
/// task; or a [`tcp`](crate::tcp) destination as `smtp://`, `smtps://` or `tcp://host:port`)
/// trusts only the CA certificates in `ca_certificates` (PEM, one or more) instead of
/// the public roots, and presents `client` when the server asks for a certificate. `None`
/// keeps the default for that part. A later call for the same origin replaces this one.
///
/// A server the CA did not sign then fails the request with a TLS error that says so
/// (`invalid peer certificate: UnknownIssuer`), as [`http::Error::Failed`](crate::http::Error).
pub fn trust_origin(
    origin: &str,
    ca_certificates: Option<&str>,
    client: Option<&ClientIdentity>,
) -> Result<(), Error> {
    set_origin_trust(origin, ca_certificates, client)
}

/// Restores the defaults for `origin`: the public roots, no client certificate.
pub fn reset_origin(origin: &str) -> Result<(), Error> {
    set_origin_trust(origin, None, None)
}

/// The origin (`https://host[:port]`) of an `https` URL such as a kubeconfig's `server`
/// (`https://10.0.0.1:6443/prefix` gives `https://10.0.0.1:6443`).
pub fn origin_of(url: &str) -> Result<String, Error> {
    let invalid = |why: &str| Error::Invalid(format!("`{url}` is not an https URL: {why}"));
    let uri: wstd::http::Uri = url.parse().map_err(|e| invalid(&format!("{e}")))?;
    if uri.scheme_str() != Some("https") {
        return Err(invalid("its scheme is not https"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("it has no host"))?;
    let host_port = authority.as_str().rsplit_once('@').map_or(authority.as_str(), |(_, hp)| hp);
    if host_port.is_empty() {
        return Err(invalid("it has no host"));
    }
    Ok(format!("https://{host_port}"))
}

#[cfg(target_os = "wasi")]
fn set_origin_trust(
    origin: &str,
    ca_certificates: Option<&str>,
    client: Option<&ClientIdentity>,
) -> Result<(), Error> {
    use crate::bindings::sluice::plugin::tls as wit;
    let client = client.map(|c| wit::ClientIdentity {
        certificate_chain: c.certificate_chain.clone(),
        private_key: c.private_key.clone(),
    });
    wit::set_origin_trust(origin, ca_certificates, client.as_ref()).map_err(|e| match e {
        wit::TrustError::Denied(m) => Error::Denied(m),
        wit::TrustError::Invalid(m) => Error::Invalid(m),
        wit::TrustError::Limit(m) => Error::Limit(m),
    })
}

/// Outside a component: the host's checks that need no parsing of certificates.
#[cfg(not(target_os = "wasi"))]
fn set_origin_trust(
    origin: &str,
    ca_certificates: Option<&str>,
    client: Option<&ClientIdentity>,
) -> Result<(), Error> {
    let pem = ca_certificates.map_or(0, str::len)
        + client.map_or(0, |c| c.certificate_chain.len() + c.private_key.len());
    if pem > MAX_PEM_BYTES {
        return Err(Error::Limit(format!(
            "{pem} bytes of PEM in one call; the most is {MAX_PEM_BYTES} bytes (1 MiB)"
        )));
    }
    let rest = ["https://", "smtp://", "smtps://", "tcp://"]
        .iter()
        .find_map(|scheme| origin.strip_prefix(scheme))
        .unwrap_or("");
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*']) {
        return Err(Error::Invalid(format!("invalid origin {origin:?} (expected `https://host[:port]`)")));
    }
    const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";
    if ca_certificates.is_some_and(|pem| !pem.contains(CERTIFICATE)) {
        return Err(Error::Invalid("ca-certificates: no CERTIFICATE block".into()));
    }
    if let Some(client) = client {
        if !client.certificate_chain.contains(CERTIFICATE) {
            return Err(Error::Invalid("client certificate-chain: no CERTIFICATE block".into()));
        }
        if !client.private_key.contains("PRIVATE KEY-----") {
            return Err(Error::Invalid(
                "client private-key: no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_urls() {
        assert_eq!(origin_of("https://10.0.0.1:6443/prefix?x").as_deref(), Ok("https://10.0.0.1:6443"));
        assert_eq!(origin_of("https://kube.example").as_deref(), Ok("https://kube.example"));
        assert!(matches!(origin_of("http://kube.example"), Err(Error::Invalid(_))));
        assert!(matches!(origin_of("kube.example"), Err(Error::Invalid(_))));
    }

    #[test]
    fn refusals_become_task_errors_of_their_kind() {
        let denied = TaskError::from(Error::Denied("grant it".into()));
        assert_eq!(denied, TaskError::Denied("grant it".into()));
        let invalid = TaskError::from(Error::Invalid("ca-certificates: no CERTIFICATE block".into()));
        assert_eq!(
            invalid,
            TaskError::InvalidConfig("TLS settings refused: ca-certificates: no CERTIFICATE block".into())
        );
    }

    #[test]
    fn outside_a_component_the_outline_is_checked() {
        assert_eq!(
            trust_origin("https://h:6443", Some("junk"), None),
            Err(Error::Invalid("ca-certificates: no CERTIFICATE block".into()))
        );
        assert!(matches!(trust_origin("https://h/x", None, None), Err(Error::Invalid(_))));
        let big = "x".repeat(MAX_PEM_BYTES + 1);
        assert!(matches!(trust_origin("https://h", Some(&big), None), Err(Error::Limit(_))));
        let ca = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(trust_origin("https://h:6443", Some(ca), None), Ok(()));
        assert_eq!(reset_origin("https://h:6443"), Ok(()));
    }
}
