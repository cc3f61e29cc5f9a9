//! Load on the real `sluice server`: `POST /api/v1/executions/{ns}/{id}?wait=true` for a
//! two-task flow, measured end to end over HTTP on 127.0.0.1.
//!
//! 1. Idle RSS of the server after start (no execution yet).
//! 2. Open loop at a fixed rate (default 500 executions/s for 10 s): requests are sent on
//!    schedule whether or not earlier ones answered, so a slow server shows up as latency,
//!    not as a lower rate. Latency counts from the scheduled send time.
//! 3. Saturation: closed loops of 1..64 concurrent clients, 5 s each; the best throughput.
//!
//! `cargo bench -p sluice-cli --bench server_load [-- RATE SECONDS]`. The load generator runs
//! on the same machine as the server and takes CPU from it: the numbers are a lower bound.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

#[path = "../tests/common/server.rs"]
mod server;
use server::Server;

const FLOW: &str = "id: two
namespace: bench
tasks:
  - id: first
    type: core.log
    message: first of two
  - id: second
    type: core.log
    message: \"second, after {{ execution.id }}\"
";

/// VmRSS, RssAnon and RssFile in MiB.
fn rss_mib(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> f64 {
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib / 1024.0
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn execute(client: &reqwest::Client, url: &str) -> bool {
    match client.post(url).body("{}").send().await {
        Ok(response) => {
            let ok = response.status().is_success();
            let body = response.text().await.unwrap_or_default();
            ok && body.contains("\"state\":\"SUCCESS\"")
        }
        Err(_) => false,
    }
}

async fn open_loop(client: &reqwest::Client, url: &str, rate: u32, seconds: u32) {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let begin = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = begin + interval * i;
        tokio::time::sleep_until(due.into()).await;
        let (client, url, latencies, failures) =
            (client.clone(), url.to_owned(), latencies.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            if execute(&client, &url).await {
                latencies.lock().await.push(due.elapsed());
            } else {
                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = begin.elapsed();
    let mut latencies = latencies.lock().await.clone();
    latencies.sort();
    println!(
        "open loop {rate}/s for {seconds} s: {} ok, {} failed, achieved {:.0}/s; latency p50 {}, p90 {}, p99 {}, max {}",
        latencies.len(),
        failures.load(std::sync::atomic::Ordering::Relaxed),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
    );
}

async fn closed_loop(client: &reqwest::Client, url: &str, clients: usize, window: Duration) -> f64 {
    let stop = Instant::now() + window;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < stop {
                if execute(&client, &url).await {
                    done += 1;
                }
            }
            done
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await.unwrap();
    }
    done as f64 / window.as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let rate: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let seconds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);

    let data = tempfile::tempdir().unwrap();
    // The first start compiles the built-in plugins into the data dir's cache; a server is
    // measured as it usually starts, with that cache warm.
    drop(Server::start(data.path()));
    let server = Server::start(data.path());
    std::thread::sleep(Duration::from_secs(2));
    let (rss, anon, file) = rss_mib(server.child.id());
    println!(
        "idle RSS after start: {rss:.1} MiB ({anon:.1} MiB private anonymous, {file:.1} MiB file-backed pages of the binary)"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build().unwrap();
        let deployed = client.post(format!("{}/api/v1/flows", server.base)).body(FLOW).send().await.unwrap();
        assert_eq!(deployed.status().as_u16(), 201);
        let url = format!("{}/api/v1/executions/bench/two?wait=true", server.base);
        // Warm up: plugin instances, SQLite pages, connections.
        for _ in 0..200 {
            assert!(execute(&client, &url).await, "the flow does not succeed");
        }
        open_loop(&client, &url, rate, seconds).await;
        let mut best = (0, 0.0);
        for clients in [1, 2, 4, 8, 16, 32, 64] {
            let throughput = closed_loop(&client, &url, clients, Duration::from_secs(5)).await;
            println!("closed loop, {clients:>2} clients: {throughput:.0} executions/s");
            if throughput > best.1 {
                best = (clients, throughput);
            }
        }
        println!("saturation: {:.0} executions/s ({} clients)", best.1, best.0);
    });
    println!("RSS after the load: {:.1} MiB", rss_mib(server.child.id()).0);
}
