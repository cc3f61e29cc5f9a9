//! What the HTTP load benches share: the two-task flow they start, and how they report
//! latencies.

#![allow(dead_code)]

use std::time::Duration;

/// Two `core.log` tasks in namespace `bench`.
pub const FLOW: &str = "id: two
namespace: bench
tasks:
  - id: first
    type: core.log
    message: first of two
  - id: second
    type: core.log
    message: \"second, after {{ execution.id }}\"
";

/// The `p` quantile (0 to 1) of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
