//! A plain HTTPS client for the API tests: one request per connection, trusting the double's
//! CA, with its token (or none), answering the status and the JSON body, or a watch stream.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kube_double::KubeDouble;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;

pub struct Api {
    address: String,
    token: Option<String>,
    tls: Arc<rustls::ClientConfig>,
}

/// A response: status code and body as JSON (`Value::String` when it is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub code: u16,
    pub body: Value,
}

impl Api {
    pub fn new(double: &KubeDouble) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(double.ca_pem().as_bytes()).expect("CA PEM")).expect("CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Api {
            address: double.url().trim_start_matches("https://").to_string(),
            token: Some(double.token().to_string()),
            tls: Arc::new(tls),
        }
    }

    pub fn without_token(mut self) -> Self {
        self.token = None;
        self
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: String,
    ) -> hyper::Response<Incoming> {
        let tcp = tokio::net::TcpStream::connect(&self.address).await.expect("connect");
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone()).connect(name, tcp).await.expect("TLS");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.expect("HTTP");
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.address)
            .header("content-type", content_type)
            .header("user-agent", "api-test/1.0");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(Bytes::from(body))).expect("request");
        sender.send_request(request).await.expect("response")
    }

    /// One request; `body` is sent as is.
    pub async fn call(&self, method: &str, path: &str, content_type: &str, body: &str) -> Answer {
        let response = self.send(method, path, content_type, body.to_string()).await;
        let code = response.status().as_u16();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer { code, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, "application/json", "").await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call("POST", path, "application/json", &body.to_string()).await
    }

    /// A streamed response (a watch, a followed log), as it comes.
    pub async fn stream(&self, path: &str) -> Watch {
        self.watch(path).await
    }

    /// A watch: its events, one JSON line each, as they come.
    pub async fn watch(&self, path: &str) -> Watch {
        let response = self.send("GET", path, "application/json", String::new()).await;
        assert_eq!(response.status().as_u16(), 200, "watch {path}");
        Watch { body: response.into_body(), buffer: Vec::new() }
    }
}

pub struct Watch {
    body: Incoming,
    buffer: Vec<u8>,
}

impl Watch {
    /// What the stream sent next, as text, or `None` when it ended (or sent nothing for `wait`).
    pub async fn next_text(&mut self, wait: Duration) -> Option<String> {
        if !self.buffer.is_empty() {
            let text = String::from_utf8_lossy(&self.buffer).into_owned();
            self.buffer.clear();
            return Some(text);
        }
        loop {
            let frame = tokio::time::timeout(wait, self.body.frame()).await.ok()??.ok()?;
            if let Ok(data) = frame.into_data() {
                return Some(String::from_utf8_lossy(&data).into_owned());
            }
        }
    }

    /// The next event, or `None` when the stream ended (or nothing came for `wait`).
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(serde_json::from_slice(&line).expect("a JSON line"));
            }
            let frame = tokio::time::timeout(wait, self.body.frame()).await.ok()??.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }
}
