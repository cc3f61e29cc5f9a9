//! Builders for the records the contract tests store, shared by every backend's tests.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use serde_json::json;
use sluice_engine::{
    Attempt, ExecutionRecord, ExecutionState, LogRecord, TaskRun, TaskRunKey, TaskRunState, Timestamp,
};

/// 2026-01-01T00:00:00Z plus `seconds` and `nanos`: sub-microsecond parts catch any rounding.
pub fn at(seconds: i64, nanos: u32) -> Timestamp {
    Utc.timestamp_opt(1_767_225_600 + seconds, nanos).single().unwrap()
}

pub fn key(text: &str) -> TaskRunKey {
    text.parse().unwrap()
}

/// An execution with every optional field unset.
pub fn execution(id: &str, namespace: &str, flow_id: &str, created_at: Timestamp) -> ExecutionRecord {
    ExecutionRecord::new(id, namespace, flow_id, 1, created_at)
}

/// An execution with every optional field set.
pub fn full_execution(id: &str) -> ExecutionRecord {
    ExecutionRecord {
        id: id.to_owned(),
        namespace: "company.team".to_owned(),
        flow_id: "deploy".to_owned(),
        revision: 7,
        state: ExecutionState::Warning,
        inputs: json!({"env": "prod", "replicas": 3, "ratio": 0.1, "token": "******", "tags": ["a", "ü"]}),
        outputs: Some(
            json!({"url": "https://example.invalid/", "nested": {"n": null, "big": 18446744073709551615u64}}),
        ),
        error: Some("task `notify` failed: 502 from the webhook".to_owned()),
        labels: BTreeMap::from([
            ("team".to_owned(), "infra".to_owned()),
            ("env".to_owned(), "prod".to_owned()),
        ]),
        parent: Some(("parent-execution".to_owned(), key("fan[2][0]"))),
        trigger: Some(json!({"type": "webhook", "body": {"ref": "refs/heads/main"}})),
        created_at: at(0, 123_456_789),
        started_at: Some(at(1, 1)),
        ended_at: Some(at(65, 999_999_999)),
    }
}

/// A task run with every optional field unset and no attempts.
pub fn task_run(key_text: &str, created_at: Timestamp) -> TaskRun {
    TaskRun {
        key: key(key_text),
        parent: None,
        state: TaskRunState::Created,
        attempts: Vec::new(),
        outputs: None,
        error: None,
        value: None,
        created_at,
        started_at: None,
        ended_at: None,
    }
}

/// A task run with every optional field set, and attempts with and without their own.
pub fn full_task_run(key_text: &str) -> TaskRun {
    TaskRun {
        key: key(key_text),
        parent: Some(key("each[1]")),
        state: TaskRunState::Failed,
        attempts: vec![
            Attempt {
                number: 1,
                state: TaskRunState::Failed,
                started_at: at(2, 500),
                ended_at: Some(at(3, 600)),
                error: Some("exit code 1".to_owned()),
            },
            Attempt {
                number: 2,
                state: TaskRunState::Running,
                started_at: at(5, 700),
                ended_at: None,
                error: None,
            },
        ],
        outputs: Some(json!({"exitCode": 1, "lines": ["x", "y"]})),
        error: Some("all 2 attempts failed".to_owned()),
        value: Some(json!({"item": "linux/arm64"})),
        created_at: at(1, 42),
        started_at: Some(at(2, 500)),
        ended_at: Some(at(6, 123_456_789)),
    }
}

pub fn log(execution_id: &str, task_run: Option<&str>, level: &str, message: &str) -> LogRecord {
    LogRecord {
        execution_id: execution_id.to_owned(),
        task_run: task_run.map(key),
        attempt: task_run.map(|_| 1),
        time: at(10, 10),
        level: level.to_owned(),
        source: if task_run.is_some() { "plugin" } else { "engine" }.to_owned(),
        message: message.to_owned(),
    }
}
