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

    println!("docker.run of `true` in {BUSYBOX} ({runs} runs each, medians)");
    let cli = measure(runs, || {
        docker(&["run", "--rm", "--network", "none", BUSYBOX, "true"]);
    });
    let config = json!({"image": BUSYBOX, "pull": "never", "commands": ["true"]});
    let task = measure(runs, || {
        runtime.block_on(run_task(&sandbox, &plugin, "run", &config, workspace.path()));
    });
    let server = server_runs(&runtime, data.path(), runs);
    let flow = data.path().join("run.yaml");
    std::fs::write(&flow, run_flow()).unwrap();
    let process = measure(runs, || {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--data-dir")
            .arg(data.path())
            .args(["run", flow.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    });
    row("docker run --rm (CLI)", cli, cli);
    row("docker.run task in the sandbox", task, cli);
    row("execution via sluice server ?wait=true", server, cli);
    row("sluice run (whole process)", process, cli);

    println!("\ndocker.build of a {FILES}-file context ({runs} runs each, medians, cache busted each run)");
    let context = workspace.path().join("ctx");
    write_context(&context);
    let mut nonce = 0;
    let cli = measure(runs, || {
        nonce += 1;
        std::fs::write(context.join("nonce"), nonce.to_string()).unwrap();
        docker(&["build", "-q", "-t", "sluice-bench/ctx:cli", context.to_str().unwrap()]);
    });
    let config = json!({"context": "ctx", "tags": ["sluice-bench/ctx:task"]});
    let task = measure(runs, || {
        nonce += 1;
        std::fs::write(context.join("nonce"), nonce.to_string()).unwrap();
        runtime.block_on(run_task(&sandbox, &plugin, "build", &config, workspace.path()));
    });
    row("docker build (CLI)", cli, cli);
    row("docker.build task in the sandbox", task, cli);
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
) {
    let grants = Grants { docker: true, ..Grants::default() };
    let logs = Arc::new(CollectLogs::default());
    let request = RunRequest {
        task,
        config,
        grants: &grants,
        limits: Limits { timeout: Duration::from_secs(300), ..Limits::default() },
        workspace,
        logs: logs.clone(),
    };
    let report = sandbox.run(plugin, request).await;
    if let Err(err) = report.outcome {
        panic!("{task} failed: {err}; logs: {:?}", logs.lines());
    }
}

/// Executions of the one-task flow through a `sluice server`, each waited for over HTTP.
fn server_runs(runtime: &tokio::runtime::Runtime, data: &Path, runs: usize) -> Duration {
    let server_data = data.join("server");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(&server_data)
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
    let client = reqwest::Client::new();
    runtime.block_on(async {
        let created = client
            .post(format!("{address}/api/v1/flows"))
            .header("content-type", "application/x-yaml")
            .body(run_flow())
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{}", created.text().await.unwrap());
    });
    let median = measure(runs, || {
        runtime.block_on(async {
            let response = client
                .post(format!("{address}/api/v1/executions/bench/bench?wait=true"))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let doc: serde_json::Value = response.json().await.unwrap();
            assert_eq!(doc["state"], "SUCCESS", "{doc:#}");
        });
    });
    let _ = child.kill();
    let _ = child.wait();
    median
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

/// Median wall time of `runs` calls after one warm-up call.
fn measure(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn row(what: &str, time: Duration, baseline: Duration) {
    println!(
        "  {what:<42} {:>8.1} ms   {:.2}x",
        time.as_secs_f64() * 1000.0,
        time.as_secs_f64() / baseline.as_secs_f64()
    );
}
