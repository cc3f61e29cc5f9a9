//! `schedule` triggers: one loop per server walks every schedule trigger's fire times.
//!
//! Per trigger the store keeps `covered_until` (every fire time up to it was handled) and the
//! execution its last fire started. Each fire time is claimed with a conditional update before
//! it is acted on, so two servers on one database never both fire it. Then:
//! - if the trigger's previous execution is still running (or queued, or paused), the fire time
//!   is skipped and logged, and the skip counted: one trigger never has two runs at once;
//! - otherwise the flow starts with `trigger.date` set to the fire time.
//!
//! Fire times that passed while no server ran (found when this process first sees a trigger
//! that has stored state) follow `recoverMissed`: `all` runs each of them (at most
//! [`MAX_CATCH_UP`], the newest), one after another, each waiting for the previous run to end;
//! `last` runs only the newest; `none` drops them. A disabled trigger or flow lets its fire
//! times pass without running. A trigger seen for the first time starts from now. Reading the
//! state again later (after a store error, or a claim lost to another server) is no restart:
//! fire times due then run as usual.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use sluice_engine::{ScheduleState, Store, StoreError, TriggerKey};
use sluice_flow::{LockedFlow, RecoverMissed, Trigger, TriggerKind};
use tokio::sync::watch;

use super::TriggerContext;
use super::cron::Schedule;
use super::fire::fire;
use super::index::IndexedFlow;

/// The most missed fire times `recoverMissed: all` runs after a restart (the newest ones).
pub const MAX_CATCH_UP: usize = 100;

/// The longest the loop sleeps: it also waits for running executions to end.
const MAX_SLEEP: Duration = Duration::from_secs(1);

type Key = (String, String, String);

struct Entry {
    key: Key,
    schedule: Schedule,
    timezone: Option<String>,
    recover: RecoverMissed,
    /// Neither the trigger nor its flow is disabled.
    active: bool,
    flow: LockedFlow,
    revision: u32,
    trigger: Trigger,
    /// The stored state as this process last saw it; None: read it again.
    state: Option<ScheduleState>,
    /// This process has read the stored state before: a read now is no restart.
    read_before: bool,
    /// Fire times up to this one were missed while no server ran: `recoverMissed` applies.
    catch_up_until: Option<DateTime<Utc>>,
    /// The run this process started last and whether it has ended: the engine returns from a
    /// start before the execution's first commit, so the store alone cannot tell yet.
    started: Option<(String, Arc<AtomicBool>)>,
}

impl Entry {
    fn store_key(&self) -> TriggerKey<'_> {
        TriggerKey { namespace: &self.key.0, flow_id: &self.key.1, trigger_id: &self.key.2 }
    }

    fn name(&self) -> String {
        format!("{}.{}/{}", self.key.0, self.key.1, self.key.2)
    }
}

pub async fn run(ctx: TriggerContext, mut stop: watch::Receiver<bool>) {
    let mut entries: HashMap<Key, Entry> = HashMap::new();
    let mut known: Option<Arc<Vec<IndexedFlow>>> = None;
    loop {
        let flows = ctx.triggers.index.flows(&ctx.engine).await;
        if known.as_ref().is_none_or(|k| !Arc::ptr_eq(k, &flows)) {
            entries = rebuild(&flows, entries);
            known = Some(flows);
        }
        let now = ctx.triggers.clock.now();
        let mut wake = now + MAX_SLEEP;
        for entry in entries.values_mut() {
            if let Err(error) = step(&ctx, entry, now).await {
                tracing::error!(trigger = %entry.name(), %error, "schedule trigger failed; retrying");
                entry.state = None;
            }
            if let Some(next) = entry.state.as_ref().and_then(|s| entry.schedule.next_after(s.covered_until))
            {
                wake = wake.min(next);
            }
        }
        let sleep = (wake - ctx.triggers.clock.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(sleep) => {}
            () = ctx.triggers.wake.notified() => {}
        }
    }
}

