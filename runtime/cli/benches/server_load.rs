//! Load on the real `sluice server`: `POST /api/v1/executions/{ns}/{id}?wait=true` for a
//! two-task flow, measured end to end over HTTP on 127.0.0.1.
//!
//! 1. Idle RSS of the server after start (no execution yet).
//! 2. Open loop at a fixed rate (default 500 executions/s for 10 s): requests are sent on
//!    schedule whether or not earlier ones answered, so a slow server shows up as latency,
//!    not as a lower rate. Latency counts from the scheduled send time.
//! 3. Saturation: closed loops of 1..64 concurrent clients, 5 s each; the best throughput.
//!
//! `cargo bench -p sluice-cli --bench server_load [-- RATE SECONDS [auth]]`. With `auth`, the
//! server needs a token (given as `SLUICE_ADMIN_TOKEN`) and every request bears it, so each is
//! looked up (cached) and each start appends to the audit log. The load generator runs on the
//! same machine as the server and takes CPU from it: the numbers are a lower bound.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

#[path = "../tests/common/server.rs"]
mod server;
#[path = "support/two_tasks.rs"]
mod two_tasks;
use server::Server;
use two_tasks::{FLOW, ms, percentile};

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

/// The token the `auth` runs give the server and bear.
const TOKEN: &str = "sluice_bench-token-0123456789abcdefghijklmnopqrstuv";

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
    // Paced by a thread of its own: tokio's timer has 1 ms granularity, and sleeping on it
    // sent each request up to a millisecond after its due time, which the latency counted.
    // A thread's sleep is precise to tens of microseconds; that lateness is reported too.
    let runtime = tokio::runtime::Handle::current();
    let (client, url) = (client.clone(), url.to_owned());
    let pacer = std::thread::spawn(move || {
        let begin = Instant::now();
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let due = begin + interval * i;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let late = due.elapsed();
            let (client, url) = (client.clone(), url.clone());
            tasks.push(
                runtime.spawn(async move { execute(&client, &url).await.then(|| (due.elapsed(), late)) }),
            );
        }
        (begin, tasks)
    });
    let (begin, tasks) = tokio::task::spawn_blocking(move || pacer.join().unwrap()).await.unwrap();
    let mut latencies = Vec::with_capacity(total as usize);
    let mut lateness = Vec::with_capacity(total as usize);
    let mut failures = 0;
    for task in tasks {
        match task.await.unwrap() {
            Some((latency, late)) => {
                latencies.push(latency);
                lateness.push(late);
            }
            None => failures += 1,
        }
    }
    let elapsed = begin.elapsed();
    latencies.sort();
    lateness.sort();
    println!(
        "open loop {rate}/s for {seconds} s: {} ok, {failures} failed, achieved {:.0}/s; latency p50 {}, p90 {}, p99 {}, max {}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
    );
    println!(
        "  of which the load generator's own lateness in sending: p50 {}, p99 {}",
        ms(percentile(&lateness, 0.50)),
        ms(percentile(&lateness, 0.99)),
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
    let auth = args.next().as_deref() == Some("auth");

    let data = tempfile::tempdir().unwrap();
    // The first start compiles the built-in plugins into the data dir's cache; a server is
    // measured as it usually starts, with that cache warm.
    drop(Server::start(data.path()));
    let env: &[(&str, &str)] = if auth { &[("SLUICE_ADMIN_TOKEN", TOKEN)] } else { &[] };
    let server = Server::start_with(data.path(), &[], env);
    println!("auth: {}", if auth { "on (a bearer token on every request, audit entries)" } else { "off" });
    std::thread::sleep(Duration::from_secs(2));
    let (rss, anon, file) = rss_mib(server.child.id());
    println!(
        "idle RSS after start: {rss:.1} MiB ({anon:.1} MiB private anonymous, {file:.1} MiB file-backed pages of the binary)"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut headers = reqwest::header::HeaderMap::new();
        if auth {
            headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {TOKEN}").parse().unwrap());
        }
        let client =
            reqwest::Client::builder().pool_max_idle_per_host(1024).default_headers(headers).build().unwrap();
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
