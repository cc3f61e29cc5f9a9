//! The run's HTTP/1.1 client, in place of wasi-http's `default_send_request`, which only knows
//! the public roots: TCP, TLS with the config the run's trust gives the origin, hyper's http1
//! handshake, and the request's connect / first-byte / between-bytes timeouts (10 minutes each
//! unless the component sets them, as wasi-http's own client does).
//!
//! Errors are `wasmtime_wasi_http::Error`s, which wasi-http turns into the guest's error codes.
//! A TLS failure carries rustls' reason (`invalid peer certificate: UnknownIssuer`, `received
//! fatal alert: CertificateRequired`) as a `tls-alert-received` message, the one TLS error code
//! with room for text: without it a task could only say "TLS handshake failed".

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::pool::{ConnectionPool, PoolKey};

/// wasi-http's default for each timeout the component leaves unset.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// What wasi-http awaits after the response head: the connection, driven until the body ends.
type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// A plain or TLS connection, for hyper.
trait Connection: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Connection for T {}

/// The request's timeouts, the defaults filled in.
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn of(options: Option<RequestOptions>) -> Timeouts {
        let options = options.unwrap_or_default();
        Timeouts {
            connect: options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT),
            first_byte: options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT),
            between_bytes: options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT),
        }
    }
}

/// Sends `request` (already let through by the policy) over a connection of the run's `pool`
/// for its origin, or a new one: TLS with `tls` when it is given (an `https` request), plain
/// TCP otherwise. The connection goes back to the pool once the response head is in; it takes
/// another request once this response has been read to its end.
pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    tls: Option<Arc<ClientConfig>>,
    pool: Arc<ConnectionPool>,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let timeouts = Timeouts::of(options);
    let authority = request.uri().authority().ok_or(HttpError::HttpRequestUriInvalid)?.clone();
    let port = authority.port_u16().unwrap_or(if tls.is_some() { 443 } else { 80 });
    let host = authority.host();
    let key = PoolKey::new(host, port, tls.as_ref());

    let mut sender = match pool.take(&key) {
        Some(sender) => sender,
        None => {
            let connection = tokio::time::timeout(timeouts.connect, connect(host, port, tls))
                .await
                .map_err(|_elapsed| HttpError::ConnectionTimeout)??;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(connection)).await.map_err(hyper_error)?;
            // hyper's connection future does the I/O of every exchange on it; it ends when the
            // server closes, or once the pool and the last response body let go of it.
            tokio::spawn(async move {
                // Ignored: a failure reaches the response or body it broke.
                let _ = connection.await;
            });
            sender
        }
    };

    // The request line carries only the path: scheme and authority are for proxies (the Host
    // header, set by wasi-http, names the origin).
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
        .await
        .map_err(|_elapsed| HttpError::ConnectionReadTimeout)?
        .map_err(hyper_error)?;
    pool.put(key, sender);
    let response = response.map(|incoming| TimedBody::new(incoming, timeouts.between_bytes).boxed_unsync());
    // Errors of the exchange after the head reach the guest through the body.
    let io = async { Ok(()) };
    Ok((response, Box::new(io)))
}

/// TCP to `host:port` (a host name resolved by the system, an IPv6 literal in brackets), then
/// TLS when `tls` is given, verifying the certificate against `host`: a DNS name, or an IP
/// address matched against the certificate's IP SANs.
async fn connect(
    host: &str,
    port: u16,
    tls: Option<Arc<ClientConfig>>,
) -> Result<Box<dyn Connection>, HttpError> {
    let tcp = TcpStream::connect(format!("{host}:{port}")).await.map_err(HttpError::Connect)?;
    // Requests are written whole and answered: no reason to wait for more bytes to send.
    let _ = tcp.set_nodelay(true);
    let Some(config) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = server_name(host)?;
    let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(io_tls_error)?;
    Ok(Box::new(stream))
}

/// The name the server's certificate must carry.
fn server_name(host: &str) -> Result<ServerName<'static>, HttpError> {
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = literal.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string()).map_err(HttpError::InvalidDnsNameError)
}

/// A TLS failure as the guest should see it: rustls' reason, and the alert's id when the server
/// sent one.
fn tls_failure(err: &rustls::Error) -> HttpError {
    let alert_id = match err {
        rustls::Error::AlertReceived(alert) => Some(u8::from(*alert)),
        _ => None,
    };
    HttpError::TlsAlertReceived { alert_id, alert_message: Some(err.to_string()) }
}

/// An I/O error of the handshake: rustls' own error when it is one, else a TLS I/O error.
fn io_tls_error(err: std::io::Error) -> HttpError {
    match rustls_cause(&err) {
        Some(tls) => tls_failure(tls),
        None => HttpError::Tls(err),
    }
}

/// A hyper error, or the TLS failure under it: with TLS 1.3 the server judges the client's
/// certificate after the client's side of the handshake is done, so its refusal arrives as an
/// alert on the first read, inside hyper.
fn hyper_error(err: hyper::Error) -> HttpError {
    match rustls_cause(&err) {
        Some(tls) => tls_failure(tls),
        None => HttpError::Hyper(err),
    }
}

/// The `rustls::Error` in `err`'s chain. An `io::Error`'s `source()` skips the error it wraps,
/// so each I/O error is opened with `get_ref`.
fn rustls_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref)
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls);
        }
        next = err.source();
    }
    None
}

/// A response body that fails with `ConnectionReadTimeout` when no frame comes for the
/// between-bytes timeout.
struct TimedBody {
    incoming: Incoming,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(incoming: Incoming, idle: Duration) -> TimedBody {
        // A zero timeout means "no waiting at all", not "never": a deadline that has passed.
        TimedBody { incoming, idle, deadline: Box::pin(tokio::time::sleep(idle)) }
    }
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + self.idle;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) if err.is_timeout() => {
                Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(hyper_error(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_of_hosts_and_ip_literals() {
        assert_eq!(server_name("kube.example").ok(), ServerName::try_from("kube.example").ok());
        assert_eq!(server_name("127.0.0.1").ok(), Some(ServerName::from(std::net::Ipv4Addr::LOCALHOST)));
        assert_eq!(server_name("[::1]").ok(), Some(ServerName::from(std::net::Ipv6Addr::LOCALHOST)));
        assert!(matches!(server_name("bad name!"), Err(HttpError::InvalidDnsNameError(_))));
    }

    #[test]
    fn rustls_reasons_are_found_under_io_and_hyper_errors() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown.clone());
        let HttpError::TlsAlertReceived { alert_id, alert_message } = io_tls_error(io) else {
            panic!("a TLS failure");
        };
        assert_eq!(
            (alert_id, alert_message.as_deref()),
            (None, Some("invalid peer certificate: UnknownIssuer"))
        );
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let HttpError::TlsAlertReceived { alert_id, alert_message } = tls_failure(&alert) else {
            panic!("a TLS failure");
        };
        assert_eq!(
            (alert_id, alert_message.as_deref()),
            (Some(116), Some("received fatal alert: CertificateRequired"))
        );
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(matches!(io_tls_error(plain), HttpError::Tls(_)));
    }
}
