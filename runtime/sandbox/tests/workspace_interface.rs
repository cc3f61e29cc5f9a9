//! The `workspace` host interface: `set-executable` changes (and `is-executable` reads) the mode
//! of regular files inside the run's workspace and refuses, with a logged reason, everything else.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::{Call, Run, test_plugin};
use serde_json::{Value, json};
use sluice_sandbox::LogSource;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

async fn set_executable(workspace: tempfile::TempDir, path: &str, executable: bool) -> Run {
    let plugin = test_plugin().await;
    Call::new(&plugin, "set-executable", json!({"path": path, "executable": executable}))
        .in_workspace(workspace)
        .run()
        .await
}

async fn is_executable(workspace: tempfile::TempDir, path: &str) -> Run {
    let plugin = test_plugin().await;
    Call::new(&plugin, "is-executable", json!({"path": path})).in_workspace(workspace).run().await
}

/// The run was refused: the component got an error naming the reason, the host logged it.
fn assert_refused(run: &Run, reason: &str) {
    let output = run.output();
    assert_eq!(output["ok"], Value::Bool(false), "{output}");
    let error = output["error"].as_str().unwrap();
    assert!(error.contains(reason), "{error}");
    assert!(
        run.logs.iter().any(|l| l.source == LogSource::Host
            && l.message.contains("refused: ")
            && l.message.contains(reason)),
        "{:#?}",
        run.logs
    );
}

#[tokio::test]
async fn a_file_becomes_executable_and_then_not() {
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join("bin")).unwrap();
    let script = workspace.path().join("bin/build.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    set_mode(&script, 0o644);

    let run = is_executable(workspace, "bin/build.sh").await;
    assert_eq!(run.output(), &json!({"ok": true, "executable": false}));
    let run = set_executable(run.workspace, "bin/build.sh", true).await;
    assert_eq!(run.output(), &json!({"ok": true}));
    assert_eq!(mode(&script), 0o755);
    let run = is_executable(run.workspace, "/workspace/bin/build.sh").await;
    assert_eq!(run.output(), &json!({"ok": true, "executable": true}));

    // Absolute under /workspace works too, and clearing keeps the other bits.
    let run = set_executable(run.workspace, "/workspace/bin/build.sh", false).await;
    assert_eq!(run.output(), &json!({"ok": true}));
    assert_eq!(mode(&script), 0o644);

    // A file without group/other read still gets all three x bits, as `chmod +x` does.
    set_mode(&script, 0o600);
    let run = set_executable(run.workspace, "./bin/../bin/build.sh", true).await;
    assert_eq!(run.output(), &json!({"ok": true}));
    assert_eq!(mode(&script), 0o711);
    assert!(run.logs.iter().all(|l| l.source != LogSource::Host), "{:#?}", run.logs);
}

#[tokio::test]
async fn paths_that_leave_the_workspace_are_refused() {
    let parent = tempfile::tempdir().unwrap();
    let workspace = tempfile::Builder::new().tempdir_in(parent.path()).unwrap();
    let escape = parent.path().join("escape");
    std::fs::write(&escape, "outside").unwrap();
    set_mode(&escape, 0o644);

    let run = set_executable(workspace, "../escape", true).await;
    assert_refused(&run, "leaves the workspace");
    let run = set_executable(run.workspace, &escape.display().to_string(), true).await;
    assert_refused(&run, "leaves the workspace");
    let run = set_executable(run.workspace, "/workspace/../escape", true).await;
    assert_refused(&run, "leaves the workspace");
    let run = is_executable(run.workspace, "../escape").await;
    assert_refused(&run, "leaves the workspace");
    assert_eq!(mode(&escape), 0o644);
}

#[tokio::test]
async fn symlinks_are_refused_and_their_targets_unchanged() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("target.sh");
    std::fs::write(&target, "outside").unwrap();
    set_mode(&target, 0o644);
    let workspace = tempfile::tempdir().unwrap();
    symlink(&target, workspace.path().join("link.sh")).unwrap();
    symlink(outside.path(), workspace.path().join("dir-link")).unwrap();
    std::fs::write(workspace.path().join("inside.sh"), "inside").unwrap();
    set_mode(&workspace.path().join("inside.sh"), 0o644);
    symlink("inside.sh", workspace.path().join("inner-link")).unwrap();

    let run = set_executable(workspace, "link.sh", true).await;
    assert_refused(&run, "symlink");
    let run = set_executable(run.workspace, "dir-link/target.sh", true).await;
    assert_refused(&run, "symlink");
    assert_eq!(mode(&target), 0o644);
    // Not even a symlink that stays inside is followed.
    let run = set_executable(run.workspace, "inner-link", true).await;
    assert_refused(&run, "symlink");
    set_mode(&target, 0o755);
    let run = is_executable(run.workspace, "link.sh").await;
    assert_refused(&run, "symlink");
    assert_eq!(mode(&run.workspace.path().join("inside.sh")), 0o644);
}

#[tokio::test]
async fn directories_and_missing_files_are_refused() {
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join("dir")).unwrap();
    let before = mode(&workspace.path().join("dir"));

    let run = set_executable(workspace, "dir", false).await;
    assert_refused(&run, "not a regular file");
    assert_eq!(mode(&run.workspace.path().join("dir")), before);
    let run = set_executable(run.workspace, "/workspace", true).await;
    assert_refused(&run, "not a regular file");
    let run = set_executable(run.workspace, "missing.sh", true).await;
    assert_refused(&run, "No such file");
    let run = set_executable(run.workspace, "missing/file.sh", true).await;
    assert_refused(&run, "No such file");
    let run = is_executable(run.workspace, "dir").await;
    assert_refused(&run, "not a regular file");
}
