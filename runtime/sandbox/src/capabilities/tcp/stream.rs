//! One TCP connection of a run: connect with a timeout, plain or TLS, TLS started in place, and
//! reads and writes bounded by the connection's timeout. Errors name the destination and say
//! what happened, as the guest sees them.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::bindings::sluice::plugin::tcp::TcpError;

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Closed by `close`, or lost in a failed `start-tls`.
    Closed,
}

/// A connection in the run's resource table (`pub` for the bindings, which name it).
pub struct Connection {
    stream: Stream,
    /// The host as grants name it (lower case, IPv6 in brackets): the trust table's key.
    grant_host: String,
    port: u16,
    /// The name the certificate must be valid for.
    server_name: ServerName<'static>,
    timeout: Duration,
}

impl Connection {
    /// Resolves `host`, connects to the first address that accepts within `timeout` and, with
    /// `tls`, does the handshake within the same timeout.
    pub(crate) async fn open(
        host: &str,
        grant_host: &str,
        port: u16,
        timeout: Duration,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<Connection, TcpError> {
        let destination = format!("{grant_host}:{port}");
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| TcpError::Invalid(format!("{host:?} is not a DNS name or an IP address")))?;
        let work = async {
            let tcp = connect(host, port, &destination).await?;
            let mut connection = Connection {
                stream: Stream::Plain(tcp),
                grant_host: grant_host.to_string(),
                port,
                server_name,
                timeout,
            };
            if let Some(config) = tls {
                connection.handshake(config).await?;
            }
            Ok(connection)
        };
        tokio::time::timeout(timeout, work).await.unwrap_or_else(|_| {
            Err(TcpError::Timeout(format!("TCP to {destination}: no connection within {timeout:?}")))
        })
    }

    pub(crate) fn grant_host(&self) -> &str {
        &self.grant_host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.stream, Stream::Closed)
    }

    fn destination(&self) -> String {
        format!("{}:{}", self.grant_host, self.port)
    }

    /// Up to `max` bytes; empty at the end of the peer's stream. A TLS peer that closes without
    /// a close-notify (many SMTP servers after `QUIT`) ends the stream as well.
    pub(crate) async fn read(&mut self, max: usize) -> Result<Vec<u8>, TcpError> {
        let mut buffer = vec![0; max];
        let (destination, timeout) = (self.destination(), self.timeout);
        let read = async {
            match &mut self.stream {
                Stream::Plain(tcp) => tcp.read(&mut buffer).await,
                Stream::Tls(tls) => match tls.read(&mut buffer).await {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                    other => other,
                },
                Stream::Closed => {
                    Err(io::Error::new(io::ErrorKind::NotConnected, "the connection is closed"))
                }
            }
        };
        let n = timed("read", &destination, timeout, read).await?;
        buffer.truncate(n);
        Ok(buffer)
    }

    /// All of `data`, flushed.
    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), TcpError> {
        let (destination, timeout) = (self.destination(), self.timeout);
        let write = async {
            match &mut self.stream {
                Stream::Plain(tcp) => tcp.write_all(data).await,
                Stream::Tls(tls) => {
                    tls.write_all(data).await?;
                    tls.flush().await
                }
                Stream::Closed => {
                    Err(io::Error::new(io::ErrorKind::NotConnected, "the connection is closed"))
                }
            }
        };
        timed("write", &destination, timeout, write).await
    }

    /// TLS over the plain connection, in place.
    pub(crate) async fn start_tls(&mut self, config: Arc<ClientConfig>) -> Result<(), TcpError> {
        match self.stream {
            Stream::Plain(_) => {}
            Stream::Tls(_) => {
                return Err(TcpError::Invalid(format!(
                    "start-tls: TCP to {} is already TLS",
                    self.destination()
                )));
            }
            Stream::Closed => {
                return Err(TcpError::Io(format!("start-tls: TCP to {} is closed", self.destination())));
            }
        }
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.handshake(config)).await.unwrap_or_else(|_| {
            self.stream = Stream::Closed;
            Err(TcpError::Timeout(format!(
                "TCP to {}: no TLS handshake within {timeout:?}",
                self.destination()
            )))
        })
    }

    /// Closes the connection (close-notify, then FIN); whether it was open.
    pub(crate) async fn close(&mut self) -> bool {
        let stream = std::mem::replace(&mut self.stream, Stream::Closed);
        let shutdown = async {
            match stream {
                Stream::Plain(mut tcp) => {
                    let _ = tcp.shutdown().await;
                }
                Stream::Tls(mut tls) => {
                    let _ = tls.shutdown().await;
                }
                Stream::Closed => return false,
            }
            true
        };
        // A peer that does not read cannot hold the run: the socket closes when dropped anyway.
        tokio::time::timeout(self.timeout, shutdown).await.unwrap_or(true)
    }

    /// The handshake on a plain stream (left closed if it fails).
    async fn handshake(&mut self, config: Arc<ClientConfig>) -> Result<(), TcpError> {
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(TcpError::Invalid("TLS needs a plain connection".into()));
        };
        // The run's configs offer ALPN `http/1.1` for HTTPS; a TCP protocol must offer none.
        let mut config = (*config).clone();
        config.alpn_protocols.clear();
        let tls = TlsConnector::from(Arc::new(config)).connect(self.server_name.clone(), tcp).await.map_err(
            |e| {
                TcpError::Tls(format!("TLS handshake with {} failed: {}", self.destination(), tls_reason(&e)))
            },
        )?;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }
}

/// `io` within `timeout`, its failure named as `what` on TCP to `destination`.
async fn timed<T>(
    what: &str,
    destination: &str,
    timeout: Duration,
    io: impl Future<Output = io::Result<T>>,
) -> Result<T, TcpError> {
    match tokio::time::timeout(timeout, io).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(TcpError::Io(format!("{what} on TCP to {destination}: {e}"))),
        Err(_) => {
            Err(TcpError::Timeout(format!("{what} on TCP to {destination}: nothing within {timeout:?}")))
        }
    }
}

/// Every address of `host` in turn, until one accepts.
async fn connect(host: &str, port: u16, destination: &str) -> Result<TcpStream, TcpError> {
    let addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| TcpError::Connect(format!("TCP to {destination}: the name did not resolve: {e}")))?;
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) => last = Some(format!("{address}: {e}")),
        }
    }
    let why = last.unwrap_or_else(|| "the name has no address".into());
    Err(TcpError::Connect(format!("TCP to {destination}: no connection ({why})")))
}

/// rustls' own reason (`invalid peer certificate: UnknownIssuer`) rather than io's wrapper.
fn tls_reason(err: &io::Error) -> String {
    match err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls) => rustls.to_string(),
        None => err.to_string(),
    }
}
