//! rustls client configs: the process-wide default (the public webpki roots, no client
//! certificate) and one built from an origin's PEM, with errors that name the part at fault.

use std::sync::{Arc, LazyLock};

use rustls::client::WantsClientCert;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A client certificate chain and its key, PEM, as the `tls` interface passes them.
pub(crate) struct ClientPem<'a> {
    pub(crate) certificate_chain: &'a str,
    pub(crate) private_key: &'a str,
}

/// HTTP/1.1 is all the send path speaks; saying so lets a server that also offers h2 pick 1.1.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// ring, the provider wasmtime-wasi-http's own client uses; one per process.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

/// A builder with ring and the safe protocol versions (TLS 1.2 and 1.3).
fn builder() -> Result<ConfigBuilder<ClientConfig, rustls::WantsVerifier>, rustls::Error> {
    ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()
}

fn finish(mut config: ClientConfig) -> Arc<ClientConfig> {
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Arc::new(config)
}

/// The public webpki roots: what outbound HTTPS trusts unless the run says otherwise.
fn public_roots() -> RootCertStore {
    RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// The config of every origin without trust of its own, built once per process and shared:
/// parsing the root store per request would cost more than the handshake.
pub(crate) fn default_config() -> Arc<ClientConfig> {
    static DEFAULT: LazyLock<Arc<ClientConfig>> = LazyLock::new(|| {
        // ring supports both safe versions, so this cannot fail; it did, every HTTPS request
        // would, and a panic here says why at once.
        let builder = builder().expect("ring supports TLS 1.2 and 1.3");
        finish(builder.with_root_certificates(public_roots()).with_no_client_auth())
    });
    DEFAULT.clone()
}

/// A config trusting `ca_certificates` (else the public roots) and presenting `client` (else
/// nothing). Errors name the part: `ca-certificates: ...`, `client certificate-chain: ...`,
/// `client private-key: ...`.
pub(crate) fn origin_config(
    ca_certificates: Option<&str>,
    client: Option<ClientPem<'_>>,
) -> Result<Arc<ClientConfig>, String> {
    let roots = match ca_certificates {
        Some(pem) => ca_store(pem)?,
        None => public_roots(),
    };
    let builder = builder().map_err(|e| format!("TLS configuration: {e}"))?.with_root_certificates(roots);
    let config = match client {
        Some(client) => with_identity(builder, client)?,
        None => builder.with_no_client_auth(),
    };
    Ok(finish(config))
}

/// The CA certificates as the only roots.
fn ca_store(pem: &str) -> Result<RootCertStore, String> {
    let certificates = certificates("ca-certificates", pem)?;
    let mut store = RootCertStore::empty();
    for (index, certificate) in certificates.into_iter().enumerate() {
        store
            .add(certificate)
            .map_err(|e| format!("ca-certificates: certificate {} is not valid: {e}", index + 1))?;
    }
    Ok(store)
}

fn with_identity(
    builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    client: ClientPem<'_>,
) -> Result<ClientConfig, String> {
    let chain = certificates("client certificate-chain", client.certificate_chain)?;
    let key = private_key(client.private_key)?;
    // Load the key first so that a key rustls cannot use is named as the key, not the pair.
    provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| format!("client private-key: {e}"))?;
    builder.with_client_auth_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            "client private-key: does not match the first (leaf) certificate of certificate-chain".to_string()
        }
        rustls::Error::InvalidCertificate(reason) => {
            format!("client certificate-chain: the first (leaf) certificate is not valid: {reason:?}")
        }
        other => format!("client: {other}"),
    })
}

/// Every `CERTIFICATE` block of `pem`; other blocks are skipped, as PEM bundles mix them.
fn certificates(part: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{part}: {}", pem_error(&e)))?;
    if certificates.is_empty() {
        return Err(format!("{part}: no CERTIFICATE block"));
    }
    Ok(certificates)
}

fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            "client private-key: no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block".to_string()
        }
        other => format!("client private-key: {}", pem_error(&other)),
    })
}

/// pki-types' PEM errors in words (its `Display` is its `Debug`).
fn pem_error(err: &pem::Error) -> String {
    match err {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a block has no end line (`-----END {}-----`)", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed BEGIN line `{}`", String::from_utf8_lossy(line))
        }
        pem::Error::Base64Decode(reason) => format!("a block is not valid base64 ({reason})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(ca: Option<&str>, client: Option<ClientPem<'_>>) -> String {
        match origin_config(ca, client) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_default_config_is_shared_and_speaks_http_1_1() {
        let (a, b) = (default_config(), default_config());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn bad_pem_names_the_part() {
        assert_eq!(err(Some("not pem at all"), None), "ca-certificates: no CERTIFICATE block");
        let truncated = "-----BEGIN CERTIFICATE-----\nMIIB\n";
        assert_eq!(
            err(Some(truncated), None),
            "ca-certificates: a block has no end line (`-----END CERTIFICATE-----`)"
        );
        let not_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(err(Some(not_base64), None).starts_with("ca-certificates: a block is not valid base64"));
        let not_der = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(err(Some(not_der), None).starts_with("ca-certificates: certificate 1 is not valid"));
        let client = ClientPem { certificate_chain: "nothing", private_key: "" };
        assert_eq!(err(None, Some(client)), "client certificate-chain: no CERTIFICATE block");
        let client = ClientPem { certificate_chain: not_der, private_key: "nothing" };
        assert_eq!(
            err(None, Some(client)),
            "client private-key: no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block"
        );
        let garbage_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let client = ClientPem { certificate_chain: not_der, private_key: garbage_key };
        assert!(err(None, Some(client)).starts_with("client private-key: "));
    }
}
