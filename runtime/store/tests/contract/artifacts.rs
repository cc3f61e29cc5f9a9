//! Artifacts: content-addressed blobs stored once, and the names executions attach them under.

use std::time::Duration;

use sluice_engine::{ArtifactRef, Attachment, CommitBatch, Lease, Store, StoreError};

use crate::common::*;

const HELLO_SHA256: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[tokio::test]
async fn artifacts_are_stored_once_under_their_sha256() {
    let (db, store) = open_store().await;
    let first = store.put_artifact(b"hello world").await.unwrap();
    let second = store.put_artifact(b"hello world").await.unwrap();
    assert_eq!(first, ArtifactRef { sha256: HELLO_SHA256.to_owned(), size: 11 });
    assert_eq!(second, first);
    let empty = store.put_artifact(b"").await.unwrap();
    assert_eq!(empty, ArtifactRef { sha256: EMPTY_SHA256.to_owned(), size: 0 });
    assert_eq!(db.count("artifacts").await, 2);

    assert_eq!(store.get_artifact(HELLO_SHA256).await.unwrap(), Some(b"hello world".to_vec()));
    assert_eq!(store.get_artifact(EMPTY_SHA256).await.unwrap(), Some(Vec::new()));
    assert_eq!(store.get_artifact(&"0".repeat(64)).await.unwrap(), None);

    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let big = store.put_artifact(&binary).await.unwrap();
    assert_eq!(big.size, 70_000);
    assert_eq!(store.get_artifact(&big.sha256).await.unwrap(), Some(binary));
}

#[tokio::test]
async fn attached_artifacts_list_in_attach_order() {
    let (_db, store) = open_store().await;
    let hello = store.put_artifact(b"hello world").await.unwrap();
    let report = store.put_artifact(b"<testsuite/>").await.unwrap();
    let build = key("build[0]");

    store.attach_artifact("e1", None, "input.txt", &hello).await.unwrap();
    store.attach_artifact("e1", Some(&build), "report.xml", &report).await.unwrap();
    // One blob under two names, and the same name at another level.
    store.attach_artifact("e1", Some(&build), "copy.txt", &hello).await.unwrap();
    store.attach_artifact("e1", Some(&build), "input.txt", &report).await.unwrap();
    store.attach_artifact("e2", None, "input.txt", &hello).await.unwrap();

    let expected = vec![
        (None, "input.txt".to_owned(), hello.clone()),
        (Some(build.clone()), "report.xml".to_owned(), report.clone()),
        (Some(build.clone()), "copy.txt".to_owned(), hello.clone()),
        (Some(build.clone()), "input.txt".to_owned(), report.clone()),
    ];
    assert_eq!(store.artifacts("e1").await.unwrap(), expected);

    // Attaching a name again points it elsewhere and keeps its place.
    store.attach_artifact("e1", Some(&build), "report.xml", &hello).await.unwrap();
    let listed = store.artifacts("e1").await.unwrap();
    assert_eq!(listed[1], (Some(build), "report.xml".to_owned(), hello.clone()));
    assert_eq!(listed.len(), 4);
    assert_eq!(store.artifacts("e2").await.unwrap(), vec![(None, "input.txt".to_owned(), hello)]);
    assert_eq!(store.artifacts("e3").await.unwrap(), vec![]);
}

#[tokio::test]
async fn attaching_an_artifact_that_was_never_put_is_not_found() {
    let (_db, store) = open_store().await;
    let missing = ArtifactRef { sha256: "ab".repeat(32), size: 3 };
    let error = store.attach_artifact("e1", None, "x", &missing).await.unwrap_err();
    assert!(matches!(&error, StoreError::NotFound(m) if m.contains(&missing.sha256)), "{error:?}");
}

