//! `sluice server --api-only` and `sluice worker` processes on one PostgreSQL database (a
//! cluster this test binary starts, see `runtime/store-postgres/tests/common/cluster.rs`). The
//! server runs nothing: each execution it starts is committed for the workers, which share
//! them (`--max-executions`), take over those of a worker killed mid-task, and run an
//! execution whose tasks ask for `workerTags:` only on a worker holding them. A `file` input
//! uploaded to the server reaches the worker's workspace. A plugin deployed once through the
//! server (`POST /api/v1/plugins`) is loaded by every worker from the database.

#![allow(clippy::unwrap_used)]

#[path = "../../store-postgres/tests/common/cluster.rs"]
mod cluster;
mod common;

use std::path::Path;

use common::naps::{naps, succeeded_once, wait_in_nap};
use common::server::Server;
use serde_json::{Value, json};

/// One task asks for a Docker host; the file input was uploaded to the API server.
const TAGGED: &str = r#"id: tagged
namespace: cluster
inputs:
  - id: notes
    type: file
tasks:
  - id: read
    type: test.read-file
    path: "{{ inputs.notes }}"
    workerTags: [docker]
"#;

async fn database() -> String {
    tokio::task::spawn_blocking(|| cluster::cluster().create_database()).await.unwrap()
}

/// An API-only server (no plugin files: plugins come deployed through the API).
fn api_server(dir: &Path, url: &str) -> Server {
    Server::start_with(dir, &["--database", url, "--api-only"], &[])
}

fn worker(dir: &Path, url: &str, args: &[&str]) -> Server {
    let mut all = vec!["--database", url];
    all.extend_from_slice(args);
    Server::start_worker(dir, &all)
}

/// Whether the node compiled the component of `digest` (`sha256:<hex>`) into its cache.
fn compiled_in(dir: &Path, digest: &str) -> bool {
    let hex = digest.trim_start_matches("sha256:");
    let cache = std::fs::read_dir(dir.join("cache/components")).unwrap();
    cache.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).any(|name| name.starts_with(hex))
}

/// Whether the execution's workspace is under `dir` (the node that ran it keeps it there).
/// A flow with a `secret` input.
const SECRETIVE: &str = "id: secretive\nnamespace: cluster\ninputs:\n  - id: token\n    type: secret\ntasks:\n  - id: t\n    type: test.noop\n";

fn ran_in(dir: &Path, id: &str) -> bool {
    dir.join("workspaces").join(id).is_dir()
}

/// The `sluice_cluster_<name>` gauge of a node's `/metrics`.
async fn gauge(node: &Server, name: &str) -> u64 {
    let text = node.http.get(node.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("sluice_cluster_{name} ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix}in {text}"));
    line[prefix.len()..].parse().unwrap()
}

