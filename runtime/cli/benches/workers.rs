//! Executions handed to `sluice worker` processes, against one server that runs them itself,
//! on a local PostgreSQL cluster with durable commits (this bench starts it). For each setup,
//! on a fresh database:
//!
//! 1. Throughput: `BURST` executions of a two-task flow started as fast as 16 clients can
//!    (`POST`, answered once recorded), then the time until the last one is SUCCESS.
//! 2. Latency of `POST ...?wait=true` from one client, p50 and p99 over 100 executions.
//!
//! Setups: one server that runs what it starts; an `--api-only` server and 1 worker; an
//! `--api-only` server and 2 workers.
//!
//! `cargo bench -p sluice-cli --bench workers`. Every process (PostgreSQL, servers, workers,
//! the load) shares this machine's cores: the numbers are a lower bound of what separate
//! machines give.

#![allow(clippy::unwrap_used)]

#[path = "../../store-postgres/tests/common/cluster.rs"]
mod cluster;
#[path = "../tests/common/server.rs"]
mod server;
#[path = "support/two_tasks.rs"]
mod two_tasks;

use std::path::Path;
use std::time::{Duration, Instant};

use server::Server;
use sluice_engine::{ExecutionFilter, ExecutionState, Store};
use two_tasks::{FLOW, ms, percentile};

const BURST: usize = 2000;
const CLIENTS: usize = 16;

/// Starts `BURST` executions through `api` and waits until all succeeded; executions/s.
async fn burst(api: &Server, url: &str) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let start = format!("{}/api/v1/executions/bench/two", api.base);
    let begin = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, start) = (client.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            for _ in (c..BURST).step_by(CLIENTS) {
                let response = client.post(&start).body("{}").send().await.unwrap();
                assert_eq!(response.status().as_u16(), 202);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = sluice_store_postgres::PostgresStore::connect(url).await.unwrap();
    // Done when none is unfinished (a cheap query: one row at most).
    use ExecutionState::{Created, Killing, Paused, Queued, Running};
    let unfinished = ExecutionFilter {
        states: vec![Created, Queued, Running, Paused, Killing],
        limit: 1,
        ..ExecutionFilter::default()
    };
    while !store.list_executions(&unfinished).await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed =
        ExecutionFilter { states: vec![ExecutionState::Success], limit: 1, ..ExecutionFilter::default() };
    assert!(!store.list_executions(&failed).await.unwrap().is_empty());
    let elapsed = begin.elapsed();
    store.close().await;
    BURST as f64 / elapsed.as_secs_f64()
}

/// p50 and p99 of `?wait=true` from one client.
async fn waits(api: &Server) -> (Duration, Duration) {
    let url = format!("{}/api/v1/executions/bench/two?wait=true", api.base);
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let sent = Instant::now();
        let (status, doc) = api.post(url.strip_prefix(&api.base).unwrap(), "{}").await;
        assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")), "{doc}");
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
}

async fn measure(name: &str, workers: usize) {
    let url = tokio::task::spawn_blocking(|| cluster::durable_cluster().create_database()).await.unwrap();
    let dirs: Vec<_> = (0..=workers).map(|_| tempfile::tempdir().unwrap()).collect();
    let warm = |dir: &Path| drop(Server::start(dir));
    dirs.iter().for_each(|d| warm(d.path()));
    let mut args = vec!["--database", url.as_str()];
    if workers > 0 {
        args.push("--api-only");
    }
    let api = Server::start_with(dirs[0].path(), &args, &[]);
    let nodes: Vec<Server> =
        dirs[1..].iter().map(|d| Server::start_worker(d.path(), &["--database", &url])).collect();
    assert_eq!(api.post("/api/v1/flows", FLOW).await.0, 201);
    let (p50, p99) = waits(&api).await;
    let throughput = burst(&api, &url).await;
    println!(
        "{name:<28} {throughput:>6.0} executions/s ({:>5.0} tasks/s) over {BURST}; ?wait=true p50 {}, p99 {}",
        throughput * 2.0,
        ms(p50),
        ms(p99)
    );
    drop(nodes);
    drop(api);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        measure("server (runs them itself)", 0).await;
        measure("api-only server + 1 worker", 1).await;
        measure("api-only server + 2 workers", 2).await;
    });
}
