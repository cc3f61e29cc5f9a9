//! The docker plugin against the docker CLI on the same daemon (wall time, medians, ratios):
//!
//! - `docker.run` of a trivial command vs `docker run --rm`, three ways: the task alone in the
//!   sandbox (one process, warm), one execution through `sluice server` (`?wait=true`, the
//!   engine and store included), and a whole `sluice run` process (its start included);
//! - `docker.build` of a 1,000-file context vs `docker build`, the task alone in the sandbox.
//!
//! `cargo bench -p sluice-cli --bench docker [-- RUNS]` (default 15 runs each). Needs dockerd
//! (started if not running), like the tests.

#![allow(clippy::unwrap_used)]

#[path = "../../sandbox/tests/docker_env/mod.rs"]
mod docker_env;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docker_env::{BUSYBOX, docker};
use serde_json::json;
use sluice_sandbox::{CollectLogs, Grants, Limits, Plugin, RunRequest, Sandbox, SandboxConfig};

const FILES: usize = 1000;

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(15);
    docker_env::ready();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let data = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: Some(data.path().join("cache").join("components")),
        ..SandboxConfig::default()
    })
    .unwrap();
    let plugin = runtime.block_on(sandbox.load(sluice_builtin_plugins::DOCKER.wasm)).unwrap();
    let workspace = tempfile::tempdir().unwrap();

    println!("docker.run of `true` in {BUSYBOX} ({runs} runs each, interleaved, medians)");
    let config = json!({"image": BUSYBOX, "pull": "never", "commands": ["true"]});
    let (mut server, address) = start_server(&runtime, &data.path().join("server"));
    let client = reqwest::Client::new();
    let flow = data.path().join("run.yaml");
    std::fs::write(&flow, run_flow()).unwrap();
    let times = interleaved(
        runs,
        &mut [
            &mut || {
                docker(&["run", "--rm", "--network", "none", BUSYBOX, "true"]);
            },
            &mut || {
                runtime.block_on(run_task(&sandbox, &plugin, "run", &config, workspace.path()));
            },
            &mut || runtime.block_on(server_execution(&client, &address)),
            &mut || {
                let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
                    .arg("--data-dir")
                    .arg(data.path())
                    .args(["run", flow.to_str().unwrap(), "--json"])
                    .output()
                    .unwrap();
                assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
            },
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    row("docker run --rm (CLI)", times[0], times[0]);
    row("docker.run task in the sandbox", times[1], times[0]);
    row("execution via sluice server ?wait=true", times[2], times[0]);
    row("sluice run (whole process)", times[3], times[0]);

    println!(
        "\ndocker.build of a {FILES}-file context ({runs} runs each, interleaved, medians, cache busted each run)"
    );
    let context = workspace.path().join("ctx");
    write_context(&context);
    let nonce = std::cell::Cell::new(0);
    let bust = || {
        nonce.set(nonce.get() + 1);
        std::fs::write(context.join("nonce"), nonce.get().to_string()).unwrap();
    };
    let config = json!({"context": "ctx", "tags": ["sluice-bench/ctx:task"]});
    let times = interleaved(
        runs,
        &mut [
            &mut || {
                bust();
                docker(&["build", "-q", "-t", "sluice-bench/ctx:cli", context.to_str().unwrap()]);
            },
            &mut || {
                bust();
                runtime.block_on(run_task(&sandbox, &plugin, "build", &config, workspace.path()));
            },
        ],
    );
    row("docker build (CLI)", times[0], times[0]);
    row("docker.build task in the sandbox", times[1], times[0]);
    // Where one more task run spends its time, from its log lines' timestamps.
    bust();
    let started = std::time::SystemTime::now();
    let lines = runtime.block_on(run_task(&sandbox, &plugin, "build", &config, workspace.path()));
    let at = |prefix: &str| {
        let line = lines.iter().find(|l| l.message.starts_with(prefix)).unwrap();
        line.time.duration_since(started).unwrap().as_secs_f64() * 1000.0
    };
    println!(
        "  one more task run: context listed at {:.0} ms, first daemon output at {:.0} ms, built at {:.0} ms ({})",
        at("sending a build context"),
        at("Step 1/"),
        at("built sha256:"),
        lines.iter().find(|l| l.message.starts_with("sending")).unwrap().message
    );
    let _ = docker_env::docker_output(&["rmi", "-f", "sluice-bench/ctx:cli", "sluice-bench/ctx:task"]);
    let _ = docker_env::docker_output(&["image", "prune", "-f"]);
}

fn run_flow() -> String {
    format!(
        "id: bench\nnamespace: bench\ntasks:\n  - id: run\n    type: docker.run\n    image: {BUSYBOX}\n    pull: never\n    commands: [\"true\"]\n    allow: {{docker: true}}\n"
    )
}

async fn run_task(
    sandbox: &Sandbox,
    plugin: &Plugin,
    task: &str,
    config: &serde_json::Value,
    workspace: &Path,
) -> Vec<sluice_sandbox::LogLine> {
    let grants = Grants { docker: true, ..Grants::default() };
    let logs = Arc::new(CollectLogs::default());
    let request = RunRequest {
        task,
        config,
        grants: &grants,
        limits: Limits { timeout: Duration::from_secs(300), ..Limits::default() },
        workspace,
        logs: logs.clone(),
        execution: None,
    };
    let report = sandbox.run(plugin, request).await;
    if let Err(err) = report.outcome {
        panic!("{task} failed: {err}; logs: {:?}", logs.lines());
    }
    logs.lines()
}

/// A `sluice server` on a free port with the one-task flow created; its address.
fn start_server(runtime: &tokio::runtime::Runtime, data: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(data)
        .args(["server", "--bind", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let address = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the server stopped");
        if let Some(address) = line.trim().strip_prefix("listening on ") {
            break address.to_string();
        }
    };
    runtime.block_on(async {
        let created = reqwest::Client::new()
            .post(format!("{address}/api/v1/flows"))
            .header("content-type", "application/x-yaml")
            .body(run_flow())
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{}", created.text().await.unwrap());
    });
    (child, address)
}

/// One execution of the flow through the server's API, waited for.
async fn server_execution(client: &reqwest::Client, address: &str) {
    let response = client
        .post(format!("{address}/api/v1/executions/bench/bench?wait=true"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["state"], "SUCCESS", "{doc:#}");
}

/// `FILES` files of 1 KiB in 20 directories, and a Dockerfile that copies them.
fn write_context(dir: &Path) {
    for i in 0..FILES {
        let sub = dir.join(format!("dir{:02}", i % 20));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("file{i:04}.txt")), format!("{i:01023}\n")).unwrap();
    }
    std::fs::write(dir.join("Dockerfile"), format!("FROM {BUSYBOX}\nCOPY . /ctx\n")).unwrap();
}

/// Median wall time of each closure over `runs` rounds (one warm-up round first); each round
/// calls every closure once, so load changes on the machine hit them alike.
fn interleaved(runs: usize, closures: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    for f in closures.iter_mut() {
        f();
    }
    let mut times = vec![Vec::with_capacity(runs); closures.len()];
    for _ in 0..runs {
        for (f, times) in closures.iter_mut().zip(times.iter_mut()) {
            let started = Instant::now();
            f();
            times.push(started.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect()
}

fn row(what: &str, time: Duration, baseline: Duration) {
    println!(
        "  {what:<42} {:>8.1} ms   {:.2}x",
        time.as_secs_f64() * 1000.0,
        time.as_secs_f64() / baseline.as_secs_f64()
    );
}
