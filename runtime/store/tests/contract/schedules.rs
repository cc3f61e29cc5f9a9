//! Schedule trigger state: claims are conditional (the first claim inserts, later ones need the
//! current `covered_until`), so two claimers of one fire time never both win.

use std::sync::Arc;

use crate::common::*;
use chrono::{DateTime, TimeZone, Utc};
use sluice_engine::{ScheduleState, Store, TriggerKey};

const KEY: TriggerKey<'static> = TriggerKey { namespace: "ns", flow_id: "nightly", trigger_id: "every-day" };

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, hour, 0, 0).unwrap()
}

#[tokio::test]
async fn claims_move_covered_until_only_from_the_expected_value() {
    let (_db, store) = open_store().await;
    assert_eq!(store.schedule_state(KEY).await.unwrap(), None);

    assert!(store.claim_schedule(KEY, None, at(1), 0).await.unwrap());
    assert!(!store.claim_schedule(KEY, None, at(9), 0).await.unwrap(), "the state exists already");
    assert_eq!(
        store.schedule_state(KEY).await.unwrap(),
        Some(ScheduleState { covered_until: at(1), execution_id: None, skipped: 0 })
    );

    assert!(!store.claim_schedule(KEY, Some(at(0)), at(2), 0).await.unwrap(), "stale expectation");
    assert!(store.claim_schedule(KEY, Some(at(1)), at(2), 1).await.unwrap());
    assert!(store.claim_schedule(KEY, Some(at(2)), at(3), 2).await.unwrap());
    store.set_schedule_execution(KEY, "exec-1").await.unwrap();
    assert_eq!(
        store.schedule_state(KEY).await.unwrap(),
        Some(ScheduleState { covered_until: at(3), execution_id: Some("exec-1".into()), skipped: 3 })
    );

    // Other triggers of the same flow are separate rows.
    let other = TriggerKey { trigger_id: "hourly", ..KEY };
    assert_eq!(store.schedule_state(other).await.unwrap(), None);
}

#[tokio::test]
async fn of_many_concurrent_claimers_of_one_fire_time_exactly_one_wins() {
    let (_db, store) = open_store().await;
    let store = Arc::new(store);
    assert!(store.claim_schedule(KEY, None, at(1), 0).await.unwrap());
    let claimers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_schedule(KEY, Some(at(1)), at(2), 0).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for claimer in claimers {
        wins += usize::from(claimer.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(store.schedule_state(KEY).await.unwrap().unwrap().covered_until, at(2));
}
