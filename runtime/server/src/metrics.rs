//! Prometheus text exposition: execution counts by state (read from the store on each scrape,
//! so they are right after a restart), task-run durations (observed from live updates since
//! this process started) and build info.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use sluice_engine::ClusterStatus;
use sluice_engine::scheduler::Update;
use sluice_sandbox::{INSTANTIATION_BUCKETS, InstantiationStats};

/// What the engine and sandbox report at the moment of a scrape.
pub struct Gauges {
    pub queued_executions: usize,
    pub running_attempts: usize,
    pub instantiation: InstantiationStats,
    /// Executions this server drives.
    pub leases_held: usize,
    pub cluster: ClusterStatus,
}
use tokio::sync::broadcast;

/// Upper bounds of the duration buckets, in seconds.
const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 1800.0];

#[derive(Debug, Default)]
pub struct Metrics {
    durations: Mutex<Histogram>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Count per bucket of `BUCKETS` (not cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Records one finished task run's duration.
    pub fn observe_task(&self, seconds: f64) {
        let mut h = self.durations.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// Observes every task run that ends, until the engine goes away.
    pub(crate) fn follow(self: std::sync::Arc<Self>, mut updates: broadcast::Receiver<Update>) {
        tokio::spawn(async move {
            loop {
                match updates.recv().await {
                    Ok(Update::TaskRun { run, .. }) if run.state.is_terminal() => {
                        if let (Some(start), Some(end)) = (run.started_at, run.ended_at) {
                            self.observe_task((end - start).num_microseconds().unwrap_or(0) as f64 / 1e6);
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    /// The exposition text, with `executions` as `(state, count)`.
    pub fn render(&self, executions: &[(&str, usize)], now: &Gauges) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP sluice_executions Executions in the store by state.");
        let _ = writeln!(out, "# TYPE sluice_executions gauge");
        for (state, count) in executions {
            let _ = writeln!(out, "sluice_executions{{state=\"{state}\"}} {count}");
        }
        let h = self.durations.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let _ = writeln!(out, "# HELP sluice_task_duration_seconds Durations of finished task runs.");
        let _ = writeln!(out, "# TYPE sluice_task_duration_seconds histogram");
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            let _ = writeln!(out, "sluice_task_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "sluice_task_duration_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "sluice_task_duration_seconds_sum {}", h.sum);
        let _ = writeln!(out, "sluice_task_duration_seconds_count {}", h.count);
        let _ = writeln!(
            out,
            "# HELP sluice_queue_depth Work waiting: executions QUEUED under a flow's concurrency limit, task runs waiting for a sandbox slot."
        );
        let _ = writeln!(out, "# TYPE sluice_queue_depth gauge");
        let _ = writeln!(out, "sluice_queue_depth{{queue=\"executions\"}} {}", now.queued_executions);
        let _ = writeln!(
            out,
            "sluice_queue_depth{{queue=\"sandbox_slots\"}} {}",
            now.instantiation.waiting_for_slot
        );
        gauge(
            &mut out,
            "sluice_running_attempts",
            "Task attempts running in the sandbox.",
            now.running_attempts,
        );
        let i = &now.instantiation;
        let _ = writeln!(
            out,
            "# HELP sluice_sandbox_instantiation_seconds Time to instantiate a task's component."
        );
        let _ = writeln!(out, "# TYPE sluice_sandbox_instantiation_seconds histogram");
        for (bound, n) in INSTANTIATION_BUCKETS.iter().zip(i.cumulative) {
            let _ = writeln!(out, "sluice_sandbox_instantiation_seconds_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "sluice_sandbox_instantiation_seconds_bucket{{le=\"+Inf\"}} {}", i.count);
        let _ = writeln!(out, "sluice_sandbox_instantiation_seconds_sum {}", i.sum_seconds);
        let _ = writeln!(out, "sluice_sandbox_instantiation_seconds_count {}", i.count);
        gauge(
            &mut out,
            "sluice_leases_held",
            "Executions this process drives (holds the lease of).",
            now.leases_held,
        );
        let c = &now.cluster;
        gauge(
            &mut out,
            "sluice_cluster_nodes_alive",
            "Servers and workers on this database whose lease keeper reported within their lease ttl.",
            c.nodes_alive,
        );
        gauge(
            &mut out,
            "sluice_cluster_leases",
            "Unexpired leases of unfinished executions, all nodes.",
            c.leases,
        );
        gauge(
            &mut out,
            "sluice_cluster_awaiting_takeover",
            "Unfinished executions whose lease expired (their node died or was cut off), or handed over and not claimed yet.",
            c.awaiting_takeover,
        );
        let _ = writeln!(out, "# HELP sluice_build_info The running build.");
        let _ = writeln!(out, "# TYPE sluice_build_info gauge");
        let _ = writeln!(out, "sluice_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        out
    }
}

/// One unlabelled gauge: its HELP and TYPE lines, then its value.
fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {value}");
}
