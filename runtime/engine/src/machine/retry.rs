//! Retry backoff: pure functions of the policy, the number of failed attempts and a seed, so a
//! replay computes the same wait. The `random` kind draws from a hash of (execution id, task run
//! key, attempt) instead of a random number generator.

use std::time::Duration;

use sluice_flow::{Retry, RetryKind};

use crate::records::TaskRunKey;

/// The wait before the next attempt, after `failures` (>= 1) counted attempts failed.
pub(crate) fn backoff(retry: &Retry, failures: u32, seed: u64) -> Duration {
    match retry.kind {
        RetryKind::Constant => retry.interval,
        RetryKind::Exponential => {
            let exponent = failures.saturating_sub(1).min(i32::MAX as u32) as i32;
            let factor = if retry.factor.is_finite() && retry.factor > 0.0 { retry.factor } else { 1.0 };
            let seconds = retry.interval.as_secs_f64() * factor.powi(exponent);
            let grown = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
            match retry.max_interval {
                Some(cap) => grown.min(cap),
                None => grown,
            }
        }
        RetryKind::Random => {
            let low = retry.interval;
            let high = retry.max_interval.unwrap_or(low).max(low);
            let span = (high - low).as_nanos();
            let pick = u128::from(seed) % (span + 1);
            // `pick <= span`, so the sum never exceeds `high`.
            low + Duration::from_nanos(pick.min(u128::from(u64::MAX)) as u64)
        }
    }
}

/// A stable 64-bit hash of (execution id, task run key, attempt): FNV-1a, then a SplitMix64
/// finaliser to spread the low bits. Written out so it never changes with the toolchain.
pub(crate) fn jitter_seed(execution_id: &str, run: &TaskRunKey, attempt: u32) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(execution_id.as_bytes());
    eat(&[0xff]);
    eat(run.task.as_bytes());
    for iteration in &run.iterations {
        eat(&[0xfe]);
        eat(&iteration.to_le_bytes());
    }
    eat(&[0xfd]);
    eat(&attempt.to_le_bytes());
    let mut z = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(kind: RetryKind, interval: u64, max_interval: Option<u64>, factor: f64) -> Retry {
        Retry {
            kind,
            max_attempts: 10,
            interval: Duration::from_secs(interval),
            max_interval: max_interval.map(Duration::from_secs),
            max_duration: None,
            factor,
        }
    }

    #[test]
    fn constant_waits_the_interval() {
        let retry = policy(RetryKind::Constant, 7, None, 2.0);
        assert_eq!(backoff(&retry, 1, 0), Duration::from_secs(7));
        assert_eq!(backoff(&retry, 5, 99), Duration::from_secs(7));
    }

    #[test]
    fn exponential_grows_by_the_factor_and_stops_at_the_cap() {
        let retry = policy(RetryKind::Exponential, 2, Some(20), 3.0);
        let waits: Vec<u64> = (1..=5).map(|n| backoff(&retry, n, 0).as_secs()).collect();
        assert_eq!(waits, [2, 6, 18, 20, 20]);
        let uncapped = policy(RetryKind::Exponential, 1, None, 2.0);
        assert_eq!(backoff(&uncapped, 11, 0), Duration::from_secs(1024));
        assert_eq!(backoff(&uncapped, 5000, 0), Duration::MAX);
    }

    #[test]
    fn random_stays_within_bounds_and_depends_only_on_the_seed() {
        let retry = policy(RetryKind::Random, 5, Some(9), 2.0);
        let key = TaskRunKey::in_iteration("build", vec![3]);
        let mut seen = std::collections::BTreeSet::new();
        for attempt in 1..200 {
            let seed = jitter_seed("exec-1", &key, attempt);
            assert_eq!(seed, jitter_seed("exec-1", &key, attempt));
            let wait = backoff(&retry, attempt, seed);
            assert!(wait >= Duration::from_secs(5) && wait <= Duration::from_secs(9), "{wait:?}");
            seen.insert(wait.as_secs());
        }
        assert!(seen.len() >= 4, "a spread of waits, got {seen:?}");
        let point = policy(RetryKind::Random, 5, None, 2.0);
        assert_eq!(backoff(&point, 1, 12345), Duration::from_secs(5));
    }

    #[test]
    fn seeds_differ_by_every_part() {
        let key = TaskRunKey::new("a");
        let base = jitter_seed("e", &key, 1);
        assert_ne!(base, jitter_seed("f", &key, 1));
        assert_ne!(base, jitter_seed("e", &TaskRunKey::new("b"), 1));
        assert_ne!(base, jitter_seed("e", &TaskRunKey::in_iteration("a", vec![0]), 1));
        assert_ne!(base, jitter_seed("e", &key, 2));
    }
}
