//! TLS for the cluster's origin: its own CA and a client certificate, set through the host's
//! `tls` interface for this run's requests to that origin only.

use sluice_plugin::TaskError;

/// Trusts `ca_pem` (instead of the public roots) for `origin` and presents `client` (chain,
/// key) when the server asks.
pub fn set(origin: &str, ca_pem: Option<&str>, client: Option<(&str, &str)>) -> Result<(), TaskError> {
    let _ = (origin, ca_pem, client);
    Err(TaskError::failed("TLS trust for a cluster's CA is not available in this build yet"))
}
