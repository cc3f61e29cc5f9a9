//! `sluice server --database postgres://...` as the real binary: flows and executions on
//! PostgreSQL (a cluster this test binary starts, see
//! `runtime/store-postgres/tests/common/cluster.rs`), kept across a restart that names the
//! database by `SLUICE_DATABASE_URL`; an unsupported URL is refused naming what is accepted.

#![allow(clippy::unwrap_used)]

#[path = "../../store-postgres/tests/common/cluster.rs"]
mod cluster;
mod common;

use std::path::Path;
use std::process::Command;

use common::server::Server;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_server_deploys_and_runs_on_postgres_and_keeps_it_across_a_restart() {
    let url = tokio::task::spawn_blocking(|| cluster::cluster().create_database()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hello = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows/hello.yaml"),
    )
    .unwrap();

    let server = Server::start_with(dir.path(), &["--database", &url], &[]);
    let (status, saved) = server.post("/api/v1/flows", &hello).await;
    assert_eq!((status, saved), (201, json!({"namespace": "examples", "id": "hello", "revision": 1})));
    let (status, doc) = server.post("/api/v1/executions/examples/hello?wait=true", "{}").await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")), "{doc}");
    assert_eq!(doc["flowOutputs"], json!({"greeting": "Hello, world!", "checked": 1}));
    let id = doc["executionId"].as_str().unwrap().to_owned();
    let (status, logs) = server.get(&format!("/api/v1/executions/{id}/logs")).await;
    assert_eq!(status, 200);
    assert!(logs.to_string().contains("Hello, world!"), "{logs}");
    assert_eq!(server.terminate(), 0);
    assert!(!dir.path().join("sluice.db").exists(), "no SQLite file beside PostgreSQL");

    // Another server (another data dir) on the same database, named by the environment.
    let other_dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(other_dir.path(), &[], &[("SLUICE_DATABASE_URL", &url)]);
    let (status, doc) = server.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")), "{doc}");
    let (_, flows) = server.get("/api/v1/flows").await;
    assert_eq!(flows.as_array().unwrap().len(), 1, "{flows}");
    let (status, doc) = server.post("/api/v1/executions/examples/hello?wait=true", "{}").await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")), "{doc}");
    let (_, listed) = server.get("/api/v1/executions?namespace=examples").await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(server.terminate(), 0);
}

#[test]
fn an_unsupported_database_url_is_refused_naming_the_accepted_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["server", "--bind", "127.0.0.1:0", "--database", "mysql://root:hunter2@db/sluice"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "--database: unsupported database URL (mysql); accepted: postgres:// or postgresql:// \
             (PostgreSQL), or leave it unset for the embedded SQLite store under the data dir"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "the password is not printed: {stderr}");
}
