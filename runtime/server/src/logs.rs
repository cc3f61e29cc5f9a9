//! Logs of an execution, read once or followed over Server-Sent Events, and the live states of
//! an execution and its task runs.
//!
//! Following never trusts the broadcast alone (a slow client may lag and miss updates, and
//! another process on the same store sends none here): an update, or a poll every
//! [`POLL_EVERY`], only says "look again", and what is sent comes from the store. Log lines go
//! after the last `seq` sent (each event's `id`, so a client that reconnects with
//! `Last-Event-ID` continues after it), so every line goes out once and in order; states go
//! out when they differ from the last sent.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_engine::scheduler::Update;
use sluice_engine::{LogFilter, Store, StoredLog, TaskRun, TaskRunKey};
use sluice_store::LOG_LEVELS;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;

use crate::document::{execution_summary, task_run_document};
use crate::error::ApiError;
use sluice_governance::Role;

use crate::auth::Caller;
use crate::executions::find;
use crate::state::AppState;

/// How often a follower looks at the store without being told to.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(rename = "taskRun")]
    task_run: Option<String>,
    /// Every run of one task: each iteration of a `flow.forEach` body, each branch of a loop.
    task: Option<String>,
    level: Option<String>,
    /// A page: lines after this `seq` (the last one of the previous page)...
    #[serde(rename = "afterSeq")]
    after_seq: Option<i64>,
    /// ...and at most this many of them.
    limit: Option<u32>,
}

/// The most lines one page may ask for.
pub const MAX_PAGE: u32 = 100_000;

impl LogQuery {
    fn filter(self) -> Result<LogFilter, ApiError> {
        let task_run = match self.task_run {
            Some(text) => Some(text.parse::<TaskRunKey>().map_err(ApiError::BadRequest)?),
            None => None,
        };
        let min_level = match self.level {
            Some(level) => {
                let upper = level.to_ascii_uppercase();
                if !LOG_LEVELS.contains(&upper.as_str()) {
                    return Err(ApiError::BadRequest(format!(
                        "`{level}` is not a log level (one of {})",
                        LOG_LEVELS.join(", ")
                    )));
                }
                Some(upper)
            }
            None => None,
        };
        if let Some(limit) = self.limit
            && !(1..=MAX_PAGE).contains(&limit)
        {
            return Err(ApiError::BadRequest(format!(
                "`limit={limit}` is out of range: a page holds 1 to {MAX_PAGE} lines (leave it out for every line)"
            )));
        }
        Ok(LogFilter { task_run, task: self.task, min_level, after_seq: self.after_seq, limit: self.limit })
    }
}

fn line(log: &StoredLog) -> Value {
    let r = &log.record;
    json!({
        "seq": log.seq,
        "taskRun": r.task_run.as_ref().map(ToString::to_string),
        "attempt": r.attempt,
        "time": r.time,
        "level": r.level,
        "source": r.source,
        "message": r.message,
    })
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = path?;
    let Query(query) = query?;
    let filter = query.filter()?;
    find(&state, &caller, Role::Viewer, &id).await?;
    let logs = state.engine.store().logs(&id, &filter).await?;
    Ok(Json(Value::Array(logs.iter().map(line).collect())))
}

type EventStream = Sse<axum::response::sse::KeepAliveStream<ReceiverStream<Result<Event, Infallible>>>>;

/// An SSE response fed by a task that sends into it; the task stops when the client leaves.
fn event_stream() -> (mpsc::Sender<Result<Event, Infallible>>, EventStream) {
    let (tx, rx) = mpsc::channel(64);
    (tx, Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default()))
}

fn event(name: &str, data: &Value) -> Result<Event, Infallible> {
    Ok(Event::default().event(name).data(data.to_string()))
}

/// What tells a follower to look at the store again.
struct Wake {
    updates: broadcast::Receiver<Update>,
    poll: Interval,
}

impl Wake {
    /// Subscribed before the first read, so nothing committed after it goes unnoticed.
    fn new(state: &AppState) -> Wake {
        let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + POLL_EVERY, POLL_EVERY);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Wake { updates: state.engine.subscribe(), poll }
    }

    /// Waits until `id` may have changed: an update about it (or a lag: some were missed), or
    /// the poll period (a change made by another process sends nothing here). Updates already
    /// queued are taken too, since the read that follows sees them. False when the engine is
    /// gone.
    async fn changed(&mut self, id: &str) -> bool {
        loop {
            tokio::select! {
                update = self.updates.recv() => match update {
                    Ok(update) if about(&update, id) => break,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return false,
                },
                _ = self.poll.tick() => break,
            }
        }
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = self.updates.try_recv() {}
        self.poll.reset();
        true
    }
}

