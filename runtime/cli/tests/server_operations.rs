//! The real `sluice server` for what operators do beyond starting flows: restart in place,
//! replay from a task, file inputs as multipart, flow concurrency, and a SIGTERM that lets
//! running tasks finish.

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
    let (status, body) = server.post(&format!("/api/v1/executions/{id}/restart"), "").await;
    assert_eq!((status, body), (202, json!({"executionId": id, "state": "RUNNING"})));
    let doc = server.wait_for_state(&id, "SUCCESS").await;
    assert_eq!(attempt_states(run_of(&doc, "build")), ["SUCCESS"]);
    assert_eq!(attempt_states(run_of(&doc, "deploy")), ["FAILED", "SUCCESS"]);
    assert_eq!(doc["outputs"]["deploy"], json!({"value": "******"}));

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

/// SIGTERM: new executions are refused, the running task finishes within the grace period and
/// is recorded once; the next task is left for the next start, which runs it.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_running_tasks_finish_and_the_rest_continues_after_restart() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--shutdown-grace", "20s"], &[]);
    deploy(&server, TWO_STEPS).await;
    let id = start(&server, "/api/v1/executions/ops/steps", "{}").await;
    wait_until_task_runs(&server, &id, "long").await;

    let kill = std::process::Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status();
    assert!(kill.unwrap().success());
    // While draining, reads work and starts are refused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, problem) = server.post("/api/v1/executions/ops/steps", "{}").await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(
        problem["detail"],
        "sluice is shutting down and starts no new executions; try again once it is back"
    );
    let mut server = server;
    let exit = server.child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));

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
            .contains("interrupted by a restart")
    );
}
