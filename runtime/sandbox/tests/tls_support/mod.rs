//! For `tests/tls.rs`: a private PKI made with rcgen (CAs, server certificates with an IP SAN,
//! client certificates) and a real HTTPS server on 127.0.0.1 (tokio-rustls + hyper) that counts
//! the connections it accepts and, when it requires a client certificate, says whose it saw.

#![allow(dead_code, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    /// Its certificate, PEM: what a run trusts.
    pub pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, PEM (what a run presents) and DER (what the server uses).
pub struct Identity {
    pub name: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), der: cert.der().clone(), issuer: Issuer::new(params, key) }
    }

    /// A server certificate for `sans` (e.g. the IP address 127.0.0.1).
    pub fn server(&self, sans: Vec<SanType>) -> Identity {
        self.sign("server", sans, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A server certificate for 127.0.0.1, as an IP SAN only.
    pub fn localhost_server(&self) -> Identity {
        self.server(vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))])
    }

    /// A client certificate with common name `cn`.
    pub fn client(&self, cn: &str) -> Identity {
        self.sign(cn, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn sign(&self, cn: &str, sans: Vec<SanType>, usage: ExtendedKeyUsagePurpose) -> Identity {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Identity {
            name: cn.to_string(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

impl Identity {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// A running HTTPS server.
pub struct HttpsServer {
    pub addr: SocketAddr,
    /// TCP connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
}

impl HttpsServer {
    /// `https://127.0.0.1:<port>`.
    pub fn origin(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Serves HTTPS on 127.0.0.1 with `identity`. With `clients`, a client certificate signed by
/// that CA is required, and the body names the client (by its certificate, among `known`).
/// Every path answers 200 `hello over TLS` (`hello over TLS, <client name>`).
pub async fn serve(identity: &Identity, clients: Option<(&Ca, &[&Identity])>) -> HttpsServer {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut known = Vec::new();
    let builder = match clients {
        Some((ca, identities)) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.der.clone()).unwrap();
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
            known = identities.iter().map(|i| (i.der.clone(), i.name.clone())).collect();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(vec![identity.der.clone()], identity.key()).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let known = Arc::new(known);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            let (acceptor, known) = (acceptor.clone(), known.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else { return };
                let presented = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).cloned();
                let body = match presented {
                    Some(der) => match known.iter().find(|(known, _)| *known == der) {
                        Some((_, name)) => format!("hello over TLS, {name}"),
                        None => "hello over TLS, an unknown client".to_string(),
                    },
                    None => "hello over TLS".to_string(),
                };
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    HttpsServer { addr, accepted }
}
