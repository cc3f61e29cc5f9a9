//! The SSE followers when the progress is made by another process on the same store (another
//! server on a shared database): nothing is broadcast in this one, and the followers still see
//! every change, by polling the store. Here the test is that other process: it commits to the
//! store directly.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use http_body_util::BodyExt;
use serde_json::json;
use sluice_engine::{
    CommitBatch, ExecutionRecord, ExecutionState, LogRecord, Store, TaskRun, TaskRunKey, TaskRunState,
};
use support::sse::{SseEvent as Sse, take_event};
use support::{Api, HELLO, api};
use tower::ServiceExt;

/// The events of one SSE response, as they arrive.
struct Events {
    body: Body,
    buffer: String,
}

impl Events {
    async fn open(api: &Api, uri: &str) -> Events {
        let response = api.app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 200);
        Events { body: response.into_body(), buffer: String::new() }
    }

    /// The next event; None once the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        // Not a timing assertion: a guard so that a follower that misses a change fails.
        tokio::time::timeout(Duration::from_secs(60), self.read()).await.expect("no event came")
    }

    async fn read(&mut self) -> Option<Sse> {
        loop {
            if let Some(event) = take_event(&mut self.buffer) {
                return Some(event);
            }
            let frame = self.body.frame().await?.unwrap();
            if let Ok(bytes) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&bytes).unwrap());
            }
        }
    }
}

fn running(id: &str) -> ExecutionRecord {
    let now = Utc::now();
    ExecutionRecord {
        state: ExecutionState::Running,
        trigger: Some(json!({"type": "elsewhere"})),
        started_at: Some(now),
        ..ExecutionRecord::new(id, "examples", "hello", 1, now)
    }
}

fn ended(mut record: ExecutionRecord) -> ExecutionRecord {
    record.state = ExecutionState::Success;
    record.ended_at = Some(Utc::now());
    record
}

fn log(id: &str, message: &str) -> LogRecord {
    LogRecord {
        execution_id: id.to_owned(),
        task_run: Some(TaskRunKey::new("greet")),
        attempt: Some(1),
        time: Utc::now(),
        level: "INFO".into(),
        source: "plugin".into(),
        message: message.to_owned(),
    }
}

async fn commit(api: &Api, batch: CommitBatch) {
    api.state.engine.store().commit(batch).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_follower_sees_lines_that_another_process_commits() {
    let api = api().await;
    api.post("/api/v1/flows", HELLO).await;
    let id = "0190b0c0-0000-7000-8000-00000000e1se";
    let record = running(id);
    commit(&api, CommitBatch { executions: vec![record.clone()], ..CommitBatch::default() }).await;
    commit(&api, CommitBatch { logs: vec![log(id, "first")], ..CommitBatch::default() }).await;

    let mut events = Events::open(&api, &format!("/api/v1/executions/{id}/logs/follow")).await;
    let first = events.next().await.unwrap();
    assert_eq!((first.event.as_str(), &first.data["message"]), ("log", &json!("first")));
    assert_eq!(first.id, Some(first.data["seq"].to_string()));
    // Sent after the follower's first read, and by no engine in this process.
    commit(&api, CommitBatch { logs: vec![log(id, "second")], ..CommitBatch::default() }).await;
    let second = events.next().await.unwrap();
    assert_eq!((second.event.as_str(), &second.data["message"]), ("log", &json!("second")));
    assert!(second.data["seq"].as_i64() > first.data["seq"].as_i64());
    commit(&api, CommitBatch { executions: vec![ended(record)], ..CommitBatch::default() }).await;
    assert_eq!(
        events.next().await.unwrap(),
        Sse { event: "end".into(), id: None, data: json!({"executionId": id}) }
    );
    assert_eq!(events.next().await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_follower_sees_changes_that_another_process_commits_once_each() {
    let api = api().await;
    api.post("/api/v1/flows", HELLO).await;
    let id = "0190b0c0-0000-7000-8000-0000000state";
    let record = running(id);
    commit(&api, CommitBatch { executions: vec![record.clone()], ..CommitBatch::default() }).await;

    let mut events = Events::open(&api, &format!("/api/v1/executions/{id}/follow")).await;
    let snapshot = events.next().await.unwrap();
    assert_eq!((snapshot.event.as_str(), &snapshot.data["state"]), ("execution", &json!("RUNNING")));

    let now = Utc::now();
    let mut run = TaskRun {
        key: TaskRunKey::new("greet"),
        parent: None,
        state: TaskRunState::Running,
        attempts: Vec::new(),
        outputs: None,
        error: None,
        value: None,
        created_at: now,
        started_at: Some(now),
        ended_at: None,
    };
    commit(&api, CommitBatch { task_runs: vec![(id.to_owned(), run.clone())], ..CommitBatch::default() })
        .await;
    let started = events.next().await.unwrap();
    assert_eq!(
        (started.event.as_str(), &started.data["id"], &started.data["state"]),
        ("taskRun", &json!("greet"), &json!("RUNNING"))
    );
    run.state = TaskRunState::Success;
    run.ended_at = Some(Utc::now());
    commit(
        &api,
        CommitBatch {
            executions: vec![ended(record)],
            task_runs: vec![(id.to_owned(), run)],
            ..CommitBatch::default()
        },
    )
    .await;
    let done = events.next().await.unwrap();
    assert_eq!((done.event.as_str(), &done.data["state"]), ("taskRun", &json!("SUCCESS")));
    let end = events.next().await.unwrap();
    assert_eq!((end.event.as_str(), &end.data["state"]), ("execution", &json!("SUCCESS")));
    // Only what changed was sent, once: the stream ends with the execution.
    assert_eq!(events.next().await, None);
}
