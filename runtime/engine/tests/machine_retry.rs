//! Retry policies: the three backoff kinds, maxAttempts, maxDuration, policy inheritance.
#![allow(clippy::unwrap_used)]

mod machine_support;

use std::time::Duration;

use machine_support::*;
use sluice_engine::machine::Timer;
use sluice_engine::{ExecutionState, TaskRunState, Timestamp};
use sluice_flow::RetryKind;

fn retry_timers(d: &Driver) -> Vec<(Timer, Timestamp)> {
    d.timers().into_iter().map(|(_, timer, at)| (timer, at)).collect()
}

#[test]
fn constant_backoff_waits_the_interval_after_each_failure() {
    let script = Script::default().outcome("a", vec![fails("503"), fails("503")]);
    let mut d = Driver::new(flow(vec![plugin("a").retry(retry(RetryKind::Constant, 3, 10))]), script);
    d.start();
    assert!(d.next());
    assert_eq!(d.state_of("a"), Some(TaskRunState::Retrying));
    assert_eq!(d.exec.state(), ExecutionState::Running);
    assert_eq!(d.run(), ExecutionState::Success);
    // Attempt 1: 0-1s, wait 10s; attempt 2: 11-12s, wait 10s; attempt 3: 22-23s.
    assert_eq!(
        retry_timers(&d),
        vec![(Timer::Retry { attempt: 2 }, at(11)), (Timer::Retry { attempt: 3 }, at(22))]
    );
    let attempts = &d.run_of("a").attempts;
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[1].started_at, at(11));
    assert_eq!(attempts[1].error.as_deref(), Some("503"));
    assert_eq!(attempts[1].state, TaskRunState::Failed);
    assert_eq!(attempts[2].state, TaskRunState::Success);
    assert_eq!(d.run_of("a").ended_at, Some(at(23)));
}

#[test]
fn exponential_backoff_grows_by_the_factor_up_to_the_cap() {
    let mut policy = retry(RetryKind::Exponential, 6, 2);
    policy.factor = 3.0;
    policy.max_interval = Some(secs(30));
    let script =
        Script::default().outcome("a", vec![fails("x"), fails("x"), fails("x"), fails("x"), fails("x")]);
    let mut d = Driver::new(flow(vec![plugin("a").retry(policy)]), script);
    assert_eq!(d.run(), ExecutionState::Success);
    // Waits 2, 6, 18, 30 (54 capped), 30; each attempt takes 1s.
    let expected_waits = [2, 6, 18, 30, 30];
    let mut now = 0;
    let mut expected = Vec::new();
    for (i, wait) in expected_waits.iter().enumerate() {
        now += 1 + wait;
        expected.push((Timer::Retry { attempt: i as u32 + 2 }, at(now)));
    }
    assert_eq!(retry_timers(&d), expected);
    assert_eq!(d.run_of("a").attempts.len(), 6);
}

#[test]
fn random_backoff_stays_in_bounds_and_replays_the_same() {
    let mut policy = retry(RetryKind::Random, 5, 10);
    policy.max_interval = Some(secs(20));
    let run_once = |id: &str| {
        let failures = (0..4).map(|_| fails("x")).collect();
        let script = Script::default().outcome("a", failures);
        let mut d = Driver::with_id(flow(vec![plugin("a").retry(policy.clone())]), script, id);
        assert_eq!(d.run(), ExecutionState::Success);
        let attempts = d.run_of("a").attempts.clone();
        attempts
            .windows(2)
            .map(|w| (w[1].started_at - w[0].ended_at.unwrap()).to_std().unwrap())
            .collect::<Vec<_>>()
    };
    let waits = run_once("exec-1");
    assert_eq!(waits.len(), 4);
    for wait in &waits {
        assert!(*wait >= secs(10) && *wait <= secs(20), "{wait:?}");
    }
    assert_eq!(waits, run_once("exec-1"), "same execution, same waits");
    let others: Vec<Vec<Duration>> = (2..6).map(|i| run_once(&format!("exec-{i}"))).collect();
    assert!(others.iter().any(|w| *w != waits), "the waits depend on the execution id");
}

#[test]
fn max_attempts_ends_in_the_last_error() {
    let script = Script::default().outcome("a", vec![fails("first"), fails("second"), fails("third")]);
    let mut d =
        Driver::new(flow(vec![plugin("a").retry(retry(RetryKind::Constant, 2, 1)), plugin("b")]), script);
    assert_eq!(d.run(), ExecutionState::Failed);
    let run = d.run_of("a");
    assert_eq!(run.attempts.len(), 2);
    assert_eq!(run.error.as_deref(), Some("second"));
    assert_eq!(d.exec.record().error.as_deref(), Some("task `a` failed: second"));
    assert_eq!(d.state_of("b"), None);
}

#[test]
fn max_duration_stops_retrying_once_passed() {
    let mut policy = retry(RetryKind::Constant, 10, 5);
    policy.max_duration = Some(secs(15));
    let failures = (0..10).map(|_| fails("down")).collect();
    let mut d = Driver::new(flow(vec![plugin("a").retry(policy)]), Script::default().outcome("a", failures));
    assert_eq!(d.run(), ExecutionState::Failed);
    // Attempts start at 0, 6, 12; the third fails at 13 (< 15: retry), the fourth starts at 18
    // and fails at 19, past 15 since the first start.
    let starts: Vec<Timestamp> = d.run_of("a").attempts.iter().map(|a| a.started_at).collect();
    assert_eq!(starts, vec![at(0), at(6), at(12), at(18)]);
}

#[test]
fn a_failure_marked_not_retryable_skips_the_policy() {
    let script = Script::default().outcome("a", vec![fails_for_good("invalid config")]);
    let mut d = Driver::new(flow(vec![plugin("a").retry(retry(RetryKind::Constant, 5, 1))]), script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.run_of("a").attempts.len(), 1);
    assert!(d.timers().is_empty());
}

#[test]
fn the_flow_policy_applies_unless_the_task_has_its_own() {
    let script = Script::default()
        .outcome("a", vec![fails("x"), fails("x")])
        .outcome("b", vec![fails("y"), fails("y")]);
    let f = flow(vec![plugin("a"), plugin("b").retry(retry(RetryKind::Constant, 3, 7))]).retry(retry(
        RetryKind::Constant,
        3,
        2,
    ));
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Success);
    let timers: Vec<(String, Timestamp)> = d.timers().into_iter().map(|(run, _, at)| (run, at)).collect();
    // a: fails at 1 -> 3, fails at 4 -> 6, succeeds at 7; b: starts 7, fails 8 -> 15, 16 -> 23.
    let expected = [("a", 3), ("a", 6), ("b", 15), ("b", 23)].map(|(r, s)| (r.to_owned(), at(s)));
    assert_eq!(timers, expected);
}

#[test]
fn allow_failure_after_the_retries_gives_a_warning() {
    let script = Script::default().outcome("a", vec![fails("x"), fails("x")]);
    let task = plugin("a").retry(retry(RetryKind::Constant, 2, 1)).allow_failure();
    let mut d = Driver::new(flow(vec![task, plugin("b")]), script);
    assert_eq!(d.run(), ExecutionState::Warning);
    assert_eq!(d.state_of("a"), Some(TaskRunState::Warning));
    assert_eq!(d.run_of("a").attempts.len(), 2);
    assert_eq!(d.state_of("b"), Some(TaskRunState::Success));
}
