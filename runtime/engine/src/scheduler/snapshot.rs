//! Workspaces that follow an execution to another machine. With snapshots on (servers sharing
//! a PostgreSQL database), the driver records its workspace in the shared store each time a
//! task run ends, in the commit that records the end (so the two land together, fenced by the
//! lease), before the next tasks are dispatched: every file as a content-addressed
//! artifact (stored once, whatever the number of snapshots or executions holding it), and a
//! manifest (paths, kinds, executable bits, link targets, contents' digests) attached to the
//! execution. A node that takes the execution over, with no workspace of its own for it,
//! rebuilds it from the last manifest: the tasks after the boundary see the files the tasks
//! before it left, as on the original machine.
//!
//! A snapshot reads only the files whose size or modification time changed since the last
//! one, and writes nothing when the manifest is unchanged. Files written by a task still
//! running in parallel are taken as they are at the moment.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::store::{Attachment, Store, StoreError};

/// The execution-level artifact name of the manifest.
pub(crate) const MANIFEST: &str = "sluice/workspace-manifest.json";

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Manifest {
    /// Sorted by path; a directory comes before what it holds.
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Entry {
    Dir { path: String },
    File { path: String, sha256: String, executable: bool },
    Link { path: String, target: String },
}

/// What one driver remembers between its snapshots.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    /// Per file: its size and modification time when last read, and its digest.
    known: HashMap<PathBuf, (u64, SystemTime, String)>,
    /// The digest of the manifest last attached.
    last: Option<String>,
}

/// A file or link as found by the walk, before its content is stored.
enum Found {
    Dir(String),
    File { path: String, full: PathBuf, size: u64, modified: SystemTime, executable: bool },
    Link { path: String, target: String },
}

impl Snapshots {
    /// Stores `workspace`'s changed files and its manifest in the store, and returns the
    /// manifest's attachment to `execution_id` when it differs from the last one committed:
    /// it goes in the batch that records the task's end, so a node taking the execution over
    /// finds the workspace that batch left, and a node that lost the lease attaches nothing.
    pub(crate) async fn prepare<S: Store>(
        &mut self,
        store: &S,
        execution_id: &str,
        workspace: &Path,
    ) -> Result<Option<Attachment>, StoreError> {
        let root = workspace.to_owned();
        let found = tokio::task::spawn_blocking(move || walk(&root))
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?
            .map_err(|error| StoreError::Workspace { path: workspace.to_owned(), error })?;
        let mut manifest = Manifest::default();
        for item in found {
            manifest.entries.push(match item {
                Found::Dir(path) => Entry::Dir { path },
                Found::Link { path, target } => Entry::Link { path, target },
                Found::File { path, full, size, modified, executable } => {
                    let sha256 = match self.known.get(&full) {
                        Some((s, m, sha)) if *s == size && *m == modified => sha.clone(),
                        _ => {
                            let bytes = tokio::fs::read(&full)
                                .await
                                .map_err(|error| StoreError::Workspace { path: full.clone(), error })?;
                            let stored = store.put_artifact(&bytes).await?;
                            self.known.insert(full, (size, modified, stored.sha256.clone()));
                            stored.sha256
                        }
                    };
                    Entry::File { path, sha256, executable }
                }
            });
        }
        if manifest.entries.is_empty() && self.last.is_none() {
            return Ok(None);
        }
        let bytes = serde_json::to_vec(&manifest).map_err(|e| StoreError::Database(e.to_string()))?;
        let stored = store.put_artifact(&bytes).await?;
        if self.last.as_ref() == Some(&stored.sha256) {
            return Ok(None);
        }
        let name = MANIFEST.to_owned();
        Ok(Some(Attachment { execution_id: execution_id.to_owned(), task_run: None, name, artifact: stored }))
    }

    /// The attachment [`Snapshots::prepare`] returned was committed.
    pub(crate) fn committed(&mut self, attachment: &Attachment) {
        self.last = Some(attachment.artifact.sha256.clone());
    }
}

/// Rebuilds `workspace` from the execution's last manifest. False when it has none.
pub(crate) async fn restore<S: Store>(
    store: &S,
    execution_id: &str,
    workspace: &Path,
) -> Result<bool, StoreError> {
    let attached = store.artifacts(execution_id).await?;
    let Some((_, _, manifest)) =
        attached.into_iter().find(|(run, name, _)| run.is_none() && name == MANIFEST)
    else {
        return Ok(false);
    };
    let corrupt =
        |why: String| StoreError::Corrupt(format!("workspace manifest of execution {execution_id}: {why}"));
    let bytes =
        store.get_artifact(&manifest.sha256).await?.ok_or_else(|| corrupt("its blob is missing".into()))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error| StoreError::Workspace { path, error }
    };
    tokio::fs::create_dir_all(workspace).await.map_err(io(workspace))?;
    for entry in manifest.entries {
        let (path, target) = match &entry {
            Entry::Dir { path } | Entry::File { path, .. } | Entry::Link { path, .. } => (
                path.clone(),
                inside(workspace, path).ok_or_else(|| corrupt(format!("`{path}` leaves the workspace")))?,
            ),
        };
        match entry {
            Entry::Dir { .. } => tokio::fs::create_dir_all(&target).await.map_err(io(&target))?,
            Entry::Link { target: link, .. } => {
                tokio::fs::symlink(&link, &target).await.map_err(io(&target))?;
            }
            Entry::File { sha256, executable, .. } => {
                let content = store
                    .get_artifact(&sha256)
                    .await?
                    .ok_or_else(|| corrupt(format!("the content of `{path}` is missing")))?;
                tokio::fs::write(&target, content).await.map_err(io(&target))?;
                if executable {
                    use std::os::unix::fs::PermissionsExt;
                    let permissions = std::fs::Permissions::from_mode(0o755);
                    tokio::fs::set_permissions(&target, permissions).await.map_err(io(&target))?;
                }
            }
        }
    }
    Ok(true)
}

/// `relative` under `root`, if it is a plain relative path (no `..`, not absolute).
fn inside(root: &Path, relative: &str) -> Option<PathBuf> {
    let path = Path::new(relative);
    path.components().all(|c| matches!(c, Component::Normal(_))).then(|| root.join(path))
}

/// Every directory, file and link under `root`, sorted by path, parents first. Symlinks are
/// recorded, never followed; names that are not UTF-8 (which no manifest can hold) are left out.
fn walk(root: &Path) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let mut entries: Vec<_> = match std::fs::read_dir(root.join(&relative)) {
            Ok(entries) => entries.collect::<Result<_, _>>()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && relative.as_os_str().is_empty() => continue,
            Err(e) => return Err(e),
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries.into_iter().rev() {
            let path = relative.join(entry.file_name());
            let Some(text) = path.to_str().map(str::to_owned) else { continue };
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                let target = std::fs::read_link(entry.path())?.to_string_lossy().into_owned();
                found.push(Found::Link { path: text, target });
            } else if kind.is_dir() {
                found.push(Found::Dir(text));
                pending.push(path);
            } else if kind.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let metadata = entry.metadata()?;
                found.push(Found::File {
                    path: text,
                    full: entry.path(),
                    size: metadata.len(),
                    modified: metadata.modified()?,
                    executable: metadata.permissions().mode() & 0o111 != 0,
                });
            }
        }
    }
    found.sort_by(|a, b| found_path(a).cmp(found_path(b)));
    Ok(found)
}

fn found_path(found: &Found) -> &str {
    match found {
        Found::Dir(path) | Found::File { path, .. } | Found::Link { path, .. } => path,
    }
}