/// Without PostgreSQL there is no one to share work with: a worker, or an API-only server, on
/// the embedded SQLite refuses to start and says what to give it.
#[test]
fn a_worker_or_an_api_only_server_without_postgres_refuses_to_start() {
    for command in [&["worker"][..], &["server", "--api-only"]] {
        let dir = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(command)
            .args(["--bind", "127.0.0.1:0"])
            .env_remove("SLUICE_DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("shares the work of other nodes through PostgreSQL"), "{stderr}");
        assert!(stderr.contains("--database postgres://"), "{stderr}");
    }
}

/// The test plugin, deployed through `api`: its summary.
async fn deploy_test_plugin(api: &Server) -> Value {
    let wasm = std::fs::read(test_programs_artifacts::TEST_PROGRAMS).unwrap();
    let request =
        api.http.post(api.url("/api/v1/plugins")).header("content-type", "application/wasm").body(wasm);
    let (status, doc) = api.send(request).await;
    assert_eq!((status, &doc["name"], &doc["source"]), (201, &json!("test"), &json!("deployed")), "{doc}");
    doc
}

/// The test plugin is deployed once, through the API-only server; no node has it as a file.
/// Six executions started on the server go three to each worker, each of which loaded the
/// plugin from the database and compiled it into its cache; `kill -9` of one worker mid-task
/// sends its three to the other, which records the cut attempts and finishes them; a
/// `?wait=true` start on the server answers with the final document.
#[tokio::test(flavor = "multi_thread")]
async fn workers_share_what_an_api_only_server_hands_over_and_take_over_a_killed_ones() {
    let url = database().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let api = api_server(dirs[0].path(), &url);
    let first = worker(dirs[1].path(), &url, &["--max-executions", "3"]);
    let second = worker(dirs[2].path(), &url, &["--max-executions", "3"]);
    let (status, doc) = api.post("/api/v1/flows", &naps(2500)).await;
    assert_eq!(status, 422, "the test plugin is not deployed yet: {doc}");
    let deployed = deploy_test_plugin(&api).await;
    assert_eq!(api.post("/api/v1/flows", &naps(2500)).await.0, 201);

    let mut ids = Vec::new();
    for _ in 0..6 {
        let (status, doc) = api.post("/api/v1/executions/cluster/naps", "{}").await;
        assert_eq!((status, &doc["state"]), (202, &json!("CREATED")), "{doc}");
        ids.push(doc["executionId"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_in_nap(&api, id).await;
    }
    let on_second: Vec<&String> = ids.iter().filter(|id| ran_in(dirs[2].path(), id)).collect();
    let on_first = ids.iter().filter(|id| ran_in(dirs[1].path(), id)).count();
    assert_eq!((on_first, on_second.len()), (3, 3), "each worker claims up to its --max-executions");
    assert!(ids.iter().all(|id| !ran_in(dirs[0].path(), id)), "the API-only server keeps no workspace");
    let digest = deployed["digest"].as_str().unwrap();
    assert!(compiled_in(dirs[1].path(), digest) && compiled_in(dirs[2].path(), digest));
    assert_eq!(gauge(&first, "leases").await, 6);

    second.kill_hard();
    for id in &ids {
        api.wait_for_state(id, "SUCCESS").await;
    }
    let store = sluice_store_postgres::PostgresStore::connect(&url).await.unwrap();
    for id in &ids {
        let nap = succeeded_once(&store, id).await;
        if on_second.contains(&id) {
            assert_eq!(nap.len(), 2, "cut on the killed worker, run again: {nap:?}");
            assert!(ran_in(dirs[1].path(), id), "taken over by the other worker");
        } else {
            assert_eq!(nap.len(), 1, "{nap:?}");
        }
    }
    store.close().await;

    let (status, doc) = api.post("/api/v1/executions/cluster/naps?wait=true", "{}").await;
    assert_eq!((status, &doc["state"]), (200, &json!("SUCCESS")), "{doc}");
    let id = doc["executionId"].as_str().unwrap();
    // A rerun continues where the workspace is: the API-only server refuses it.
    let (status, refused) = api.post(&format!("/api/v1/executions/{id}/replay"), "").await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("runs no executions (--api-only)"), "{refused}");
    assert!(ran_in(dirs[1].path(), id));
    assert_eq!(doc["taskRuns"].as_array().map(Vec::len), Some(3), "{doc}");
    assert_eq!(first.terminate(), 0);
    assert_eq!(api.terminate(), 0);
}

fn upload(server: &Server, path: &str, file_name: &str, content: &str) -> reqwest::RequestBuilder {
    let boundary = "sluice-worker-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"notes\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/plain\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    server
        .http
        .post(server.url(path))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
}

/// An execution whose task asks for `workerTags: [docker]` waits (counted as awaiting a node)
/// while only an untagged worker runs, which goes on running the others; a worker started
/// with `--tags docker,linux` (after the plugin was deployed: it loads it as it starts) takes
/// it and reads the file input uploaded to the server. Bytes that are not a plugin are
/// refused.
#[tokio::test(flavor = "multi_thread")]
async fn an_execution_asking_for_worker_tags_runs_only_on_a_worker_holding_them() {
    let url = database().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let api = api_server(dirs[0].path(), &url);
    let plain = worker(dirs[1].path(), &url, &[]);
    let not_wasm = api.http.post(api.url("/api/v1/plugins")).body("#!/bin/sh\necho hi\n");
    let (status, doc) = api.send(not_wasm).await;
    assert_eq!(status, 400, "{doc}");
    assert!(doc["detail"].as_str().unwrap().starts_with("the body is not a sluice plugin"), "{doc}");
    deploy_test_plugin(&api).await;
    assert_eq!(api.post("/api/v1/flows", TAGGED).await.0, 201);
    assert_eq!(api.post("/api/v1/flows", &naps(2500)).await.0, 201);

    let (status, doc) =
        api.send(upload(&api, "/api/v1/executions/cluster/tagged", "notes.md", "ship it")).await;
    assert_eq!(status, 202, "{doc}");
    let tagged = doc["executionId"].as_str().unwrap().to_owned();
    let (_, doc) = api.post("/api/v1/executions/cluster/naps?wait=true", "{}").await;
    assert_eq!(doc["state"], "SUCCESS", "the untagged worker runs what asks for nothing: {doc}");
    let (_, doc) = api.get(&format!("/api/v1/executions/{tagged}")).await;
    assert_eq!(doc["state"], "CREATED", "no node holds `docker` yet: {doc}");
    assert_eq!(gauge(&api, "awaiting_takeover").await, 1);

    // Started after the deploy: it loads the plugin from the database as it starts.
    let docker = worker(dirs[2].path(), &url, &["--tags", "docker,linux"]);
    // A `secret` input cannot travel to a worker (it is stored redacted): refused, not created.
    assert_eq!(api.post("/api/v1/flows", SECRETIVE).await.0, 201);
    let (status, doc) = api.post("/api/v1/executions/cluster/secretive", r#"{"token": "s3cr3t"}"#).await;
    assert_eq!(status, 409, "{doc}");
    assert!(doc["detail"].as_str().unwrap().contains("cannot be handed to another node"), "{doc}");
    let (_, listed) = api.get("/api/v1/executions?flowId=secretive").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
    let doc = api.wait_for_state(&tagged, "SUCCESS").await;
    assert_eq!(doc["outputs"]["read"], json!({"ok": true, "content": "ship it"}), "{doc}");
    assert!(ran_in(dirs[2].path(), &tagged) && !ran_in(dirs[1].path(), &tagged));
    let inputs: &Value = &doc["inputs"];
    assert_eq!(inputs["notes"], "/workspace/inputs/notes/notes.md", "{doc}");
    assert_eq!(gauge(&api, "awaiting_takeover").await, 0);
    for node in [docker, plain, api] {
        assert_eq!(node.terminate(), 0);
    }
}
