//! [`ServiceProxy`]: a Service's address, in front of its ready pods.
//!
//! The proxy works on TCP connections, as kube-proxy does: each accepted connection goes to one
//! backend picked by weight, and all its bytes go there until either side closes. A client that
//! keeps a connection alive keeps its backend, so tests that count responses per backend send
//! each request on a fresh connection (or with `Connection: close`).
//!
//! The pick is smooth weighted round-robin (nginx's): deterministic, and exact over every run of
//! `sum(weights)` picks, so 100 connections at weights 80/20 go 80 and 20, interleaved; weight 0
//! gets nothing. Without a backend a connection is reset at once, the nearest a listening socket
//! comes to the refusal a Service without endpoints gives.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A connection to a backend that does not open within this is given up for another backend.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP proxy on 127.0.0.1 spreading connections over weighted backends. Dropping it closes
/// the port and every connection through it.
#[derive(Debug)]
pub struct ServiceProxy {
    port: u16,
    picker: Arc<Mutex<Picker>>,
    serving: JoinHandle<()>,
}

impl ServiceProxy {
    /// Listens on 127.0.0.1 on a free port, with no backends yet.
    pub async fn bind() -> std::io::Result<Self> {
        Self::bind_to(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Listens on `address` (a fixed port, for a NodePort say), with no backends yet.
    pub async fn bind_to(address: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let port = listener.local_addr()?.port();
        let picker = Arc::new(Mutex::new(Picker::default()));
        let serving = tokio::spawn(serve(listener, picker.clone()));
        Ok(ServiceProxy { port, picker, serving })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Replaces the backends; connections already open keep theirs. The same set again (in any
    /// order) changes nothing, so the double may call this on every reconcile; a different one
    /// starts the round-robin afresh. Weight 0 backends get no connections.
    pub fn set_backends(&self, backends: Vec<(SocketAddr, u32)>) {
        lock(&self.picker).set(backends);
    }

    /// The backends connections go to now, with their weights.
    pub fn backends(&self) -> Vec<(SocketAddr, u32)> {
        lock(&self.picker).slots.iter().map(|s| (s.address, s.weight)).collect()
    }
}

impl Drop for ServiceProxy {
    fn drop(&mut self) {
        // The serving task owns the listener and the JoinSet of connections: aborting it drops
        // (and so aborts) them all.
        self.serving.abort();
    }
}

fn lock(picker: &Mutex<Picker>) -> std::sync::MutexGuard<'_, Picker> {
    picker.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(listener: TcpListener, picker: Arc<Mutex<Picker>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    connections.spawn(forward(client, picker.clone()));
                }
                // Out of file handles, say: let connections finish before accepting again.
                Err(e) => {
                    tracing::warn!("service proxy accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Sends `client` to a backend; one that refuses is left out and another picked, as
/// kube-proxy's userspace mode retried.
async fn forward(mut client: TcpStream, picker: Arc<Mutex<Picker>>) {
    let mut refused = Vec::new();
    loop {
        let Some(address) = lock(&picker).pick(&refused) else {
            // RST rather than FIN: the client sees a reset, not an empty but orderly reply.
            let _ = client.set_zero_linger();
            return;
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(mut backend)) => {
                let _ = client.set_nodelay(true);
                let _ = backend.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
                return;
            }
            _ => refused.push(address),
        }
    }
}

#[derive(Debug)]
struct Slot {
    address: SocketAddr,
    weight: u32,
    current: i64,
}

/// Smooth weighted round-robin: each pick raises every backend's `current` by its weight, takes
/// the highest, and lowers that one by the total.
#[derive(Debug, Default)]
struct Picker {
    slots: Vec<Slot>,
}

impl Picker {
    fn set(&mut self, mut backends: Vec<(SocketAddr, u32)>) {
        backends.sort();
        // One address listed twice is one backend with both weights.
        backends.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 = kept.1.saturating_add(next.1);
            }
            same
        });
        let unchanged = backends.len() == self.slots.len()
            && backends.iter().zip(&self.slots).all(|(b, s)| b.0 == s.address && b.1 == s.weight);
        if !unchanged {
            self.slots =
                backends.into_iter().map(|(address, weight)| Slot { address, weight, current: 0 }).collect();
        }
    }

    fn pick(&mut self, excluded: &[SocketAddr]) -> Option<SocketAddr> {
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.weight == 0 || excluded.contains(&slot.address) {
                continue;
            }
            slot.current += i64::from(slot.weight);
            total += i64::from(slot.weight);
            if best.is_none_or(|(_, current)| slot.current > current) {
                best = Some((i, slot.current));
            }
        }
        let slot = &mut self.slots[best?.0];
        slot.current -= total;
        Some(slot.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    fn counts(picker: &mut Picker, picks: usize) -> std::collections::BTreeMap<u16, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..picks {
            if let Some(picked) = picker.pick(&[]) {
                *counts.entry(picked.port()).or_default() += 1;
            }
        }
        counts
    }

    #[test]
    fn weights_are_exact_over_each_cycle_and_interleaved() {
        let mut picker = Picker::default();
        picker.set(vec![(address(1), 80), (address(2), 20)]);
        assert_eq!(counts(&mut picker, 100), [(1, 80), (2, 20)].into());
        assert_eq!(counts(&mut picker, 200), [(1, 160), (2, 40)].into());
        // Smooth: the 20 never come in a burst; no run of the 80 is longer than 5.
        let sequence: Vec<u16> = (0..100).filter_map(|_| picker.pick(&[])).map(|a| a.port()).collect();
        assert!(sequence.windows(6).all(|w| w.contains(&2)), "{sequence:?}");
    }

    #[test]
    fn weight_zero_gets_nothing_and_no_backends_nothing_at_all() {
        let mut picker = Picker::default();
        assert_eq!(picker.pick(&[]), None);
        picker.set(vec![(address(1), 1), (address(2), 0)]);
        assert_eq!(counts(&mut picker, 50), [(1, 50)].into());
        picker.set(vec![(address(2), 0)]);
        assert_eq!(picker.pick(&[]), None);
    }

    #[test]
    fn the_same_backends_again_keep_the_rotation() {
        let mut picker = Picker::default();
        picker.set(vec![(address(1), 3), (address(2), 1)]);
        let mut picks = Vec::new();
        for _ in 0..8 {
            picks.extend(picker.pick(&[]).map(|a| a.port()));
            // As a reconcile loop would, between every two requests, in another order.
            picker.set(vec![(address(2), 1), (address(1), 3)]);
        }
        assert_eq!(picks.iter().filter(|p| **p == 2).count(), 2, "{picks:?}");
        picker.set(vec![(address(1), 1), (address(1), 1), (address(3), 2)]);
        assert_eq!(picker.slots.len(), 2);
        assert_eq!(counts(&mut picker, 4), [(1, 2), (3, 2)].into());
    }

    #[test]
    fn a_refused_backend_is_passed_over() {
        let mut picker = Picker::default();
        picker.set(vec![(address(1), 1), (address(2), 1)]);
        assert_eq!(picker.pick(&[address(1)]), Some(address(2)));
        assert_eq!(picker.pick(&[address(1), address(2)]), None);
    }
}