/// The schedule triggers of `flows`, keeping what this process knew about those it had.
fn rebuild(flows: &[IndexedFlow], mut old: HashMap<Key, Entry>) -> HashMap<Key, Entry> {
    let mut entries = HashMap::new();
    for indexed in flows {
        let flow = &indexed.flow.flow;
        for trigger in &flow.triggers {
            let TriggerKind::Schedule { cron, timezone, recover_missed } = &trigger.kind else { continue };
            let key = (flow.namespace.clone(), flow.id.clone(), trigger.id.clone());
            let schedule = match Schedule::parse(cron, timezone.as_deref()) {
                Ok(schedule) => schedule,
                Err(error) => {
                    tracing::error!(trigger = %format!("{}.{}/{}", key.0, key.1, key.2), %error, "ignored");
                    continue;
                }
            };
            let previous = old.remove(&key);
            entries.insert(
                key.clone(),
                Entry {
                    key,
                    schedule,
                    timezone: timezone.clone(),
                    recover: *recover_missed,
                    active: !trigger.disabled && !flow.disabled,
                    flow: indexed.flow.clone(),
                    revision: indexed.revision,
                    trigger: trigger.clone(),
                    state: previous.as_ref().and_then(|p| p.state.clone()),
                    read_before: previous.as_ref().is_some_and(|p| p.read_before),
                    catch_up_until: previous.as_ref().and_then(|p| p.catch_up_until),
                    started: previous.and_then(|p| p.started),
                },
            );
        }
    }
    entries
}

/// Handles every fire time of one trigger that is due at `now`.
async fn step(ctx: &TriggerContext, entry: &mut Entry, now: DateTime<Utc>) -> Result<(), StoreError> {
    let store = ctx.engine.store();
    if entry.state.is_none() {
        match store.schedule_state(entry.store_key()).await? {
            Some(found) => {
                // Only the first read finds fire times missed while no server ran; a catch-up
                // found then and not done yet keeps its bound.
                if !entry.read_before {
                    entry.catch_up_until = Some(now);
                }
                entry.state = Some(found);
            }
            None => {
                // First sight: the schedule starts now. (Losing the insert race to another
                // server is fine: its row is read back.)
                store.claim_schedule(entry.store_key(), None, now, 0).await?;
                entry.state = store.schedule_state(entry.store_key()).await?;
            }
        }
        entry.read_before = true;
    }
    loop {
        let Some(current) = entry.state.clone() else { return Ok(()) };
        let Some(next) = entry.schedule.next_after(current.covered_until) else { return Ok(()) };
        if next > now {
            return Ok(());
        }
        if !entry.active {
            claim(ctx, entry, &current, now, 0).await?;
            return Ok(());
        }
        if let Some(until) = entry.catch_up_until.filter(|until| next <= *until) {
            match entry.recover {
                RecoverMissed::None => {
                    if claim(ctx, entry, &current, until, 0).await? {
                        tracing::info!(trigger = %entry.name(), "missed fire times dropped (recoverMissed: none)");
                        entry.catch_up_until = None;
                    }
                    continue;
                }
                RecoverMissed::Last => {
                    if still_running(ctx, entry, &current).await? {
                        return Ok(());
                    }
                    let (newest, _) = entry.schedule.newest_between(current.covered_until, until, 1);
                    let Some(newest) = newest.first().copied() else { return Ok(()) };
                    if claim(ctx, entry, &current, newest, 0).await? {
                        entry.catch_up_until = None;
                        tracing::info!(trigger = %entry.name(), %newest, "running the newest missed fire time (recoverMissed: last)");
                        start(ctx, entry, newest, true).await?;
                    }
                    continue;
                }
                RecoverMissed::All => {
                    let (newest, more) =
                        entry.schedule.newest_between(current.covered_until, until, MAX_CATCH_UP);
                    if more && let Some(first) = newest.first() {
                        // Older ones are dropped: claim up to just before the oldest kept.
                        let before = *first - chrono::Duration::nanoseconds(1);
                        if claim(ctx, entry, &current, before, 0).await? {
                            tracing::warn!(
                                trigger = %entry.name(),
                                "more than {MAX_CATCH_UP} missed fire times; running the newest {MAX_CATCH_UP}"
                            );
                        }
                        continue;
                    }
                    if still_running(ctx, entry, &current).await? {
                        return Ok(());
                    }
                    if claim(ctx, entry, &current, next, 0).await? {
                        start(ctx, entry, next, true).await?;
                    }
                    continue;
                }
            }
        }
        entry.catch_up_until = None;
        if still_running(ctx, entry, &current).await? {
            if claim(ctx, entry, &current, next, 1).await? {
                tracing::warn!(
                    trigger = %entry.name(),
                    date = %next.to_rfc3339_opts(SecondsFormat::Secs, true),
                    execution = current.execution_id.as_deref().unwrap_or(""),
                    "fire time skipped: the trigger's previous execution is still running"
                );
            }
            continue;
        }
        if claim(ctx, entry, &current, next, 0).await? {
            start(ctx, entry, next, false).await?;
        }
    }
}

