//! The double's own PKI: a CA made at start, the server's certificate (IP SAN 127.0.0.1, DNS
//! `localhost`) signed by it, a client certificate for client-certificate auth, and the rustls
//! server config that asks for (but does not require) a client certificate.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// PEM text of a certificate and its key.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What start made: the CA, the server's TLS config, and a client identity.
pub struct Pki {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
    pub client: CertifiedKey,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A CA, the server certificate and a client certificate for `client_name` (the user's
/// common name, in group `system:masters` as kubeadm's admin has it).
pub fn make(client_name: &str) -> std::io::Result<Pki> {
    let ca_key = KeyPair::generate().map_err(tls_error)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    // A name of its own: Go names a same-named CA in its "unknown authority" error.
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("kube-double-ca-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
    );
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_error)?;
    let ca_pem = ca_cert.pem();
    let ca_der = ca_cert.der().clone();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(tls_error)?;
    let mut server_params = CertificateParams::new(vec!["localhost".to_string()]).map_err(tls_error)?;
    server_params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    server_params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer).map_err(tls_error)?;

    let client_key = KeyPair::generate().map_err(tls_error)?;
    let mut client_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
    client_params.distinguished_name.push(DnType::CommonName, client_name);
    client_params.distinguished_name.push(DnType::OrganizationName, "system:masters");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &issuer).map_err(tls_error)?;

    let mut roots = RootCertStore::empty();
    roots.add(ca_der.clone()).map_err(tls_error)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(tls_error)?;
    let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone(), ca_der];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(tls_error)?;
    // kubectl (Go's net/http) speaks HTTP/2 when offered; HTTP/1.1 keeps watch framing plain.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Pki {
        ca_pem,
        server_config: Arc::new(config),
        client: CertifiedKey { cert_pem: client_cert.pem(), key_pem: client_key.serialize_pem() },
    })
}
