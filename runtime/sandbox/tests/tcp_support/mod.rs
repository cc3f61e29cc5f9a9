//! For `tests/tcp.rs`: a line echo server on 127.0.0.1, plain, TLS from the first byte, or
//! plain until `STARTTLS` (answered `220 go ahead`, then TLS on the same connection, as SMTP
//! does). It counts the connections it accepts and the bytes it received.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;

use crate::tls_support::Identity;

/// How the server secures a connection.
pub enum Mode<'a> {
    Plain,
    Implicit(&'a Identity),
    StartTls(&'a Identity),
}

/// A running echo server.
pub struct EchoServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    received: Arc<AtomicUsize>,
}

impl EchoServer {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits up to 5 s for the accept loop to count `n` connections (a connect completes in the
    /// kernel before the loop counts it); the count then.
    pub async fn accepted_at_least(&self, n: usize) -> usize {
        for _ in 0..500 {
            if self.accepted() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.accepted()
    }

    /// Bytes received so far (before any TLS decoding).
    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

fn acceptor(identity: &Identity) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![identity.der.clone()], identity.key())
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Serves on 127.0.0.1: greets with `hello\r\n`, then answers each line with `echo: <line>`
/// (and, in `StartTls` mode, `STARTTLS` with `220 go ahead` and a TLS handshake).
pub async fn serve(mode: Mode<'_>) -> EchoServer {
    let (tls, starttls) = match mode {
        Mode::Plain => (None, false),
        Mode::Implicit(identity) => (Some(acceptor(identity)), false),
        Mode::StartTls(identity) => (Some(acceptor(identity)), true),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    let (count, bytes) = (accepted.clone(), received.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let (tls, bytes) = (tls.clone(), bytes.clone());
            tokio::spawn(async move {
                let stream = Counted { inner: stream, bytes };
                match (tls, starttls) {
                    (Some(tls), false) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            echo(stream, false).await;
                        }
                    }
                    (Some(tls), true) => {
                        if let Some(plain) = echo(stream, true).await
                            && let Ok(stream) = tls.accept(plain).await
                        {
                            echo(stream, false).await;
                        }
                    }
                    (None, _) => {
                        echo(stream, false).await;
                    }
                }
            });
        }
    });
    EchoServer { addr, accepted, received }
}

/// The echo loop; with `starttls`, `STARTTLS` is answered `220 go ahead` and the stream handed
/// back for the handshake.
async fn echo<S: AsyncRead + AsyncWrite + Unpin + Send>(stream: S, starttls: bool) -> Option<S> {
    let mut stream = BufReader::new(stream);
    stream.get_mut().write_all(b"hello\r\n").await.ok()?;
    let mut line = String::new();
    loop {
        line.clear();
        match stream.read_line(&mut line).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if starttls && line.trim_end() == "STARTTLS" {
            stream.get_mut().write_all(b"220 go ahead\r\n").await.ok()?;
            return Some(stream.into_inner());
        }
        let reply = format!("echo: {line}");
        stream.get_mut().write_all(reply.as_bytes()).await.ok()?;
    }
}

/// A stream that counts the bytes read from it.
struct Counted {
    inner: tokio::net::TcpStream,
    bytes: Arc<AtomicUsize>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        self.bytes.fetch_add(buf.filled().len() - before, Ordering::SeqCst);
        poll
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