/// Claims fire times up to `until`; on a lost race, forgets the state so it is read again.
async fn claim(
    ctx: &TriggerContext,
    entry: &mut Entry,
    current: &ScheduleState,
    until: DateTime<Utc>,
    skipped: u64,
) -> Result<bool, StoreError> {
    let won = ctx
        .engine
        .store()
        .claim_schedule(entry.store_key(), Some(current.covered_until), until, skipped)
        .await?;
    if won {
        entry.state = Some(ScheduleState {
            covered_until: until,
            execution_id: current.execution_id.clone(),
            skipped: current.skipped + skipped,
        });
    } else {
        entry.state = None;
    }
    Ok(won)
}

/// Whether the trigger's last execution has not ended (running, queued or paused).
async fn still_running(
    ctx: &TriggerContext,
    entry: &Entry,
    current: &ScheduleState,
) -> Result<bool, StoreError> {
    let Some(id) = &current.execution_id else { return Ok(false) };
    if let Some((started, ended)) = &entry.started
        && started == id
        && !ended.load(Ordering::SeqCst)
    {
        return Ok(true);
    }
    Ok(ctx.engine.store().get_execution(id).await?.is_some_and(|r| !r.state.is_terminal()))
}

async fn start(
    ctx: &TriggerContext,
    entry: &mut Entry,
    date: DateTime<Utc>,
    recovered: bool,
) -> Result<(), StoreError> {
    let document = json!({
        "type": "schedule",
        "id": entry.trigger.id,
        "date": date.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "timezone": entry.timezone.as_deref().unwrap_or("UTC"),
        "recovered": recovered,
    });
    match fire(
        &ctx.engine,
        &ctx.triggers.templates,
        entry.flow.clone(),
        entry.revision,
        &entry.trigger,
        document,
    )
    .await
    {
        Ok(handle) => {
            let id = handle.id.clone();
            let ended = Arc::new(AtomicBool::new(false));
            entry.started = Some((id.clone(), ended.clone()));
            let triggers = ctx.triggers.clone();
            tokio::spawn(async move {
                handle.finished().await;
                ended.store(true, Ordering::SeqCst);
                // A catch-up run waiting for this one can go now.
                triggers.wake.notify_one();
            });
            ctx.engine.store().set_schedule_execution(entry.store_key(), &id).await?;
            if let Some(current) = &mut entry.state {
                current.execution_id = Some(id.clone());
            }
            tracing::info!(trigger = %entry.name(), execution = %id, %date, "schedule started an execution");
        }
        Err(error) => {
            tracing::error!(trigger = %entry.name(), %date, %error, "schedule could not start the flow")
        }
    }
    Ok(())
}
