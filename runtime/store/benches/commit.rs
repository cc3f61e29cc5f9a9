//! The commit path on a real file (WAL, `synchronous = NORMAL`):
//! - `one_transition`: one task's step, the execution plus two task runs (the finished task
//!   updated, the next one created);
//! - `task_runs_1000`: one execution and 1,000 new task runs (a wide `forEach`);
//! - `logs_100`: 100 log lines;
//! - `flow_1000_tasks`: a 1,000-task sequential flow, reported as tasks per second, committed
//!   as the engine's driver does (one commit per turn: the finished task, the next one started,
//!   the execution), and with a second commit per task (a log line committed on its own, as
//!   the driver does for output that arrives while a task runs).
//!
//! `cargo bench -p sluice-store --bench commit`

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use sluice_engine::{
    Attempt, CommitBatch, ExecutionRecord, ExecutionState, LogRecord, Store, TaskRun, TaskRunKey,
    TaskRunState,
};
use sluice_store::SqliteStore;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

fn execution(id: &str) -> ExecutionRecord {
    ExecutionRecord {
        state: ExecutionState::Running,
        inputs: json!({"branch": "main", "replicas": 3}),
        labels: BTreeMap::from([("team".to_owned(), "infra".to_owned())]),
        trigger: Some(json!({"type": "cli"})),
        started_at: Some(Utc::now()),
        ..ExecutionRecord::new(id, "company.team", "pipeline", 3, Utc::now())
    }
}

fn created(key: String) -> TaskRun {
    TaskRun {
        key: TaskRunKey::new(key),
        parent: None,
        state: TaskRunState::Created,
        attempts: Vec::new(),
        outputs: None,
        error: None,
        value: None,
        created_at: Utc::now(),
        started_at: None,
        ended_at: None,
    }
}

fn running(key: String) -> TaskRun {
    let now = Utc::now();
    TaskRun {
        state: TaskRunState::Running,
        attempts: vec![Attempt {
            number: 1,
            state: TaskRunState::Running,
            started_at: now,
            ended_at: None,
            error: None,
        }],
        started_at: Some(now),
        ..created(key)
    }
}

fn succeeded(key: String) -> TaskRun {
    let mut run = running(key);
    let now = Utc::now();
    run.state = TaskRunState::Success;
    run.attempts[0].state = TaskRunState::Success;
    run.attempts[0].ended_at = Some(now);
    run.outputs = Some(json!({"exitCode": 0, "digest": "sha256:0123456789abcdef"}));
    run.ended_at = Some(now);
    run
}

fn log_line(execution_id: &str, task: &str, n: usize) -> LogRecord {
    LogRecord {
        execution_id: execution_id.to_owned(),
        task_run: Some(TaskRunKey::new(task)),
        attempt: Some(1),
        time: Utc::now(),
        level: "INFO".to_owned(),
        source: "plugin".to_owned(),
        message: format!("line {n}: compiling crate {n} of 100 (this is a typical build log line)"),
    }
}

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("bench.db")).await.unwrap()
}

fn one_transition(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(open(&dir));
    let exec = execution("bench-transition");
    rt.block_on(store.commit(CommitBatch { executions: vec![exec.clone()], ..CommitBatch::default() }))
        .unwrap();
    let step = AtomicU64::new(0);
    c.bench_function("commit/one_transition (1 execution + 2 task runs)", |b| {
        b.to_async(&rt).iter_batched(
            || {
                let n = step.fetch_add(1, Ordering::Relaxed);
                CommitBatch {
                    executions: vec![exec.clone()],
                    task_runs: vec![
                        (exec.id.clone(), succeeded(format!("task{n}"))),
                        (exec.id.clone(), created(format!("task{}", n + 1))),
                    ],
                    logs: Vec::new(),
                    lease: None,
                    artifacts: Vec::new(),
                }
            },
            |batch| async { store.commit(batch).await.unwrap() },
            BatchSize::SmallInput,
        )
    });
}

fn task_runs_1000(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(open(&dir));
    let round = AtomicU64::new(0);
    let mut group = c.benchmark_group("commit");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("task_runs_1000 (1 execution + 1,000 task runs)", |b| {
        b.to_async(&rt).iter_batched(
            || {
                let id = format!("bench-wide-{}", round.fetch_add(1, Ordering::Relaxed));
                let runs = (0..1000).map(|n| (id.clone(), created(format!("item{n}")))).collect();
                CommitBatch {
                    executions: vec![execution(&id)],
                    task_runs: runs,
                    logs: Vec::new(),
                    lease: None,
                    artifacts: Vec::new(),
                }
            },
            |batch| async { store.commit(batch).await.unwrap() },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn logs_100(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(open(&dir));
    let exec = execution("bench-logs");
    rt.block_on(store.commit(CommitBatch { executions: vec![exec.clone()], ..CommitBatch::default() }))
        .unwrap();
    let mut group = c.benchmark_group("commit");
    group.throughput(Throughput::Elements(100));
    group.bench_function("logs_100 (100 log lines)", |b| {
        b.to_async(&rt).iter_batched(
            || CommitBatch {
                logs: (0..100).map(|n| log_line(&exec.id, "build", n)).collect(),
                ..CommitBatch::default()
            },
            |batch| async { store.commit(batch).await.unwrap() },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Runs a whole sequential flow of `tasks` tasks through the store.
async fn run_flow(store: &SqliteStore, id: &str, tasks: usize, log_commits: bool) {
    let mut exec = execution(id);
    let first = (id.to_owned(), running("task0".to_owned()));
    store
        .commit(CommitBatch {
            executions: vec![exec.clone()],
            task_runs: vec![first],
            logs: Vec::new(),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();
    for n in 0..tasks {
        let key = format!("task{n}");
        if log_commits {
            let logs = vec![log_line(id, &key, n)];
            store.commit(CommitBatch { logs, ..CommitBatch::default() }).await.unwrap();
        }
        let mut task_runs = vec![(id.to_owned(), succeeded(key))];
        if n + 1 < tasks {
            task_runs.push((id.to_owned(), running(format!("task{}", n + 1))));
        } else {
            exec.state = ExecutionState::Success;
            exec.ended_at = Some(Utc::now());
        }
        store
            .commit(CommitBatch {
                executions: vec![exec.clone()],
                task_runs,
                logs: Vec::new(),
                lease: None,
                artifacts: Vec::new(),
            })
            .await
            .unwrap();
    }
}

fn flow_1000_tasks(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(open(&dir));
    let round = AtomicU64::new(0);
    let mut group = c.benchmark_group("commit/flow_1000_tasks");
    group.throughput(Throughput::Elements(1000)).sample_size(20).measurement_time(Duration::from_secs(15));
    for (name, log_commits) in [("one commit per task", false), ("two commits per task", true)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let id = format!("bench-flow-{}", round.fetch_add(1, Ordering::Relaxed));
                let store = &store;
                async move { run_flow(store, &id, 1000, log_commits).await }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, one_transition, task_runs_1000, logs_100, flow_1000_tasks);
criterion_main!(benches);
