//! The real `sluice server` for what operators do beyond starting flows: restart in place,
//! replay from a task, file inputs as multipart (and the upload limit), flow concurrency (with
//! the queue in the metrics), and a SIGTERM that lets running tasks finish.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::doc::run_of;
use common::server::Server;
use serde_json::{Value, json};

/// A data dir with the test component installed (its `sleep`, `noop`, `echo`, `read-file`).
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, dir.path().join("plugins/test.wasm")).unwrap();
    dir
}

async fn deploy(server: &Server, yaml: &str) {
    let (status, body) = server.post("/api/v1/flows", yaml).await;
    assert_eq!(status, 201, "{body}");
}

async fn start(server: &Server, path: &str, body: &str) -> String {
    let (status, doc) = server.post(path, body).await;
    assert_eq!(status, 202, "{doc}");
    doc["executionId"].as_str().unwrap().to_owned()
}

fn time_of(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value.as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("not a time: {value}"))
}

fn attempt_states(run: &Value) -> Vec<String> {
    run["attemptHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap().to_owned())
        .collect()
}

const GATED: &str = r#"id: gated
namespace: ops
tasks:
  - id: build
    type: test.noop
  - id: deploy
    type: test.echo
    allow: {secrets: [DEPLOY_TOKEN]}
    value: "{{ secret('DEPLOY_TOKEN') }}"
"#;

/// The secret is missing at first; the operator sets it, restarts the server, and restarts
/// the execution: only the failed task runs again, as a second attempt of the same run.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_execution_restarts_in_place_after_the_fix() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    deploy(&server, GATED).await;
    let (status, failed) = server.post("/api/v1/executions/ops/gated?wait=true", "{}").await;
    assert_eq!((status, failed["state"].as_str()), (200, Some("FAILED")), "{failed}");
    let id = failed["executionId"].as_str().unwrap().to_owned();
    assert_eq!(server.terminate(), 0);

    let server = Server::start_with(dir.path(), &[], &[("SLUICE_SECRET_DEPLOY_TOKEN", "t0k3n")]);
    // Two restarts at once: one runs the execution again, the other is refused (while the first
    // runs, or after it succeeded).
    let restart = format!("/api/v1/executions/{id}/restart");
    let (first, second) = tokio::join!(server.post(&restart, ""), server.post(&restart, ""));
    let (won, lost) = if first.0 == 202 { (first, second) } else { (second, first) };
    assert_eq!(won, (202, json!({"executionId": id, "state": "RUNNING"})));
    assert_eq!(lost.0, 409, "{}", lost.1);
    let refusals = [
        format!("execution {id} is still running"),
        format!("execution {id} is SUCCESS: only a FAILED or KILLED execution can be restarted"),
    ];
    assert!(refusals.iter().any(|r| lost.1["detail"] == *r), "{}", lost.1);
    let doc = server.wait_for_state(&id, "SUCCESS").await;
    assert_eq!(attempt_states(run_of(&doc, "build")), ["SUCCESS"]);
    assert_eq!(attempt_states(run_of(&doc, "deploy")), ["FAILED", "SUCCESS"]);
    assert_eq!(doc["outputs"]["deploy"], json!({"value": "******"}));
    // The same run: created when it first became ready, before its first attempt started.
    let (failed_run, run) = (run_of(&failed, "deploy"), run_of(&doc, "deploy"));
    assert_eq!(run["createdAt"], failed_run["createdAt"]);
    let created = time_of(&run["createdAt"]);
    assert!(created <= time_of(&run["attemptHistory"][0]["startedAt"]), "{run}");

    let (status, problem) = server.post(&format!("/api/v1/executions/{id}/restart"), "").await;
    assert_eq!(status, 409);
    assert_eq!(
        problem["detail"],
        format!("execution {id} is SUCCESS: only a FAILED or KILLED execution can be restarted")
    );
    let (status, _) = server.post("/api/v1/executions/nope/restart", "").await;
    assert_eq!(status, 404);
}

const RELEASE: &str = r#"id: release
namespace: ops
inputs:
  - id: notes
    type: file
  - id: version
    type: string
