//! Execution workspaces: one directory per execution, shared by its tasks (clone -> build ->
//! image), under `<data dir>/workspaces/<execution id>`, removed after the retention period.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The file whose modification time is the last sweep's: beside the workspaces directory
/// (`<data dir>/workspaces.last-sweep`), which holds nothing but workspaces.
pub fn sweep_marker(root: &Path) -> PathBuf {
    let mut name = root.file_name().unwrap_or_default().to_owned();
    name.push(".last-sweep");
    root.with_file_name(name)
}

/// The workspace directory of an execution.
pub fn workspace_dir(root: &Path, execution_id: &str) -> PathBuf {
    root.join(execution_id)
}

/// Names (execution ids) of the workspaces not modified for longer than `retention`.
pub async fn expired(root: &Path, retention: Duration) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut entries = match tokio::fs::read_dir(root).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e),
    };
    let now = SystemTime::now();
    while let Some(entry) = entries.next_entry().await? {
        let Ok(name) = entry.file_name().into_string() else { continue };
        let modified = entry.metadata().await?.modified()?;
        if now.duration_since(modified).unwrap_or_default() > retention {
            names.push(name);
        }
    }
    Ok(names)
}

/// Copies a workspace (a replay starts from the original's files). Symlinks are copied as
/// links, never followed, so a link a task left cannot pull outside files in.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
