//! The run's open HTTP/1.1 connections, kept for its next request to the same origin (as
//! kubectl, git and docker reuse theirs): without them every request of a task pays a TCP and
//! a TLS handshake, and a 50-object apply makes a hundred.
//!
//! A pool belongs to one run and goes with it, so a connection never carries one run's trust
//! or credentials into another's. It keeps a connection under its origin and the TLS config it
//! was made with (the run may change an origin's trust midway: new trust, new connections). A
//! connection is reused only when hyper says it is ready (its last response read to the end)
//! and it has been back in the pool for less than [`MAX_IDLE`]: servers close idle ones, and a
//! request sent on a connection the server just closed would fail for nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use rustls::ClientConfig;
use wasmtime_wasi_http::WasiBody;

/// How long a connection may wait in the pool before it is dropped instead of reused.
pub(crate) const MAX_IDLE: Duration = Duration::from_secs(2);
/// The most connections a run keeps for reuse (each is a descriptor of the host's).
pub(crate) const MAX_POOLED: usize = 16;

/// Which connections may serve a request: same host, port and TLS config.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    host: String,
    port: u16,
    /// The address of the TLS config the connection was made with, 0 for plain TCP.
    tls: usize,
}

impl PoolKey {
    pub(crate) fn new(host: &str, port: u16, tls: Option<&Arc<ClientConfig>>) -> PoolKey {
        PoolKey { host: host.to_ascii_lowercase(), port, tls: tls.map_or(0, |c| Arc::as_ptr(c) as usize) }
    }
}

struct Pooled {
    key: PoolKey,
    sender: SendRequest<WasiBody>,
    since: Instant,
}

/// The idle (or still answering) connections of one run, oldest first.
#[derive(Default)]
pub(crate) struct ConnectionPool {
    connections: Mutex<VecDeque<Pooled>>,
}

impl ConnectionPool {
    /// A connection for `key` that can take a request now, if the pool has one. Connections
    /// that closed or waited too long are dropped on the way.
    pub(crate) fn take(&self, key: &PoolKey) -> Option<SendRequest<WasiBody>> {
        let mut connections = self.connections.lock().unwrap_or_else(PoisonError::into_inner);
        connections.retain(|c| !c.sender.is_closed() && c.since.elapsed() < MAX_IDLE);
        let index = connections.iter().position(|c| &c.key == key && c.sender.is_ready())?;
        connections.remove(index).map(|c| c.sender)
    }

    /// Keeps a connection for later (it becomes ready once its response is read). Past
    /// [`MAX_POOLED`] the oldest goes.
    pub(crate) fn put(&self, key: PoolKey, sender: SendRequest<WasiBody>) {
        let mut connections = self.connections.lock().unwrap_or_else(PoisonError::into_inner);
        connections.push_back(Pooled { key, sender, since: Instant::now() });
        while connections.len() > MAX_POOLED {
            connections.pop_front();
        }
    }
}
