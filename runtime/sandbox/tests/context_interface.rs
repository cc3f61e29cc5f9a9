//! The `context` host interface: a run is told the execution document it was given, with the
//! run's secrets redacted, and nothing outside an execution; a component that does not import
//! the interface runs as before (every other test's guest).

#![allow(clippy::unwrap_used)]

mod common;

use common::{Call, test_plugin};
use serde_json::json;
use sluice_sandbox::Grants;

#[tokio::test]
async fn a_run_is_told_its_execution_with_its_secrets_redacted() {
    let plugin = test_plugin().await;
    let execution = json!({
        "executionId": "e1",
        "flowId": "deploy",
        "failedTasks": [{"taskRunId": "build", "error": "push with token tok-123 refused"}],
        "labels": {"tok-123": "a key too"},
    });
    let grants = Grants { redact: vec!["tok-123".into()], ..Grants::default() };
    let run = Call::new(&plugin, "context", json!({})).grants(grants).execution(execution).run().await;
    assert_eq!(
        run.output(),
        &json!({"execution": {
            "executionId": "e1",
            "flowId": "deploy",
            "failedTasks": [{"taskRunId": "build", "error": "push with token ****** refused"}],
            "labels": {"******": "a key too"},
        }})
    );
}

#[tokio::test]
async fn outside_an_execution_there_is_none() {
    let plugin = test_plugin().await;
    let run = Call::new(&plugin, "context", json!({})).run().await;
    assert_eq!(run.output(), &json!({"execution": null}));
}

#[tokio::test]
async fn the_host_knows_which_components_import_the_interface() {
    assert!(test_plugin().await.reads_execution_context());
    assert!(!common::core_plugin().await.reads_execution_context(), "core never asks");
}
