//! Whole flows on the real path: sandboxed no-op components, the durable SQLite store (WAL, in
//! a temp dir), the scheduler and the machine. Prints tasks/s and per-task overhead.
//!
//! `cargo bench -p sluice-engine --bench flows` (add `-- 10000` to also measure a 10,000-wide
//! fan-out's memory; `-- chain` or `-- fan` runs only that one, for a profiler). `-- postgres`
//! runs them on PostgreSQL instead: a local cluster with durable commits (Debian's postgresql,
//! started by the test harness), and prints the database transactions each task took.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_engine::scheduler::{Engine, EngineConfig, Plugins, StartRequest, StaticSecrets};
use sluice_engine::{ExecutionState, Store};
use sluice_sandbox::{Sandbox, SandboxConfig};
use sluice_store::SqliteStore;
use sluice_store_postgres::PostgresStore;

#[path = "../../store-postgres/tests/common/cluster.rs"]
mod cluster;

fn chain(n: usize) -> String {
    let mut yaml = String::from("id: chain\nnamespace: bench\ntasks:\n");
    for i in 0..n {
        yaml.push_str(&format!("  - id: t{i}\n    type: test.noop\n"));
    }
    yaml
}

fn fan_out(n: usize) -> String {
    let mut yaml =
        String::from("id: fan\nnamespace: bench\ntasks:\n  - id: all\n    type: flow.parallel\n    tasks:\n");
    for i in 0..n {
        yaml.push_str(&format!("      - id: t{i}\n        type: test.noop\n"));
    }
    yaml
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn run_once<S: Store>(engine: &Engine<S>, plugins: &Plugins, yaml: &str) -> Duration {
    let locked = sluice_flow::load("bench.yaml", yaml, plugins).unwrap_or_else(|d| panic!("{d:?}"));
    let flow = locked.flow.clone();
    let saved = engine.store().save_flow(&flow.namespace, &flow.id, yaml).await.unwrap();
    let started = Instant::now();
    let handle = engine
        .start(StartRequest {
            flow: locked,
            revision: saved.revision,
            inputs: BTreeMap::new(),
            labels: BTreeMap::new(),
            trigger: None,
            parent: None,
        })
        .await
        .unwrap();
    let record = handle.finished().await.unwrap().record.clone();
    let took = started.elapsed();
    assert_eq!(record.state, ExecutionState::Success, "{record:?}");
    took
}

fn report(name: &str, tasks: usize, mut times: Vec<Duration>) {
    times.sort();
    let median = times[times.len() / 2];
    let per_task = median.as_secs_f64() / tasks as f64;
    println!(
        "{name:<28} median {:>9.2} ms  {:>8.0} tasks/s  {:>7.1} µs/task  (min {:.2} ms, max {:.2} ms, {} runs)",
        median.as_secs_f64() * 1e3,
        1.0 / per_task,
        per_task * 1e6,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len()
    );
}

fn main() {
    let big: Option<usize> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let only: Option<String> = std::env::args().skip(1).find(|a| a == "chain" || a == "fan");
    let postgres = std::env::args().skip(1).any(|a| a == "postgres");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        if postgres {
            let url =
                tokio::task::spawn_blocking(|| cluster::durable_cluster().create_database()).await.unwrap();
            let store = Arc::new(PostgresStore::connect(&url).await.unwrap());
            println!("store: PostgreSQL {url} (durable commits)");
            let commits = Commits::new(&url).await;
            bench(store, dir.path(), big, only.as_deref(), Some(&commits)).await;
        } else {
            let store = Arc::new(SqliteStore::open(&dir.path().join("sluice.db")).await.unwrap());
            println!("store: SQLite (WAL) in a temp dir");
            bench(store, dir.path(), big, only.as_deref(), None).await;
        }
    });
}

/// Counts the transactions PostgreSQL committed in the bench's database.
struct Commits {
    pool: sqlx::PgPool,
}

impl Commits {
    async fn new(url: &str) -> Commits {
        Commits { pool: sqlx::PgPool::connect(url).await.unwrap() }
    }

    /// `xact_commit` of this database (the statistics lag by up to a second: flushed first).
    async fn now(&self) -> i64 {
        sqlx::query("SELECT pg_stat_force_next_flush()").execute(&self.pool).await.unwrap();
        sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

async fn measured<S: Store>(
    engine: &Engine<S>,
    plugins: &Plugins,
    name: &str,
    yaml: &str,
    tasks: usize,
    commits: Option<&Commits>,
) {
    let before = match commits {
        Some(c) => c.now().await,
        None => 0,
    };
    let mut times = Vec::new();
    for _ in 0..7 {
        times.push(run_once(engine, plugins, yaml).await);
    }
    report(name, tasks, times);
    if let Some(c) = commits {
        // Our bookkeeping queries count too (two per `now`): a slight overestimate.
        let per_task = (c.now().await - before) as f64 / (7 * tasks) as f64;
        println!("  PostgreSQL: {per_task:.2} committed transactions per task");
    }
}

async fn bench<S: Store>(
    store: Arc<S>,
    dir: &std::path::Path,
    big: Option<usize>,
    only: Option<&str>,
    commits: Option<&Commits>,
) {
    let wanted = |name: &str| only.is_none_or(|o| o == name);
    let sandbox = Arc::new(
        Sandbox::new(SandboxConfig {
            // Kept between runs, so a profile shows the flows, not Cranelift.
            cache_dir: Some(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flows-bench-cache")),
            ..SandboxConfig::default()
        })
        .unwrap(),
    );
    let test = sandbox.load(&test_programs_artifacts::test_programs_bytes()).await.unwrap();
    let plugins = Plugins::new([(test, sluice_engine::setup::Origin::Builtin)]).unwrap();
    let engine = Engine::new(
        store,
        sandbox,
        plugins.clone(),
        Arc::new(StaticSecrets::default()),
        EngineConfig::new(dir.join("workspaces"), "test"),
    );
    let (chain_yaml, fan_yaml) = (chain(1000), fan_out(1000));
    // Warm up: pooled slots, SQLite pages, prepared statements.
    run_once(&engine, &plugins, &chain(50)).await;
    if wanted("chain") {
        measured(&engine, &plugins, "sequential chain, 1,000", &chain_yaml, 1000, commits).await;
    }
    if wanted("fan") {
        measured(&engine, &plugins, "parallel fan-out, 1,000", &fan_yaml, 1000, commits).await;
    }
    if let Some(n) = big {
        let before = rss_kib("VmRSS:");
        let took = run_once(&engine, &plugins, &fan_out(n)).await;
        let peak = rss_kib("VmHWM:");
        report(&format!("parallel fan-out, {n}"), n, vec![took]);
        println!(
            "  memory: RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} MiB, {:.1} KiB per task)",
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            (peak - before) as f64 / 1024.0,
            (peak - before) as f64 / n as f64
        );
    }
}
