//! Logs of an execution, read once or followed over Server-Sent Events, and the live states of
//! an execution and its task runs.
//!
//! Following never trusts the broadcast alone (a slow client may lag and miss updates): an
//! update only says "look again", and what is sent comes from the store, after the last `seq`
//! sent, so every line goes out once and in order.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_engine::scheduler::Update;
use sluice_engine::{LogFilter, Store, StoredLog, TaskRunKey};
use sluice_store::LOG_LEVELS;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::document::{execution_summary, task_run_document};
use crate::error::ApiError;
use crate::executions::find;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(rename = "taskRun")]
    task_run: Option<String>,
    level: Option<String>,
}

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
        Ok(LogFilter { task_run, min_level, after_seq: None, limit: None })
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
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = path?;
    let Query(query) = query?;
    let filter = query.filter()?;
    find(&state, &id).await?;
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

/// Waits for an update about `id`. False when the engine is gone.
async fn next_update_about(updates: &mut broadcast::Receiver<Update>, id: &str) -> bool {
    loop {
        match updates.recv().await {
            Ok(Update::Execution(record)) if record.id == id => return true,
            Ok(Update::TaskRun { execution_id, .. }) if execution_id == id => return true,
            Ok(Update::Log(log)) if log.execution_id == id => return true,
            Ok(_) => {}
            // Missed some: look at the store again.
            Err(broadcast::error::RecvError::Lagged(_)) => return true,
            Err(broadcast::error::RecvError::Closed) => return false,
        }
    }
}

pub async fn follow(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let Path(id) = path?;
    let Query(query) = query?;
    let mut filter = query.filter()?;
    find(&state, &id).await?;
    // Subscribed before the first read, so nothing committed after it goes unnoticed.
    let mut updates = state.engine.subscribe();
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
            let lines = match store.logs(&id, &filter).await {
                Ok(lines) => lines,
                Err(err) => {
                    tracing::error!("following the logs of {id}: {err}");
                    return;
                }
            };
            for log in &lines {
                if tx.send(event("log", &line(log))).await.is_err() {
                    return;
                }
                filter.after_seq = Some(log.seq);
            }
            if terminal {
                let _ = tx.send(event("end", &json!({"executionId": id}))).await;
                return;
            }
            if !next_update_about(&mut updates, &id).await {
                return;
            }
        }
    });
    Ok(sse)
}

pub async fn follow_states(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let Path(id) = path?;
    find(&state, &id).await?;
    let mut updates = state.engine.subscribe();
    let (tx, sse) = event_stream();
    tokio::spawn(async move {
        let store = state.engine.store();
        // A snapshot first (and again after lagging), then each change as it is committed.
        let mut snapshot = true;
        loop {
            if snapshot {
                snapshot = false;
                let (record, runs) = match (store.get_execution(&id).await, store.task_runs(&id).await) {
                    (Ok(Some(record)), Ok(runs)) => (record, runs),
                    (Err(err), _) | (_, Err(err)) => {
                        tracing::error!("following execution {id}: {err}");
                        return;
                    }
                    (Ok(None), _) => return,
                };
                for run in &runs {
                    if !send_run(&tx, &id, run).await {
                        return;
                    }
                }
                if tx.send(event("execution", &execution_summary(&record))).await.is_err()
                    || record.state.is_terminal()
                {
                    return;
                }
            }
            match updates.recv().await {
                Ok(Update::Execution(record)) if record.id == id => {
                    if tx.send(event("execution", &execution_summary(&record))).await.is_err()
                        || record.state.is_terminal()
                    {
                        return;
                    }
                }
                Ok(Update::TaskRun { execution_id, run }) if execution_id == id => {
                    if !send_run(&tx, &id, &run).await {
                        return;
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => snapshot = true,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(sse)
}

async fn send_run(
    tx: &mpsc::Sender<Result<Event, Infallible>>,
    id: &str,
    run: &sluice_engine::TaskRun,
) -> bool {
    let mut doc = task_run_document(run);
    doc["executionId"] = json!(id);
    tx.send(event("taskRun", &doc)).await.is_ok()
}
