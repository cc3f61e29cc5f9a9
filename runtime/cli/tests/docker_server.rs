//! The docker plugin under `sluice server --docker-host`: killing an execution whose
//! `docker.run` is in the middle of a long command removes its container.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../sandbox/tests/docker_env/mod.rs"]
mod docker_env;

use std::time::{Duration, Instant};

use common::server::Server;
use docker_env::{BUSYBOX, assert_no_labelled_containers, labelled_containers};

#[tokio::test(flavor = "multi_thread")]
async fn killing_an_execution_removes_its_container() {
    docker_env::ready();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["--docker-host", "unix:///var/run/docker.sock"], &[]);
    let flow = format!(
        "id: long\nnamespace: t\ntasks:\n  - id: long\n    type: docker.run\n    image: {BUSYBOX}\n    pull: never\n    commands: [\"echo started\", \"sleep 120\"]\n    allow: {{docker: true}}\n"
    );
    let (status, created) = server.post("/api/v1/flows", &flow).await;
    assert_eq!(status, 201, "{created}");
    let (status, started) = server.post("/api/v1/executions/t/long", "").await;
    assert_eq!(status, 202, "{started}");
    let id = started["executionId"].as_str().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    while labelled_containers().is_empty() {
        assert!(Instant::now() < deadline, "the container never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = server.post(&format!("/api/v1/executions/{id}/kill"), "").await;
    assert_eq!(status, 202);
    let killed = server.wait_for_state(&id, "KILLED").await;
    assert_eq!(killed["taskRuns"][0]["state"], "KILLED");
    assert_no_labelled_containers(Duration::from_secs(15));
}
