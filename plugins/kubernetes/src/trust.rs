//! TLS for the cluster's origin: its own CA and a client certificate, set through the host's
//! `tls` interface for this run's requests to that origin only.

use sluice_plugin::TaskError;
use sluice_plugin::tls::{self, ClientIdentity};

/// Trusts `ca_pem` (instead of the public roots) for `origin` and presents `client` (chain,
/// key) when the server asks. A refusal for want of a grant says what to grant.
pub fn set(origin: &str, ca_pem: Option<&str>, client: Option<(&str, &str)>) -> Result<(), TaskError> {
    let client = client
        .map(|(chain, key)| ClientIdentity { certificate_chain: chain.into(), private_key: key.into() });
    tls::trust_origin(origin, ca_pem, client.as_ref()).map_err(|err| match err {
        tls::Error::Denied(_) => TaskError::denied(format!(
            "the cluster's server {origin} is not granted: add it to the task's `allow.network`"
        )),
        other => TaskError::from(other),
    })
}
