//! The TCP capability: raw TCP to one granted destination, with TLS done by the host, for
//! protocols that are not HTTP (SMTP first: `notify.email`).
//!
//! A destination is granted in `allow.network` as `smtp://host[:port]` (587 by default),
//! `smtps://host[:port]` (465; TLS from the first byte only) or `tcp://host:port`, with the
//! same `*` wildcards as HTTP origins. The check is by the name the component asked for and the
//! port, before the name is resolved and before any byte is sent; `http`, `https` and `*`
//! grants never open TCP (and, in `network`, TCP grants never allow HTTP). TLS uses the run's
//! per-destination trust from the `tls` interface, else the public roots, and always verifies
//! the server's certificate for the host name.
//!
//! What a run can make the host hold is bounded: [`MAX_OPEN`] connections at once,
//! [`MAX_OPENED`] per run, [`MAX_IO`] bytes per read or write (so the host buffers at most that
//! per call beyond rustls' own buffers); each connection is also an entry of the run's resource
//! table, so it counts against the run's handle limit.

mod stream;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::bindings::sluice::plugin::tcp::{self, TcpError, TlsMode};
use crate::capabilities::logs::{LogLevel, LogPipe};
use crate::capabilities::network::OriginPattern;
use crate::state::RunState;

pub use stream::Connection;

/// The most connections a run holds open at once.
pub(crate) const MAX_OPEN: usize = 8;
/// The most connections a run opens in all.
pub(crate) const MAX_OPENED: usize = 64;
/// The most bytes one `read` returns or one `write` takes.
pub(crate) const MAX_IO: usize = 64 << 10;
/// The timeout of a call when the component passes 0.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Links the `tcp` interface.
pub(crate) fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    tcp::add_to_linker::<RunState, HasSelf<RunState>>(linker, |s| s)
}

/// A run's TCP grants and what it holds.
pub(crate) struct TcpPolicy {
    grants: Vec<OriginPattern>,
    log: LogPipe,
    /// The run report's refusals, shared with the HTTP policy.
    denied: Arc<Mutex<Vec<String>>>,
    open: usize,
    opened: usize,
}

impl TcpPolicy {
    /// The policy of `grants` (the run's `allow.network`: only its TCP patterns count).
    pub(crate) fn new(grants: Vec<OriginPattern>, log: LogPipe, denied: Arc<Mutex<Vec<String>>>) -> Self {
        TcpPolicy { grants, log, denied, open: 0, opened: 0 }
    }

    /// Whether some grant lets the run reach `host:port` by TCP at all (any TLS mode): what the
    /// `tls` interface asks before it takes trust for a TCP destination.
    pub(crate) fn grants(&self, host: &str, port: u16) -> bool {
        self.grants.iter().any(|g| g.allows_tcp(host, port, true))
    }

    fn check(&mut self, host: &str, port: u16, tls: TlsMode) -> Result<(), TcpError> {
        let implicit = matches!(tls, TlsMode::Implicit);
        if self.grants.iter().any(|g| g.allows_tcp(host, port, implicit)) {
            return Ok(());
        }
        let destination = format!("{host}:{port}");
        let grant = if implicit { format!("smtps://{destination}") } else { format!("smtp://{destination}") };
        let smtps_only = !implicit && self.grants(host, port);
        let why = if smtps_only {
            "granted for TLS from the first byte only (smtps://); connect with implicit TLS"
        } else {
            "not granted"
        };
        self.log.host(
            LogLevel::Error,
            format!("denied: TCP to {destination} ({why}; add {grant} to the task's allow.network)"),
        );
        self.denied.lock().unwrap_or_else(PoisonError::into_inner).push(format!("tcp://{destination}"));
        Err(TcpError::Denied(format!(
            "TCP to {destination} is {why}: add `{grant}` (or `tcp://{destination}`) to the task's `allow.network`"
        )))
    }

    fn reserve(&mut self, destination: &str) -> Result<(), TcpError> {
        if self.open >= MAX_OPEN {
            return Err(TcpError::Limit(format!(
                "TCP to {destination}: this run already holds {MAX_OPEN} connections open, the most a run may; close one first"
            )));
        }
        if self.opened >= MAX_OPENED {
            return Err(TcpError::Limit(format!(
                "TCP to {destination}: this run already opened {MAX_OPENED} connections, the most a run may"
            )));
        }
        self.open += 1;
        self.opened += 1;
        Ok(())
    }

