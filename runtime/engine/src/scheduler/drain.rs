//! Stopping gracefully: refuse new executions, dispatch nothing new, let the attempts under
//! way finish within a grace period. Everything is committed before it is acted on, so what
//! is left (tasks not yet dispatched, attempts cut at the end of the grace) continues on the
//! next start through [`Engine::recover`]: a cut attempt runs again (at-least-once).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::Engine;
use crate::store::Store;

/// The drain switch and the count of sandbox attempts running in this process.
#[derive(Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    running: AtomicUsize,
    idle: Notify,
}

impl Drain {
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Counts an attempt as running until the guard is dropped (ended, failed or aborted).
    /// Taken before the attempt's task is spawned, so a drain never misses one.
    pub(crate) fn attempt(self: &Arc<Self>) -> AttemptGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        AttemptGuard(self.clone())
    }
}

pub(crate) struct AttemptGuard(Arc<Drain>);

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Attempts still running when the grace period ran out (0 = all finished in time).
    pub cut: usize,
}

impl<S: Store> Engine<S> {
    /// Stops taking work and waits up to `grace` for the running attempts. New executions are
    /// refused ([`StartError::ShuttingDown`](super::StartError::ShuttingDown)) from now on.
    pub async fn drain(&self, grace: Duration) -> Drained {
        let drain = &self.shared.drain;
        drain.draining.store(true, Ordering::SeqCst);
        let all_done = async {
            loop {
                let idle = drain.idle.notified();
                if drain.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(grace, all_done).await;
        Drained { cut: drain.running.load(Ordering::SeqCst) }
    }

    /// Whether [`Self::drain`] was called: starts, restarts and replays are refused.
    pub fn is_draining(&self) -> bool {
        self.shared.drain.is_draining()
    }

    /// Attempts running in the sandbox now.
    pub fn running_attempts(&self) -> usize {
        self.shared.drain.running.load(Ordering::SeqCst)
    }
}
