//! Raw TCP to a granted destination, with TLS done by the host, through the `tcp` interface:
//! for protocols that are not HTTP (SMTP, a database's wire protocol).
//!
//! The flow grants the destination in `allow.network`: `smtp://mail.example.com:587`,
//! `smtps://mail.example.com:465` (TLS from the first byte only) or `tcp://host:port`. The host
//! checks it before anything is resolved or sent; a refusal is [`Error::Denied`], which `?`
//! turns into [`TaskError::Denied`].
//!
//! ```no_run
//! use std::io::{BufRead, BufReader, Write};
//! use std::time::Duration;
//! use sluice_plugin::tcp::{self, Tls};
//! # fn run() -> Result<(), sluice_plugin::TaskError> {
//! let mut connection = tcp::connect("mail.example.com", 587, Tls::None, Duration::from_secs(30))?;
//! connection.write_all(b"EHLO sluice\r\n")?;
//! // ... after the server's `220` to `STARTTLS`:
//! connection.start_tls()?;
//! # Ok(())
//! # }
//! ```
//!
//! A [`Connection`] is blocking `std::io::Read + Write`; wrap it in a `BufReader` to read lines.
//! TLS verifies the server's certificate for the host name against the public roots, or the CA
//! certificates that [`tls::trust_origin`](crate::tls::trust_origin) set for
//! `smtps://host:port` (or `smtp://`, `tcp://`). Bounds the host keeps: [`MAX_OPEN`]
//! connections at once, [`MAX_OPENED`] per run.
//!
//! Outside a component (host unit tests of a plugin) there is no host to connect through:
//! [`connect`] fails with [`Error::Invalid`]. Write protocol code against `Read + Write` so
//! such tests can drive it with an in-memory stream.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::TaskError;

/// The most connections a run holds open at once.
pub const MAX_OPEN: usize = 8;
/// The most connections a run opens in all.
pub const MAX_OPENED: usize = 64;
/// The most bytes the host moves in one read or write call; [`Connection`] splits writes.
pub const MAX_IO: usize = 64 << 10;

/// How a connection is secured when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain TCP; [`Connection::start_tls`] may upgrade it later (STARTTLS).
    None,
    /// TLS from the first byte (SMTP on 465).
    Implicit,
}

/// Why a TCP call failed; each message names the destination and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The destination is not granted: the message says what to grant.
    Denied(String),
    /// Past a bound of the run (connections open or opened).
    Limit(String),
    /// The name did not resolve, or nothing accepted the connection.
    Connect(String),
    /// The connect, the handshake, a read or a write took longer than the timeout.
    Timeout(String),
    /// The TLS handshake failed (`invalid peer certificate: UnknownIssuer`, ...).
    Tls(String),
    /// The connection failed after it opened.
    Io(String),
    /// The call makes no sense here (a bad host, TLS twice, no host outside a component).
    Invalid(String),
}

impl Error {
    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m)
            | Self::Limit(m)
            | Self::Connect(m)
            | Self::Timeout(m)
            | Self::Tls(m)
            | Self::Io(m)
            | Self::Invalid(m) => m,
        }
    }

    /// The TCP error inside an `io::Error` from [`Connection`]'s `Read` or `Write`, if any.
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

/// A missing grant is [`TaskError::Denied`]; everything else fails the task.
impl From<Error> for TaskError {
    fn from(err: Error) -> Self {
        match err {
            Error::Denied(m) => TaskError::Denied(m),
            other => TaskError::Failed(other.to_string()),
        }
    }
}

/// So `Read` and `Write` carry the TCP error (see [`Error::from_io`]).
impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match err {
            Error::Denied(_) => io::ErrorKind::PermissionDenied,
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Connect(_) => io::ErrorKind::ConnectionRefused,
            Error::Invalid(_) => io::ErrorKind::InvalidInput,
            Error::Limit(_) | Error::Tls(_) | Error::Io(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// An open connection; dropping it closes it.
pub struct Connection {
    #[cfg(target_os = "wasi")]
    inner: crate::bindings::sluice::plugin::tcp::Connection,
    #[cfg(not(target_os = "wasi"))]
    _none: (),
}

/// Opens a connection to `host:port` (a DNS name or an IP address; IPv6 without brackets).
/// `timeout` bounds the connect with its TLS handshake and each later read, write and
/// [`Connection::start_tls`] (zero: 30 seconds); the task's own timeout bounds it all.
pub fn connect(host: &str, port: u16, tls: Tls, timeout: Duration) -> Result<Connection, Error> {
    imp::connect(host, port, tls, timeout)
}

impl Connection {
    /// Upgrades a plain connection to TLS in place, once the protocol said to go ahead (SMTP's
    /// `220` to `STARTTLS`). Nothing the connection buffered is kept: read the go-ahead line
    /// byte-exact (no read-ahead past it) before calling this.
    pub fn start_tls(&mut self) -> Result<(), Error> {
        imp::start_tls(self)
    }

    /// Closes the connection (TLS close-notify first); later reads and writes fail.
    pub fn close(&mut self) {
        imp::close(self)
    }
}

impl io::Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(MAX_IO);
        let data = imp::read(self, want)?;
        let n = data.len().min(want);
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }
}

