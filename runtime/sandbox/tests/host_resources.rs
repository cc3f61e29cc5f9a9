//! Hostile guests against the host's shared resources: descriptors (the handle limit) and disk
//! (the workspace limit). Each run fails alone, with the limit it hit, and the host goes on.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Call, assert_host_unharmed, test_plugin};
use serde_json::json;
use sluice_sandbox::{Limits, RunError};

const MIB: u64 = 1 << 20;

#[tokio::test]
async fn a_run_that_opens_files_without_end_stops_at_its_handle_limit() {
    let plugin = test_plugin().await;
    let limits = Limits { open_handles: 256, ..Limits::default() };
    let run = Call::new(&plugin, "open-files", json!({"count": 100_000})).limits(limits).run().await;
    assert_eq!(run.error(), &RunError::HandleLimit { limit: 256 });
    assert!(run.error().to_string().contains("held 256 open files, streams and requests"));
    // What a good task needs is well below the default.
    let run = Call::new(&plugin, "open-files", json!({"count": 200})).run().await;
    assert_eq!(run.output(), &json!({"opened": 200}));
    assert_host_unharmed().await;
}

/// Many runs at their limit at once: each is stopped before the process runs out of
/// descriptors (the sandbox shares the process's limit among the runs it allows at once), and
/// runs beside them are unharmed.
#[tokio::test]
async fn runs_at_their_handle_limit_leave_descriptors_for_everyone_else() {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        set.spawn(async {
            let plugin = test_plugin().await;
            Call::new(&plugin, "open-files", json!({"count": 1_000_000})).run().await.report.outcome
        });
    }
    let beside = async {
        let plugin = test_plugin().await;
        let run = Call::new(&plugin, "open-files", json!({"count": 200})).run().await;
        assert_eq!(run.output(), &json!({"opened": 200}));
    };
    let (outcomes, ()) = tokio::join!(set.join_all(), beside);
    for outcome in outcomes {
        assert!(matches!(outcome, Err(RunError::HandleLimit { .. })), "{outcome:?}");
    }
    assert_host_unharmed().await;
}

#[tokio::test]
async fn writing_past_the_disk_limit_fails_the_run_with_the_size_and_the_limit() {
    let plugin = test_plugin().await;
    let limits = Limits { disk_bytes: 4 * MIB, ..Limits::default() };
    for how in ["write", "append"] {
        let run = Call::new(&plugin, "fill-disk", json!({"bytes": 64 * MIB, "how": how}))
            .limits(limits)
            .run()
            .await;
        match run.error() {
            RunError::DiskLimit { size, limit } => {
                assert_eq!(*limit, 4 * MIB, "{how}");
                assert!(*size > 4 * MIB && *size <= 5 * MIB, "{how}: the refused write is 1 MiB: {size}");
            }
            other => panic!("{how}: expected DiskLimit, got {other:?}"),
        }
        let written = std::fs::metadata(run.workspace.path().join("fill.bin")).unwrap().len();
        assert!(written <= 4 * MIB, "{how}: {written} bytes reached the disk");
    }
    assert_host_unharmed().await;
}

#[tokio::test]
async fn a_sparse_file_and_a_swallowed_error_count_all_the_same() {
    let plugin = test_plugin().await;
    let limits = Limits { disk_bytes: 4 * MIB, ..Limits::default() };
    let run = Call::new(&plugin, "fill-disk", json!({"bytes": 1_u64 << 40, "how": "set-len"}))
        .limits(limits)
        .run()
        .await;
    assert_eq!(run.error(), &RunError::DiskLimit { size: 1 << 40, limit: 4 * MIB });
    // The component sees a full disk; carrying on as if nothing happened does not help it.
    let run =
        Call::new(&plugin, "fill-disk", json!({"bytes": 8 * MIB, "how": "write", "ignoreErrors": true}))
            .limits(limits)
            .run()
            .await;
    assert!(matches!(run.error(), RunError::DiskLimit { .. }), "{:?}", run.error());
    assert!(run.messages().iter().any(|m| m.contains("disk limit exceeded")), "{:?}", run.messages());
}

#[tokio::test]
async fn writes_within_the_disk_limit_succeed_and_overwrites_are_free() {
    let plugin = test_plugin().await;
    let limits = Limits { disk_bytes: 4 * MIB, ..Limits::default() };
    let run =
        Call::new(&plugin, "fill-disk", json!({"bytes": 3 * MIB, "how": "write"})).limits(limits).run().await;
    assert_eq!(run.output(), &json!({"written": 3 * MIB, "error": null}));
    // The next run writes into the same workspace: its own budget, whatever is there already.
    let run = Call::new(&plugin, "fill-disk", json!({"bytes": 3 * MIB, "how": "append"}))
        .limits(limits)
        .in_workspace(run.workspace)
        .run()
        .await;
    assert_eq!(run.output(), &json!({"written": 3 * MIB, "error": null}));
    assert_eq!(std::fs::metadata(run.workspace.path().join("fill.bin")).unwrap().len(), 6 * MIB);
}