tasks:
  - id: read
    type: test.read-file
    path: "{{ inputs.notes }}"
  - id: publish
    type: test.echo
    value: "{{ inputs.version }}: {{ outputs.read.content }}"
"#;

fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &str)]) -> String {
    let mut body = String::new();
    for (name, file_name, content) in parts {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""));
        if let Some(file_name) = file_name {
            body.push_str(&format!("; filename=\"{file_name}\"\r\nContent-Type: text/plain"));
        }
        body.push_str(&format!("\r\n\r\n{content}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

/// A file input arrives as a multipart part; the execution reads it from its workspace. A
/// replay from the second task copies the first (and the workspace) and runs the rest.
#[tokio::test(flavor = "multi_thread")]
async fn file_inputs_come_as_multipart_and_a_replay_reruns_from_a_task() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    deploy(&server, RELEASE).await;
    let boundary = "sluice-test-boundary";
    let body =
        multipart(boundary, &[("version", None, "1.4.0"), ("notes", Some("../NOTES.md"), "fixed the flux")]);
    let request = server
        .http
        .post(server.url("/api/v1/executions/ops/release?wait=true"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body);
    let (status, doc) = server.send(request).await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")), "{doc}");
    assert_eq!(doc["outputs"]["publish"], json!({"value": "1.4.0: fixed the flux"}));
    let original = doc["executionId"].as_str().unwrap().to_owned();
    let (_, stored) = server.get(&format!("/api/v1/executions/{original}")).await;
    assert_eq!(
        stored["inputs"]["notes"], "/workspace/inputs/notes/NOTES.md",
        "the name, not the path, is kept"
    );

    let (status, replay) =
        server.post(&format!("/api/v1/executions/{original}/replay?fromTask=publish"), "").await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["replayOf"], json!(original));
    let new = replay["executionId"].as_str().unwrap().to_owned();
    let doc = server.wait_for_state(&new, "SUCCESS").await;
    assert_eq!(doc["trigger"], json!({"type": "replay", "executionId": original, "fromTask": "publish"}));
    assert_eq!(
        run_of(&doc, "read")["startedAt"],
        run_of(&stored, "read")["startedAt"],
        "copied, not run again"
    );
    assert_ne!(run_of(&doc, "publish")["startedAt"], run_of(&stored, "publish")["startedAt"]);
    assert_eq!(doc["outputs"]["publish"], json!({"value": "1.4.0: fixed the flux"}));

    let (status, problem) =
        server.post(&format!("/api/v1/executions/{original}/replay?fromTask=ship"), "").await;
    assert_eq!(status, 409);
    assert_eq!(problem["detail"], "the flow has no task `ship` (its tasks: read, publish)");

    // A file input is an upload, never a path on the server: not in JSON, not as a text part.
    let (status, problem) =
        server.post("/api/v1/executions/ops/release", r#"{"version": "1", "notes": "/etc/passwd"}"#).await;
    assert_eq!(status, 422, "{problem}");
    let refused =
        "input `notes`: a file input must be uploaded as a multipart/form-data part with a file name";
    assert_eq!(problem["errors"], json!([refused]), "{problem}");
    let body = multipart(boundary, &[("version", None, "1"), ("notes", None, "/etc/passwd")]);
    let request = server
        .http
        .post(server.url("/api/v1/executions/ops/release"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body);
    let (status, problem) = server.send(request).await;
    assert_eq!((status, &problem["errors"]), (422, &json!([refused])));
}

const SERIAL: &str = r#"id: serial
namespace: ops
concurrency: {limit: 1, behavior: cancel}
tasks:
  - id: nap
    type: test.sleep
    ms: 1500
"#;

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_cancels_an_execution_over_the_limit() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    deploy(&server, SERIAL).await;
    let first = start(&server, "/api/v1/executions/ops/serial", "{}").await;
    let (status, second) = server.post("/api/v1/executions/ops/serial?wait=true", "{}").await;
    assert_eq!((status, second["state"].as_str()), (200, Some("CANCELLED")), "{second}");
    let (_, listed) =
        server.get(&format!("/api/v1/executions/{}", second["executionId"].as_str().unwrap())).await;
    assert_eq!(
        listed["error"],
        "cancelled (`concurrency.behavior: cancel`): flow ops.serial already has 1 running execution(s), its `concurrency.limit` is 1"
    );
    server.wait_for_state(&first, "SUCCESS").await;
}

const TWO_STEPS: &str = r#"id: steps
namespace: ops
tasks:
  - id: long
    type: test.sleep
    ms: 2500
  - id: next
    type: test.noop
"#;

async fn wait_until_task_runs(server: &Server, id: &str, key: &str) {
    for _ in 0..400 {
        let (_, doc) = server.get(&format!("/api/v1/executions/{id}")).await;
        let running = doc["taskRuns"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["id"] == key && r["state"] == "RUNNING");
        if running {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{key} of {id} never ran");
}

const LONG_STEPS: &str = r#"id: steps
namespace: ops
tasks:
  - id: long
    type: test.sleep
    ms: 4000
  - id: next
    type: test.noop
"#;

const TICKS: &str = r#"id: ticks
namespace: ops
triggers:
  - id: every-second
    type: schedule
    cron: "* * * * * *"
  - id: hook
    type: webhook
    key: go
tasks:
  - id: log
    type: core.log
    message: tick
"#;

/// SIGTERM: the triggers stop, readiness turns 503, new executions are refused (through the API
/// and through webhooks) while reads go on; the running task finishes within the grace period and
/// is recorded once; the next task is left for the next start, which runs it.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_running_tasks_finish_and_the_rest_continues_after_restart() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--shutdown-grace", "30s"], &[]);
    deploy(&server, LONG_STEPS).await;
    deploy(&server, TICKS).await;
    let id = start(&server, "/api/v1/executions/ops/steps", "{}").await;
    wait_until_task_runs(&server, &id, "long").await;
    // The schedule has fired before the signal.
    for _ in 0..400 {
        let (_, triggers) = server.get("/api/v1/flows/ops/ticks/triggers").await;
        if triggers[0]["executionId"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    server.signal_term();
    // Readiness goes first: once it is 503, the engine drains and the triggers have stopped.
    let mut ready = (200, Value::Null);
    for _ in 0..400 {
        // "ready" is plain text; the refusal is a problem document.
        let response = server.http.get(server.url("/readyz")).send().await.unwrap();
        if response.status() == 503 {
            ready = (503, serde_json::from_str(&response.text().await.unwrap()).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        ready,
        (
            503,
            json!({"type": "https://sluice.dev/problems/unavailable", "title": "Service unavailable",
                   "status": 503, "detail": "draining for a shutdown: no new executions start here"})
        )
    );
    let refused = json!("sluice is shutting down and starts no new executions; try again once it is back");
    let (status, problem) = server.post("/api/v1/executions/ops/steps", "{}").await;
    assert_eq!((status, &problem["detail"]), (503, &refused));
    let (status, problem) = server.post("/api/v1/webhooks/ops/ticks/go", "").await;
    assert_eq!((status, &problem["detail"]), (503, &refused));
    let (status, running) = server.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!((status, running["state"].as_str()), (200, Some("RUNNING")));
    let (status, triggers) = server.get("/api/v1/flows/ops/ticks/triggers").await;
    assert_eq!(status, 200);
    let covered = triggers[0]["coveredUntil"].as_str().unwrap().to_owned();
    let ticks = server.get("/api/v1/executions?flowId=ticks").await.1.as_array().unwrap().len();
    let mut server = server;
    let exit = server.child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));

    // Nothing fired after the signal: the schedule's state and its executions are as they were.
    {
        use sluice_engine::Store;
        let store = sluice_store::SqliteStore::open(&dir.path().join("sluice.db")).await.unwrap();
        let key =
            sluice_engine::TriggerKey { namespace: "ops", flow_id: "ticks", trigger_id: "every-second" };
        let state = store.schedule_state(key).await.unwrap().unwrap();
        assert_eq!(state.covered_until, chrono::DateTime::parse_from_rfc3339(&covered).unwrap());
        let filter = sluice_engine::ExecutionFilter {
            flow_id: Some("ticks".into()),
            limit: 1000,
            ..sluice_engine::ExecutionFilter::default()
        };
        assert_eq!(store.list_executions(&filter).await.unwrap().len(), ticks);
        store.close().await;
    }

    let server = Server::start(dir.path());
    let doc = server.wait_for_state(&id, "SUCCESS").await;
    assert_eq!(attempt_states(run_of(&doc, "long")), ["SUCCESS"], "finished within the grace, not run again");
    assert_eq!(attempt_states(run_of(&doc, "next")), ["SUCCESS"]);
    let executions = server.get("/api/v1/executions?flowId=steps").await.1;
    assert_eq!(executions.as_array().unwrap().len(), 1, "the refused start created nothing");
}

/// A grace shorter than the task: the attempt is cut and runs again after the restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_longer_than_the_grace_runs_again_after_restart() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--shutdown-grace", "100ms"], &[]);
    deploy(&server, TWO_STEPS).await;
    let id = start(&server, "/api/v1/executions/ops/steps", "{}").await;
    wait_until_task_runs(&server, &id, "long").await;
    assert_eq!(server.terminate(), 0);

    let server = Server::start(dir.path());
    let doc = server.wait_for_state(&id, "SUCCESS").await;
    assert_eq!(attempt_states(run_of(&doc, "long")), ["FAILED", "SUCCESS"]);
    assert!(
        run_of(&doc, "long")["attemptHistory"][0]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted: its server stopped or lost the execution")
    );
}

/// `--max-upload-size`: a multipart start over it is a 413 problem that names the flag; under
/// it the file arrives.
#[tokio::test(flavor = "multi_thread")]
async fn the_upload_limit_is_a_server_flag() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--max-upload-size", "2KiB"], &[]);
    deploy(&server, RELEASE).await;
    let send = |notes: String| {
        let body = multipart("b", &[("version", None, "2.0"), ("notes", Some("NOTES.md"), notes.as_str())]);
        server
            .http
            .post(server.url("/api/v1/executions/ops/release?wait=true"))
            .header("content-type", "multipart/form-data; boundary=b")
            .body(body)
    };
    let (status, problem) = server.send(send("x".repeat(3000))).await;
    assert_eq!(
        (status, problem),
        (
            413,
            json!({"type": "https://sluice.dev/problems/payload-too-large", "title": "Payload too large", "status": 413,
                   "detail": "the upload is too large: this server takes multipart starts of at most 2 KiB (`sluice server --max-upload-size`)"})
        )
    );
    let (status, doc) = server.send(send("x".repeat(1000))).await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")), "{doc}");
    assert_eq!(doc["outputs"]["publish"]["value"], format!("2.0: {}", "x".repeat(1000)));
    assert_eq!(server.terminate(), 0);

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["server", "--bind", "127.0.0.1:0", "--max-upload-size", "lots"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid value 'lots' for '--max-upload-size <SIZE>'"), "{stderr}");
}

const QUEUED: &str = r#"id: queued
namespace: ops
concurrency: {limit: 1, behavior: queue}
tasks:
  - id: gate
    type: flow.pause
"#;

const FAILING: &str = r#"id: failing
namespace: ops
concurrency: {limit: 1, behavior: fail}
tasks:
  - id: gate
    type: flow.pause
"#;

/// The metric lines about queued and paused executions.
async fn queue_metrics(server: &Server) -> Vec<String> {
    let text = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("sluice_queue_depth{queue=\"executions\"}")
                || l.starts_with("sluice_executions{state=\"QUEUED\"}")
                || l.starts_with("sluice_executions{state=\"PAUSED\"}")
        })
        .map(str::to_owned)
        .collect()
}

fn metrics(queued: usize, paused: usize) -> Vec<String> {
    vec![
        format!("sluice_executions{{state=\"QUEUED\"}} {queued}"),
        format!("sluice_executions{{state=\"PAUSED\"}} {paused}"),
        format!("sluice_queue_depth{{queue=\"executions\"}} {queued}"),
    ]
}

/// `concurrency.behavior: queue` through the API: over the limit an execution waits QUEUED (and
/// counts in the queue depth), and starts when the place frees, in order; `fail` ends the
/// newcomer FAILED with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn concurrency_queues_or_fails_api_starts_and_the_queue_shows_in_the_metrics() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    deploy(&server, QUEUED).await;
    deploy(&server, FAILING).await;
    assert_eq!(queue_metrics(&server).await, metrics(0, 0));
    let first = start(&server, "/api/v1/executions/ops/queued", "").await;
    server.wait_for_state(&first, "PAUSED").await;
    let second = start(&server, "/api/v1/executions/ops/queued", "").await;
    server.wait_for_state(&second, "QUEUED").await;
    let third = start(&server, "/api/v1/executions/ops/queued", "").await;
    server.wait_for_state(&third, "QUEUED").await;
    assert_eq!(queue_metrics(&server).await, metrics(2, 1));

    assert_eq!(server.post(&format!("/api/v1/executions/{first}/resume"), "").await.0, 202);
    server.wait_for_state(&first, "SUCCESS").await;
    server.wait_for_state(&second, "PAUSED").await;
    let (_, still) = server.get(&format!("/api/v1/executions/{third}")).await;
    assert_eq!(still["state"], "QUEUED", "admitted in the order they were queued");
    assert_eq!(queue_metrics(&server).await, metrics(1, 1));
    assert_eq!(server.post(&format!("/api/v1/executions/{third}/kill"), "").await.0, 202);
    let killed = server.wait_for_state(&third, "KILLED").await;
    assert_eq!((killed["startedAt"].clone(), killed["taskRuns"].clone()), (Value::Null, json!([])));
    assert_eq!(queue_metrics(&server).await, metrics(0, 1));
    assert_eq!(server.post(&format!("/api/v1/executions/{second}/resume"), "").await.0, 202);
    server.wait_for_state(&second, "SUCCESS").await;

    let holder = start(&server, "/api/v1/executions/ops/failing", "").await;
    server.wait_for_state(&holder, "PAUSED").await;
    let (status, refused) = server.post("/api/v1/executions/ops/failing?wait=true", "").await;
    assert_eq!((status, refused["state"].as_str()), (200, Some("FAILED")), "{refused}");
    assert_eq!(
        refused["error"],
        "failed (`concurrency.behavior: fail`): flow ops.failing already has 1 running execution(s), its `concurrency.limit` is 1"
    );
    assert_eq!(refused["taskRuns"], json!([]));
    let (_, still) = server.get(&format!("/api/v1/executions/{holder}")).await;
    assert_eq!(still["state"], "PAUSED");
    assert_eq!(server.terminate(), 0);
}

const HOARDERS: &str = r#"id: hoarders
namespace: ops
tasks:
  - id: each
    type: flow.forEach
    values: [1, 2, 3, 4, 5, 6, 7, 8]
    concurrency: 0
    tasks:
      - id: hoard
        type: test.open-files
        count: 1000000
"#;

/// Tasks that open files without end each fail at their handle limit, alone, and the server
/// keeps accepting and answering while they run (it used to stop at `Too many open files`).
#[tokio::test(flavor = "multi_thread")]
async fn tasks_hoarding_descriptors_fail_alone_and_the_api_keeps_answering() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    deploy(&server, HOARDERS).await;
    let id = start(&server, "/api/v1/executions/ops/hoarders", "").await;
    let doc = loop {
        let (status, doc) = server.get(&format!("/api/v1/executions/{id}")).await;
        assert_eq!(status, 200, "{doc}");
        if doc["state"] == "FAILED" {
            break doc;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for i in 0..8 {
        let run = run_of(&doc, &format!("hoard[{i}]"));
        let error = run["error"].as_str().unwrap();
        assert!(error.starts_with("handle limit exceeded: the task held "), "{error}");
    }
    // Nothing is left held: the same server runs a good task at once.
    deploy(&server, "id: fine\nnamespace: ops\ntasks:\n  - id: n\n    type: test.noop\n").await;
    let id = start(&server, "/api/v1/executions/ops/fine", "").await;
    server.wait_for_state(&id, "SUCCESS").await;
}