impl io::Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_IO);
        imp::write(self, &buf[..n])?;
        Ok(n)
    }

    /// Every write is sent before it returns.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "wasi")]
mod imp {
    use super::{Connection, Error, Tls};
    use crate::bindings::sluice::plugin::tcp as wit;
    use std::time::Duration;

    fn error(err: wit::TcpError) -> Error {
        match err {
            wit::TcpError::Denied(m) => Error::Denied(m),
            wit::TcpError::Limit(m) => Error::Limit(m),
            wit::TcpError::Connect(m) => Error::Connect(m),
            wit::TcpError::Timeout(m) => Error::Timeout(m),
            wit::TcpError::Tls(m) => Error::Tls(m),
            wit::TcpError::Io(m) => Error::Io(m),
            wit::TcpError::Invalid(m) => Error::Invalid(m),
        }
    }

    pub(super) fn connect(host: &str, port: u16, tls: Tls, timeout: Duration) -> Result<Connection, Error> {
        let mode = match tls {
            Tls::None => wit::TlsMode::None,
            Tls::Implicit => wit::TlsMode::Implicit,
        };
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        wit::connect(host, port, mode, ms).map(|inner| Connection { inner }).map_err(error)
    }

    pub(super) fn start_tls(connection: &mut Connection) -> Result<(), Error> {
        connection.inner.start_tls().map_err(error)
    }

    pub(super) fn close(connection: &mut Connection) {
        connection.inner.close();
    }

    pub(super) fn read(connection: &mut Connection, max: usize) -> Result<Vec<u8>, Error> {
        connection.inner.read(u32::try_from(max).unwrap_or(u32::MAX)).map_err(error)
    }

    pub(super) fn write(connection: &mut Connection, data: &[u8]) -> Result<(), Error> {
        connection.inner.write(data).map_err(error)
    }
}

/// Outside a component nothing connects (a `Connection` cannot exist).
#[cfg(not(target_os = "wasi"))]
mod imp {
    use super::{Connection, Error, Tls};
    use std::time::Duration;

    fn no_host() -> Error {
        Error::Invalid("TCP needs the sluice host: it works only inside a component".into())
    }

    pub(super) fn connect(_: &str, _: u16, _: Tls, _: Duration) -> Result<Connection, Error> {
        Err(no_host())
    }

    pub(super) fn start_tls(_: &mut Connection) -> Result<(), Error> {
        Err(no_host())
    }

    pub(super) fn close(_: &mut Connection) {}

    pub(super) fn read(_: &mut Connection, _: usize) -> Result<Vec<u8>, Error> {
        Err(no_host())
    }

    pub(super) fn write(_: &mut Connection, _: &[u8]) -> Result<(), Error> {
        Err(no_host())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_task_errors_and_io_errors_of_their_kind() {
        let denied = TaskError::from(Error::Denied("add smtp://h:587".into()));
        assert_eq!(denied, TaskError::Denied("add smtp://h:587".into()));
        let tls = TaskError::from(Error::Tls("TLS handshake with h:465 failed: x".into()));
        assert_eq!(tls, TaskError::Failed("TLS handshake with h:465 failed: x".into()));
        let io: io::Error = Error::Timeout("read on TCP to h:25: nothing within 1s".into()).into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
        assert_eq!(Error::from_io(&io).map(Error::message), Some("read on TCP to h:25: nothing within 1s"));
    }

    #[test]
    fn outside_a_component_nothing_connects() {
        assert!(matches!(connect("h", 25, Tls::None, Duration::ZERO), Err(Error::Invalid(_))));
    }
}
