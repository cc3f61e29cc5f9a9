//! What the sandbox counts for operators: how long instantiating a task's component takes
//! (a histogram for `/metrics`) and how many runs wait for a slot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the instantiation histogram's buckets, in seconds.
pub const INSTANTIATION_BUCKETS: [f64; 8] =
    [0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025];

#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Counts per bucket (not cumulative); the last is above every bound.
    buckets: [AtomicU64; INSTANTIATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    /// Runs waiting for a slot under `max_concurrent_runs`.
    waiting: AtomicU64,
}

/// A snapshot of the instantiation histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantiationStats {
    /// Cumulative counts for each bound of [`INSTANTIATION_BUCKETS`], Prometheus style.
    pub cumulative: [u64; INSTANTIATION_BUCKETS.len()],
    pub count: u64,
    pub sum_seconds: f64,
    /// Runs waiting for a free slot right now.
    pub waiting_for_slot: u64,
}

/// Counts a run as waiting for a slot while it lives (also when the wait is abandoned).
pub(crate) struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Stats {
    pub(crate) fn waiting_for_slot(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(&self.waiting)
    }

    pub(crate) fn instantiated(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket =
            INSTANTIATION_BUCKETS.iter().position(|&b| seconds <= b).unwrap_or(INSTANTIATION_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> InstantiationStats {
        let mut cumulative = [0; INSTANTIATION_BUCKETS.len()];
        let mut running = 0;
        for (i, slot) in cumulative.iter_mut().enumerate() {
            running += self.buckets[i].load(Ordering::Relaxed);
            *slot = running;
        }
        let count = running + self.buckets[INSTANTIATION_BUCKETS.len()].load(Ordering::Relaxed);
        InstantiationStats {
            cumulative,
            count,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            waiting_for_slot: self.waiting.load(Ordering::Relaxed),
        }
    }
}
