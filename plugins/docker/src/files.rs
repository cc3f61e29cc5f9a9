//! Listing workspace files for an archive: a build context, or the inputs of a container.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sluice_plugin::TaskError;

use crate::tar::{Entry, Kind};

/// Every entry under `root` (recursively, sorted, symlinks kept as links) whose path relative to
/// `root` passes `keep`, named `prefix` + that path.
pub fn collect(root: &Path, prefix: &str, keep: &dyn Fn(&str) -> bool) -> Result<Vec<Entry>, TaskError> {
    let mut entries = Vec::new();
    walk(root, "", prefix, keep, &mut entries)?;
    Ok(entries)
}

/// Whether the file at `path` is executable, read through the host (WASI's `stat` does not show
/// it). A file the host will not answer for (a path through a symlink) is archived as not
/// executable, with a warning.
pub fn is_executable(path: &Path) -> bool {
    sluice_plugin::workspace::is_executable(path).unwrap_or_else(|err| {
        sluice_plugin::warn!("{err}; archived as not executable (0644)");
        false
    })
}

fn walk(
    dir: &Path,
    relative: &str,
    prefix: &str,
    keep: &dyn Fn(&str) -> bool,
    out: &mut Vec<Entry>,
) -> Result<(), TaskError> {
    let failed =
        |path: &Path, err: std::io::Error| TaskError::failed(format!("reading {}: {err}", path.display()));
    let mut children: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| failed(dir, e))?
        .map(|entry| {
            let entry = entry.map_err(|e| failed(dir, e))?;
            Ok((entry.file_name().to_string_lossy().into_owned(), entry.path()))
        })
        .collect::<Result<_, TaskError>>()?;
    children.sort();
    for (name, path) in children {
        let relative = if relative.is_empty() { name } else { format!("{relative}/{name}") };
        let meta = std::fs::symlink_metadata(&path).map_err(|e| failed(&path, e))?;
        let mtime =
            meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
        let kept = keep(&relative);
        let name = format!("{prefix}{relative}");
        if meta.is_dir() {
            if kept {
                out.push(Entry { name, kind: Kind::Dir, mtime });
            }
            // Descend even into a left-out directory: a later `!` rule may bring files back.
            walk(&path, &relative, prefix, keep, out)?;
        } else if meta.is_symlink() {
            if kept {
                let target = std::fs::read_link(&path).map_err(|e| failed(&path, e))?;
                out.push(Entry { name, kind: Kind::Symlink(target.to_string_lossy().into_owned()), mtime });
            }
        } else if kept {
            let executable = is_executable(&path);
            out.push(Entry { name, kind: Kind::File { source: path, size: meta.len(), executable }, mtime });
        }
    }
    Ok(())
}
