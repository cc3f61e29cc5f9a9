//! The schedule loop against a controllable clock: fire times in a time zone, skipped ticks
//! while the trigger's run is still going, and `recoverMissed` when the trigger runtime starts
//! again after time passed. Exact dates, no waiting on the wall clock.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sluice_engine::scheduler::Engine;
use sluice_engine::{ExecutionFilter, ExecutionRecord, ExecutionState, Store, TriggerKey};
use sluice_server::triggers::{Clock, MAX_CATCH_UP, Triggers};
use sluice_server::{AppState, BodyLimits, Metrics, ServerStore};

struct FakeClock(Mutex<DateTime<Utc>>);

impl FakeClock {
    fn set(&self, text: &str) {
        *self.0.lock().unwrap() = utc(text);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn state_with(engine: &Engine<ServerStore>, clock: Arc<FakeClock>) -> AppState {
    AppState {
        engine: engine.clone(),
        metrics: Arc::new(Metrics::default()),
        triggers: Arc::new(Triggers::new(clock)),
        locked: Arc::default(),
        limits: BodyLimits::default(),
        auth: Arc::default(),
    }
}

async fn executions(engine: &Engine<ServerStore>, flow_id: &str) -> Vec<ExecutionRecord> {
    let filter = ExecutionFilter { flow_id: Some(flow_id.into()), limit: 1000, ..ExecutionFilter::default() };
    let mut list = engine.store().list_executions(&filter).await.unwrap();
    list.reverse();
    list
}

/// Polls until `done` holds (generous: the loop wakes at least every second).
async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

fn key(flow_id: &str) -> TriggerKey<'_> {
    TriggerKey { namespace: "c", flow_id, trigger_id: "tick" }
}

fn dates(records: &[ExecutionRecord]) -> Vec<Value> {
    records.iter().map(|r| r.trigger.as_ref().unwrap()["date"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fire_times_follow_the_time_zone_and_ticks_are_skipped_while_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let engine = support::engine(dir.path(), &[]).await;
    let clock = Arc::new(FakeClock(Mutex::new(utc("2030-03-01T00:30:00Z"))));
    let state = state_with(&engine, clock.clone());
    // 09:00 in Kolkata (UTC+5:30) is 03:30 UTC.
    let flow = "id: gated\nnamespace: c\ntriggers:\n  - id: tick\n    type: schedule\n    cron: \"0 9 * * *\"\n    timezone: Asia/Kolkata\ntasks:\n  - id: gate\n    type: flow.pause\n";
    engine.store().save_flow("c", "gated", flow).await.unwrap();
    let runtime = sluice_server::triggers::start(state.trigger_context());

    let first_seen =
        until("the trigger's state", async || engine.store().schedule_state(key("gated")).await.unwrap())
            .await;
    assert_eq!(first_seen.covered_until, utc("2030-03-01T00:30:00Z"), "a new trigger starts from now");
    assert!(executions(&engine, "gated").await.is_empty());

    clock.set("2030-03-01T03:30:00Z");
    let first = until("the first run", async || {
        let list = executions(&engine, "gated").await;
        (list.len() == 1 && list[0].state == ExecutionState::Paused).then_some(list)
    })
    .await;
    assert_eq!(dates(&first), vec![json!("2030-03-01T03:30:00Z")]);
    assert_eq!(first[0].trigger.as_ref().unwrap()["timezone"], "Asia/Kolkata");
    assert_eq!(first[0].trigger.as_ref().unwrap()["recovered"], false);

    // Three more days pass while the first run is paused: three skips, no second run.
    clock.set("2030-03-04T04:00:00Z");
    let skipped = until("three skips", async || {
        let s = engine.store().schedule_state(key("gated")).await.unwrap().unwrap();
        (s.skipped == 3).then_some(s)
    })
    .await;
    assert_eq!(skipped.covered_until, utc("2030-03-04T03:30:00Z"));
    assert_eq!(skipped.execution_id.as_deref(), Some(first[0].id.as_str()));
    assert_eq!(executions(&engine, "gated").await.len(), 1);

    engine.resume(&first[0].id, None, BTreeMap::new()).await.unwrap();
    until("the first run to end", async || {
        let r = engine.store().get_execution(&first[0].id).await.unwrap().unwrap();
        r.state.is_terminal().then_some(())
    })
    .await;
    clock.set("2030-03-05T03:30:00Z");
    let both = until("the second run", async || {
        let list = executions(&engine, "gated").await;
        (list.len() == 2).then_some(list)
    })
    .await;
    assert_eq!(dates(&both), vec![json!("2030-03-01T03:30:00Z"), json!("2030-03-05T03:30:00Z")]);
    runtime.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_trigger_runtime_recovers_missed_fire_times_all_last_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let engine = support::engine(dir.path(), &[]).await;
    let clock = Arc::new(FakeClock(Mutex::new(utc("2030-01-01T01:00:00Z"))));
    for policy in ["all", "last", "none"] {
        let flow = format!(
            "id: {policy}\nnamespace: c\ntriggers:\n  - id: tick\n    type: schedule\n    cron: \"0 */6 * * *\"\n    recoverMissed: {policy}\ntasks:\n  - id: log\n    type: core.log\n    message: tick\n"
        );
        engine.store().save_flow("c", policy, &flow).await.unwrap();
    }
    let first = sluice_server::triggers::start(state_with(&engine, clock.clone()).trigger_context());
    for policy in ["all", "last", "none"] {
        until("the trigger's state", async || engine.store().schedule_state(key(policy)).await.unwrap())
            .await;
    }
    first.stop().await;

    // A day later: 06:00, 12:00, 18:00 and the next midnight were missed.
    clock.set("2030-01-02T01:00:00Z");
    let second = sluice_server::triggers::start(state_with(&engine, clock.clone()).trigger_context());
    let all = until("four catch-up runs", async || {
        let list = executions(&engine, "all").await;
        (list.len() == 4 && list.iter().all(|r| r.state.is_terminal())).then_some(list)
    })
    .await;
    assert_eq!(
        dates(&all),
        ["2030-01-01T06:00:00Z", "2030-01-01T12:00:00Z", "2030-01-01T18:00:00Z", "2030-01-02T00:00:00Z"]
            .map(|d| json!(d))
    );
    assert!(all.iter().all(|r| r.trigger.as_ref().unwrap()["recovered"] == true));
    for pair in all.windows(2) {
        assert!(pair[1].created_at >= pair[0].ended_at.unwrap(), "one at a time");
    }
    let last = until("one catch-up run", async || {
        let list = executions(&engine, "last").await;
        (list.len() == 1 && list[0].state.is_terminal()).then_some(list)
    })
    .await;
    assert_eq!(dates(&last), vec![json!("2030-01-02T00:00:00Z")]);
    let none = until("the missed times dropped", async || {
        let s = engine.store().schedule_state(key("none")).await.unwrap().unwrap();
        (s.covered_until == utc("2030-01-02T01:00:00Z")).then_some(s)
    })
    .await;
    assert_eq!(none.execution_id, None);
    assert!(executions(&engine, "none").await.is_empty());
    for policy in ["all", "last"] {
        let s = engine.store().schedule_state(key(policy)).await.unwrap().unwrap();
        assert_eq!(s.covered_until, utc("2030-01-02T00:00:00Z"), "{policy}");
    }
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_all_runs_at_most_the_newest_hundred_missed_fire_times() {
    let dir = tempfile::tempdir().unwrap();
    let engine = support::engine(dir.path(), &[]).await;
    let clock = Arc::new(FakeClock(Mutex::new(utc("2030-06-01T00:00:00Z"))));
    let flow = "id: busy\nnamespace: c\ntriggers:\n  - id: tick\n    type: schedule\n    cron: \"* * * * * *\"\n    recoverMissed: all\ntasks:\n  - id: log\n    type: core.log\n    message: tick\n";
    engine.store().save_flow("c", "busy", flow).await.unwrap();
    let first = sluice_server::triggers::start(state_with(&engine, clock.clone()).trigger_context());
    until("the trigger's state", async || engine.store().schedule_state(key("busy")).await.unwrap()).await;
    first.stop().await;
    assert!(executions(&engine, "busy").await.is_empty());

    // 1000 seconds missed: only the newest 100 run, in order, one at a time.
    clock.set("2030-06-01T00:16:40Z");
    let second = sluice_server::triggers::start(state_with(&engine, clock.clone()).trigger_context());
    let runs = until("100 catch-up runs", async || {
        let list = executions(&engine, "busy").await;
        (list.len() == MAX_CATCH_UP && list.iter().all(|r| r.state.is_terminal())).then_some(list)
    })
    .await;
    let expected: Vec<Value> = (901..=1000)
        .map(|s| {
            json!(
                (utc("2030-06-01T00:00:00Z") + chrono::Duration::seconds(s))
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            )
        })
        .collect();
    assert_eq!(dates(&runs), expected);
    let state = engine.store().schedule_state(key("busy")).await.unwrap().unwrap();
    assert_eq!(state.covered_until, utc("2030-06-01T00:16:40Z"));
    assert_eq!(state.skipped, 0);
    second.stop().await;
    assert_eq!(executions(&engine, "busy").await.len(), MAX_CATCH_UP);
}

/// Another server on the same database handled fire times behind this one's back (or a store
/// error made it forget what it knew): it reads the trigger's state again, and a fire time due
/// then runs as usual, even with `recoverMissed: none`. Only fire times missed while no server
/// ran are recovered or dropped.
#[tokio::test(flavor = "multi_thread")]
async fn a_fire_time_due_when_the_state_is_read_again_runs_and_is_not_dropped_as_missed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = support::engine(dir.path(), &[]).await;
    let clock = Arc::new(FakeClock(Mutex::new(utc("2030-02-01T00:30:00Z"))));
    let flow = "id: hourly\nnamespace: c\ntriggers:\n  - id: tick\n    type: schedule\n    cron: \"0 * * * *\"\n    recoverMissed: none\ntasks:\n  - id: log\n    type: core.log\n    message: tick\n";
    engine.store().save_flow("c", "hourly", flow).await.unwrap();
    let runtime = sluice_server::triggers::start(state_with(&engine, clock.clone()).trigger_context());
    let seen =
        until("the trigger's state", async || engine.store().schedule_state(key("hourly")).await.unwrap())
            .await;
    assert_eq!(seen.covered_until, utc("2030-02-01T00:30:00Z"));

    // The other server claims (00:30, 00:45]: no fire time in it, but the claim this one makes
    // next, from 00:30, loses, and it reads the state again.
    let other = engine
        .store()
        .claim_schedule(key("hourly"), Some(utc("2030-02-01T00:30:00Z")), utc("2030-02-01T00:45:00Z"), 0)
        .await
        .unwrap();
    assert!(other);
    clock.set("2030-02-01T01:00:00Z");
    let runs = until("the 01:00 run", async || {
        let list = executions(&engine, "hourly").await;
        (list.len() == 1 && list[0].state.is_terminal()).then_some(list)
    })
    .await;
    assert_eq!(dates(&runs), vec![json!("2030-02-01T01:00:00Z")]);
    assert_eq!(runs[0].trigger.as_ref().unwrap()["recovered"], false);
    let state = engine.store().schedule_state(key("hourly")).await.unwrap().unwrap();
    assert_eq!(state.covered_until, utc("2030-02-01T01:00:00Z"));
    assert_eq!(state.execution_id.as_deref(), Some(runs[0].id.as_str()));
    runtime.stop().await;
}