    fn release(&mut self) {
        self.open = self.open.saturating_sub(1);
    }
}

/// A host as the grants and the trust table name it: lower case, IPv6 in brackets. The error
/// says what is wrong with a name no resolver should see.
fn grant_host(host: &str) -> Result<String, TcpError> {
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if !valid {
        return Err(TcpError::Invalid(format!(
            "invalid host {host:?}: a DNS name or an IP address (IPv6 without brackets)"
        )));
    }
    let host = host.to_ascii_lowercase();
    Ok(if host.contains(':') { format!("[{host}]") } else { host })
}

impl tcp::Host for RunState {
    async fn connect(
        &mut self,
        host: String,
        port: u16,
        tls: TlsMode,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Resource<Connection>, TcpError>> {
        let named = match grant_host(&host) {
            Ok(named) => named,
            Err(err) => return Ok(Err(err)),
        };
        if let Err(err) = self.tcp.check(&named, port, tls) {
            return Ok(Err(err));
        }
        let destination = format!("{named}:{port}");
        if let Err(err) = self.tcp.reserve(&destination) {
            if let TcpError::Limit(message) = &err {
                self.log.host(LogLevel::Error, format!("refused: {message}"));
            }
            return Ok(Err(err));
        }
        let timeout = match timeout_ms {
            0 => DEFAULT_TIMEOUT,
            ms => Duration::from_millis(u64::from(ms)),
        };
        let config = matches!(tls, TlsMode::Implicit).then(|| self.tls.config_for(&named, port));
        let connection = match Connection::open(&host, &named, port, timeout, config).await {
            Ok(connection) => connection,
            Err(err) => {
                self.tcp.release();
                return Ok(Err(err));
            }
        };
        let secured = if matches!(tls, TlsMode::Implicit) { " (TLS)" } else { "" };
        self.log.host(LogLevel::Debug, format!("TCP to {destination}{secured}: connected"));
        match self.table().push(connection) {
            Ok(resource) => Ok(Ok(resource)),
            Err(full) => {
                self.tcp.release();
                Err(full.into())
            }
        }
    }
}

impl tcp::HostConnection for RunState {
    async fn read(
        &mut self,
        this: Resource<Connection>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, TcpError>> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if max == 0 || max > MAX_IO {
            return Ok(Err(TcpError::Limit(format!(
                "read: `max` must be from 1 to {MAX_IO} bytes, not {max}"
            ))));
        }
        Ok(self.table().get_mut(&this)?.read(max).await)
    }

    async fn write(
        &mut self,
        this: Resource<Connection>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), TcpError>> {
        if data.len() > MAX_IO {
            return Ok(Err(TcpError::Limit(format!(
                "write: {} bytes in one call; the most is {MAX_IO} (write in pieces)",
                data.len()
            ))));
        }
        Ok(self.table().get_mut(&this)?.write(&data).await)
    }

    async fn start_tls(&mut self, this: Resource<Connection>) -> wasmtime::Result<Result<(), TcpError>> {
        let (host, port) = {
            let connection = self.table().get(&this)?;
            (connection.grant_host().to_string(), connection.port())
        };
        let config = self.tls.config_for(&host, port);
        let result = self.table().get_mut(&this)?.start_tls(config).await;
        if result.is_ok() {
            self.log.host(LogLevel::Debug, format!("TCP to {host}:{port}: TLS started"));
        }
        Ok(result)
    }

    async fn close(&mut self, this: Resource<Connection>) -> wasmtime::Result<()> {
        if self.table().get_mut(&this)?.close().await {
            self.tcp.release();
        }
        Ok(())
    }

    async fn drop(&mut self, this: Resource<Connection>) -> wasmtime::Result<()> {
        let connection = self.table().delete(this)?;
        if !connection.is_closed() {
            self.tcp.release();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_named_as_grants_name_them() {
        assert_eq!(grant_host("Mail.Example.com").ok(), Some("mail.example.com".to_string()));
        assert_eq!(grant_host("127.0.0.1").ok(), Some("127.0.0.1".to_string()));
        assert_eq!(grant_host("::1").ok(), Some("[::1]".to_string()));
        for bad in ["", "[::1]", "a b", "host/x", "h\n"] {
            assert!(matches!(grant_host(bad), Err(TcpError::Invalid(_))), "{bad:?}");
        }
    }
}