fn attachment(execution: &str, task_run: Option<&str>, name: &str, artifact: &ArtifactRef) -> Attachment {
    let (execution_id, name) = (execution.to_owned(), name.to_owned());
    Attachment { execution_id, task_run: task_run.map(key), name, artifact: artifact.clone() }
}

/// A batch's attachments land with its rows, replace a name attached before, and fail the
/// batch whole when their blob was never put or the batch's lease is held by another node.
#[tokio::test]
async fn artifacts_attached_by_a_commit_land_with_its_rows_or_not_at_all() {
    let (_db, store) = open_store().await;
    let old = store.put_artifact(b"before").await.unwrap();
    let new = store.put_artifact(b"after").await.unwrap();
    store.attach_artifact("e1", None, "manifest", &old).await.unwrap();
    let lease =
        Lease { execution_id: "e1".into(), node: "a".into(), epoch: 1, ttl: Duration::from_secs(600) };
    let batch = CommitBatch {
        executions: vec![execution("e1", "ns", "flow", at(1, 0))],
        task_runs: vec![("e1".to_owned(), task_run("build", at(2, 0)))],
        lease: Some(lease.clone()),
        artifacts: vec![
            attachment("e1", None, "manifest", &new),
            attachment("e1", Some("build[0]"), "report.xml", &old),
        ],
        ..CommitBatch::default()
    };
    store.commit(batch).await.unwrap();
    let expected = vec![
        (None, "manifest".to_owned(), new.clone()),
        (Some(key("build[0]")), "report.xml".to_owned(), old.clone()),
    ];
    assert_eq!(store.artifacts("e1").await.unwrap(), expected);

    // A blob never put: neither the attachments nor the rows beside them land.
    let missing = ArtifactRef { sha256: "ab".repeat(32), size: 3 };
    let batch = CommitBatch {
        task_runs: vec![("e1".to_owned(), task_run("test", at(3, 0)))],
        lease: Some(lease.clone()),
        artifacts: vec![attachment("e1", None, "manifest", &old), attachment("e1", None, "gone", &missing)],
        ..CommitBatch::default()
    };
    store.commit(batch).await.unwrap_err();
    assert_eq!(store.artifacts("e1").await.unwrap(), expected);
    assert_eq!(store.task_runs("e1").await.unwrap().len(), 1);

    // Under a lease another node holds now: refused whole, the newer manifest stays.
    assert_eq!(store.take_lease("e1", "b", Duration::from_secs(600)).await.unwrap().epoch, 2);
    let stale = CommitBatch {
        lease: Some(lease),
        artifacts: vec![attachment("e1", None, "manifest", &old)],
        ..CommitBatch::default()
    };
    assert!(matches!(store.commit(stale).await, Err(StoreError::LeaseLost(_))));
    assert_eq!(store.artifacts("e1").await.unwrap(), expected);
}

#[tokio::test]
async fn a_plugin_deployed_again_replaces_the_one_before_and_a_missing_blob_is_not_found() {
    let (_db, store) = open_store().await;
    assert_eq!(store.deployed_plugins().await.unwrap(), vec![]);
    let first = store.put_artifact(b"\0asm first").await.unwrap();
    let second = store.put_artifact(b"\0asm second").await.unwrap();
    store.deploy_plugin("zeta", &first).await.unwrap();
    store.deploy_plugin("alpha", &first).await.unwrap();
    store.deploy_plugin("zeta", &second).await.unwrap();
    let deployed = store.deployed_plugins().await.unwrap();
    assert_eq!(deployed, vec![("alpha".to_owned(), first.clone()), ("zeta".to_owned(), second)]);
    let missing = ArtifactRef { sha256: "cd".repeat(32), size: 1 };
    let error = store.deploy_plugin("alpha", &missing).await.unwrap_err();
    assert!(matches!(&error, StoreError::NotFound(m) if m.contains(&missing.sha256)), "{error:?}");
    assert_eq!(store.deployed_plugins().await.unwrap()[0], ("alpha".to_owned(), first));
}
