//! How soon each page of the web UI is usable: the real `sluice server` (this build), Debian's
//! headless chromium through chromedriver, each page loaded afresh `ROUNDS` times. Times are the
//! page's own performance marks, in ms from the start of the navigation:
//! - `sluice:page`: the router drew the page with its data (the lists, a flow, an execution's
//!   header);
//! - `sluice:gantt`: the execution's first Gantt rows;
//! - `sluice:logs`: the execution's first log lines.
//!
//! The pages: the flows list, the executions list, the CI/CD example's flow page (its topology
//! and editor), an execution of 1,000 task runs, and one of 10,000 log lines. The goal is 100 ms.
//!
//! `cargo bench -p sluice-cli --bench ui_pages [-- ROUNDS]` (default 15).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::Value;

#[path = "../tests/common/server.rs"]
mod server;
#[path = "../tests/support_browser/mod.rs"]
mod support_browser;

use server::Server;
use support_browser::Browser;

const MANY_RUNS: &str = "id: wide
namespace: bench
tasks:
  - id: each
    type: flow.forEach
    values: \"{{ range(999) | list }}\"
    tasks:
      - id: step
        type: core.log
        message: \"step {{ taskrun.value }}\"
";

const LOUD: &str = "id: loud
namespace: bench
tasks:
  - id: flood
    type: test.log-flood
    lines: 10000
    size: 80
";

async fn run(server: &Server, flow: &str) -> String {
    let (status, doc) = server.post(&format!("/api/v1/executions/bench/{flow}?wait=true"), "{}").await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")), "{doc}");
    doc["executionId"].as_str().unwrap().to_string()
}

/// Loads `path` afresh and waits for each mark: its time in ms.
async fn measure(browser: &Browser, path: &str, marks: &[&str]) -> Vec<f64> {
    browser.client.goto("about:blank").await.unwrap();
    browser.open(path).await;
    let mut times = Vec::new();
    for mark in marks {
        let script =
            format!("return performance.getEntriesByName('{mark}').map((e) => e.startTime)[0] ?? null");
        let mut waited = 0;
        let at = loop {
            if let Value::Number(n) = browser.eval(&script).await {
                break n.as_f64().unwrap();
            }
            waited += 1;
            assert!(waited < 2000, "{path}: no `{mark}` mark within 20 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        times.push(at);
    }
    times
}

fn summary(mut times: Vec<f64>) -> String {
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "median {:6.1} ms, p90 {:6.1} ms, min {:6.1} ms, max {:6.1} ms",
        at(0.5),
        at(0.9),
        times[0],
        times[times.len() - 1]
    )
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(15);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, dir.path().join("plugins/test.wasm")).unwrap();
    let server = Server::start(dir.path());
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for flow in ["cicd/pipeline.yaml", "flows/hello.yaml", "flows/parallel.yaml", "flows/branching.yaml"] {
        let (status, doc) =
            server.post("/api/v1/flows", &std::fs::read_to_string(examples.join(flow)).unwrap()).await;
        assert_eq!(status, 201, "{flow}: {doc}");
    }
    for flow in [MANY_RUNS, LOUD] {
        let (status, doc) = server.post("/api/v1/flows", flow).await;
        assert_eq!(status, 201, "{doc}");
    }
    let wide = run(&server, "wide").await;
    let loud = run(&server, "loud").await;
    let browser = Browser::start(&server.base).await;

    let pages: [(&str, String, &[&str]); 5] = [
        ("flows list", "/flows".into(), &["sluice:page"]),
        ("executions list", "/executions".into(), &["sluice:page"]),
        ("flow page (cicd pipeline)", "/flows/examples.cicd/shop-delivery".into(), &["sluice:page"]),
        ("execution, 1,000 task runs", format!("/executions/{wide}"), &["sluice:page", "sluice:gantt"]),
        ("execution, 10,000 log lines", format!("/executions/{loud}"), &["sluice:page", "sluice:logs"]),
    ];
    println!("ui_pages: {rounds} fresh loads of each page (the first one warms up and is not counted)");
    for (name, path, marks) in &pages {
        measure(&browser, path, marks).await;
        let mut by_mark = vec![Vec::new(); marks.len()];
        for _ in 0..rounds {
            for (i, t) in measure(&browser, path, marks).await.into_iter().enumerate() {
                by_mark[i].push(t);
            }
        }
        for (mark, times) in marks.iter().zip(by_mark) {
            println!("  {name:<30} {mark:<13} {}", summary(times));
        }
    }
    browser.close().await;
    assert_eq!(server.terminate(), 0);
}