fn about(update: &Update, id: &str) -> bool {
    match update {
        Update::Execution(record) => record.id == id,
        Update::TaskRun { execution_id, .. } => execution_id == id,
        Update::Log(log) => log.execution_id == id,
    }
}

/// The `Last-Event-ID` a reconnecting client sends: the `seq` of the last line it got.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else { return Ok(None) };
    let text = value.to_str().unwrap_or_default().trim();
    text.parse::<i64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "`Last-Event-ID: {text}` is not the id of a log event (the `seq` of a line, a whole number)"
        ))
    })
}

pub async fn follow(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let Path(id) = path?;
    let Query(query) = query?;
    let mut filter = query.filter()?;
    if filter.limit.is_some() {
        return Err(ApiError::BadRequest(
            "`limit` pages a read of the logs; a follow sends every line (leave it out)".into(),
        ));
    }
    // A reconnection continues after its last event; a first connection after `afterSeq`.
    if let Some(seq) = last_event_id(&headers)? {
        filter.after_seq = Some(seq);
    }
    find(&state, &caller, Role::Viewer, &id).await?;
    let mut wake = Wake::new(&state);
    let (tx, sse) = event_stream();
    tokio::spawn(async move {
        let store = state.engine.store();
        loop {
            // The state is read before the logs: when it is terminal, the read after it sees
            // every line the execution will ever have.
            let terminal = match store.get_execution(&id).await {
                Ok(Some(record)) => record.state.is_terminal(),
                Ok(None) => true,
                Err(err) => {
                    tracing::error!("following the logs of {id}: {err}");
                    return;
                }
            };
            let logs = match store.logs(&id, &filter).await {
                Ok(logs) => logs,
                Err(err) => {
                    tracing::error!("following the logs of {id}: {err}");
                    return;
                }
            };
            for log in &logs {
                let sent = event("log", &line(log)).map(|e| e.id(log.seq.to_string()));
                if tx.send(sent).await.is_err() {
                    return;
                }
                filter.after_seq = Some(log.seq);
            }
            if terminal {
                let _ = tx.send(event("end", &json!({"executionId": id}))).await;
                return;
            }
            if !wake.changed(&id).await {
                return;
            }
        }
    });
    Ok(sse)
}

/// What a state follower sent last, so that it sends only what changed.
#[derive(Default)]
struct Sent {
    runs: HashMap<String, Value>,
    execution: Option<Value>,
}

pub async fn follow_states(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let Path(id) = path?;
    find(&state, &caller, Role::Viewer, &id).await?;
    let mut wake = Wake::new(&state);
    let (tx, sse) = event_stream();
    tokio::spawn(async move {
        let store = state.engine.store();
        let mut sent = Sent::default();
        loop {
            // The record before the runs: when it is terminal, the runs read after it are final.
            let (record, runs) = match store.get_execution(&id).await {
                Ok(Some(record)) => match store.task_runs(&id).await {
                    Ok(runs) => (record, runs),
                    Err(err) => {
                        tracing::error!("following execution {id}: {err}");
                        return;
                    }
                },
                Ok(None) => return,
                Err(err) => {
                    tracing::error!("following execution {id}: {err}");
                    return;
                }
            };
            for run in &runs {
                if !send_run(&tx, &mut sent, &id, run).await {
                    return;
                }
            }
            let doc = execution_summary(&record);
            if sent.execution.as_ref() != Some(&doc) {
                if tx.send(event("execution", &doc)).await.is_err() {
                    return;
                }
                sent.execution = Some(doc);
            }
            if record.state.is_terminal() || !wake.changed(&id).await {
                return;
            }
        }
    });
    Ok(sse)
}

/// Sends the run if it changed since it was last sent. False when the client left.
async fn send_run(
    tx: &mpsc::Sender<Result<Event, Infallible>>,
    sent: &mut Sent,
    id: &str,
    run: &TaskRun,
) -> bool {
    let mut doc = task_run_document(run);
    doc["executionId"] = json!(id);
    let key = run.key.to_string();
    if sent.runs.get(&key) == Some(&doc) {
        return true;
    }
    let ok = tx.send(event("taskRun", &doc)).await.is_ok();
    sent.runs.insert(key, doc);
    ok
}
