//! `git.clone` against the real `git clone`, depth 1, of a 5,000-file repository served by
//! `git http-backend` on 127.0.0.1 (the tests' server). Prints each run and the medians.
//!
//! `cargo bench -p sluice-cli --bench git_clone [-- <runs>]` (default 7 runs). sluice's time is
//! the whole `sluice run` of a one-task flow (process start, store, sandbox, clone, checkout of
//! every file, `.git` with pack, idx and index), with the component cache warm.

#![allow(clippy::unwrap_used)]

#[path = "../tests/support_git/mod.rs"]
mod support_git;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support_git::{GitServer, make_repo};

const FILES: usize = 5000;

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(7);
    let root = tempfile::tempdir().unwrap();
    make_repo(root.path(), "many", |w| support_git::fill_many_files(w, FILES));
    let server = GitServer::start(root.path());
    let url = format!("{}/many.git", server.origin);
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let flow = scratch.path().join("clone.yaml");
    std::fs::write(
        &flow,
        format!("id: bench\nnamespace: bench\ntasks:\n  - id: clone\n    type: git.clone\n    url: {url}\n"),
    )
    .unwrap();

    // Warm-up: compiles the component into the data dir's cache, and warms the server's disk.
    sluice_clone(&data, &flow);
    git_clone(&url, &scratch.path().join("warm"));

    let mut sluice_times = Vec::new();
    let mut git_times = Vec::new();
    for i in 0..runs {
        let t = sluice_clone(&data, &flow);
        let g = git_clone(&url, &scratch.path().join(format!("git{i}")));
        println!("run {i}: sluice git.clone {:7.1} ms   git clone --depth 1 {:7.1} ms", ms(t), ms(g));
        sluice_times.push(t);
        git_times.push(g);
    }
    // Where sluice's time goes, from the task's own log line (one more run).
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(&data)
        .args(["run", flow.to_str().unwrap()])
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains("cloned ") || l.contains("SUCCESS"))
    {
        println!("  {}", line.trim());
    }
    let (s, g) = (median(&mut sluice_times), median(&mut git_times));
    println!(
        "median of {runs}: sluice {:.1} ms, git {:.1} ms, ratio {:.2}x ({FILES} files, depth 1)",
        ms(s),
        ms(g),
        s.as_secs_f64() / g.as_secs_f64()
    );
}

fn sluice_clone(data: &Path, flow: &Path) -> Duration {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(data)
        .args(["run", flow.to_str().unwrap()])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    elapsed
}

fn git_clone(url: &str, into: &Path) -> Duration {
    let started = Instant::now();
    let output = Command::new("git")
        .args(["clone", "-q", "--depth", "1", url, into.to_str().unwrap()])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    elapsed
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
