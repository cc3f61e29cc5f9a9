//! Checkout: write a commit's tree into the workspace. Regular files and empty directories as
//! they are, `100755` files made executable through the host (WASI cannot); symlinks as symlinks when they resolve inside the checkout (also through other
//! symlinks of the tree), else as a regular file holding the target, so that nothing written
//! here can lead a later task out of its directory. Nothing is ever written through a symlink.

use std::collections::HashMap;
use std::path::Path;

use sluice_plugin::TaskError;

use crate::fsio::Workspace;
use crate::object::{self, Kind, MODE_EXECUTABLE, MODE_FILE, MODE_GITLINK, MODE_SYMLINK, MODE_TREE, Objects};
use crate::oid::Oid;

/// A file of the checkout, as the index records it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `/`-separated, relative to the checkout directory.
    pub path: String,
    pub mode: u32,
    pub oid: Oid,
    pub size: u32,
}

/// How a checkout went.
#[derive(Default)]
pub struct Summary {
    pub entries: Vec<Entry>,
    pub files: usize,
    pub symlinks: usize,
    /// Symlinks written as regular files because they pointed outside.
    pub unsafe_symlinks: Vec<String>,
    pub submodules: Vec<(String, Oid)>,
}

/// Every blob (and gitlink) under `tree`, depth-first, with `/`-joined paths; also the
/// directories, so empty ones are created.
pub fn flatten(objects: &Objects, tree: Oid) -> Result<(Vec<String>, Vec<Entry>), TaskError> {
    let mut dirs = Vec::new();
    let mut entries = Vec::new();
    let mut stack = vec![(String::new(), tree)];
    while let Some((prefix, oid)) = stack.pop() {
        let data = &object::get(objects, oid, Kind::Tree)?.data;
        for entry in object::parse_tree(data, oid)? {
            let path =
                if prefix.is_empty() { entry.name.clone() } else { format!("{prefix}/{}", entry.name) };
            match entry.mode {
                MODE_TREE => {
                    dirs.push(path.clone());
                    stack.push((path, entry.oid));
                }
                MODE_GITLINK => entries.push(Entry { path, mode: MODE_GITLINK, oid: entry.oid, size: 0 }),
                mode => {
                    let blob = object::get(objects, entry.oid, Kind::Blob)?;
                    entries.push(Entry { path, mode, oid: entry.oid, size: blob.data.len() as u32 });
                }
            }
        }
    }
    Ok((dirs, entries))
}

/// Write the tree of `commit` into `dir` (which exists and is empty).
pub fn checkout(objects: &Objects, tree: Oid, dir: &Path) -> Result<Summary, TaskError> {
    let (dirs, entries) = flatten(objects, tree)?;
    let io = |what: &str, path: &str, err: std::io::Error| {
        TaskError::failed(format!("cannot {what} {path}: {err}"))
    };
    let fs = Workspace::open()?;
    // Parents come before children in `dirs` (depth-first from the root).
    for d in &dirs {
        fs.create_dir(&dir.join(d)).map_err(|e| io("create directory", d, e))?;
    }
    let links: HashMap<&str, String> = entries
        .iter()
        .filter(|e| e.mode == MODE_SYMLINK)
        .filter_map(|e| {
            objects.get(&e.oid).map(|o| (e.path.as_str(), String::from_utf8_lossy(&o.data).into_owned()))
        })
        .collect();
    let mut summary = Summary::default();
    for entry in &entries {
        let target = dir.join(&entry.path);
        match entry.mode {
            MODE_GITLINK => {
                fs.create_dir(&target).map_err(|e| io("create directory", &entry.path, e))?;
                summary.submodules.push((entry.path.clone(), entry.oid));
            }
            MODE_SYMLINK => {
                let link = links.get(entry.path.as_str()).cloned().unwrap_or_default();
                let parent: Vec<String> = entry.path.split('/').map(str::to_string).collect();
                let parent = parent[..parent.len() - 1].to_vec();
                if !link.contains('\0') && resolve(parent, &link, &links, &mut 40).is_some() {
                    fs.symlink(&link, &target).map_err(|e| io("create symlink", &entry.path, e))?;
                    summary.symlinks += 1;
                } else {
                    fs.write_new(&target, link.as_bytes()).map_err(|e| io("write", &entry.path, e))?;
                    summary.unsafe_symlinks.push(entry.path.clone());
                }
            }
            MODE_FILE | MODE_EXECUTABLE => {
                let data = &object::get(objects, entry.oid, Kind::Blob)?.data;
                fs.write_new(&target, data).map_err(|e| io("write", &entry.path, e))?;
                if entry.mode == MODE_EXECUTABLE {
                    fs.set_executable(&target).map_err(|e| io("make executable", &entry.path, e))?;
                }
                summary.files += 1;
            }
            other => return Err(TaskError::failed(format!("{} has unknown mode {other:o}", entry.path))),
        }
    }
    summary.entries = entries;
    Ok(summary)
}

/// Where `target`, read from a symlink in directory `dir` (components from the checkout root),
/// leads; `None` when it leaves the checkout (absolute, or `..` past the root, also through other
/// symlinks of the tree) or loops.
pub fn resolve(
    mut dir: Vec<String>,
    target: &str,
    links: &HashMap<&str, String>,
    budget: &mut u32,
) -> Option<Vec<String>> {
    if target.starts_with('/') || target.contains('\\') || target.contains(':') {
        return None;
    }
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                dir.pop()?;
            }
            name => {
                dir.push(name.to_string());
                if let Some(next) = links.get(dir.join("/").as_str()) {
                    *budget = budget.checked_sub(1)?;
                    dir.pop();
                    dir = resolve(dir, next, links, budget)?;
                }
            }
        }
    }
    Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(dir: &[&str], target: &str, links: &[(&str, &str)]) -> Option<String> {
        let links: HashMap<&str, String> = links.iter().map(|(k, v)| (*k, v.to_string())).collect();
        resolve(dir.iter().map(|s| s.to_string()).collect(), target, &links, &mut 40).map(|p| p.join("/"))
    }

    #[test]
    fn symlinks_stay_inside() {
        assert_eq!(check(&["a"], "../b", &[]), Some("b".into()));
        assert_eq!(check(&["a"], "../../b", &[]), None);
        assert_eq!(check(&[], "/etc/passwd", &[]), None);
        // `up` points at the root, so `up/../x` climbs out even though it looks inside.
        assert_eq!(check(&[], "up/../x", &[("up", ".")]), None);
        assert_eq!(check(&["d"], "deep/../x", &[("d/deep", "e/f")]), Some("d/e/x".into()));
        assert_eq!(check(&[], "loop", &[("loop", "loop")]), None);
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn executable_blobs_are_written_executable() {
        use std::os::unix::fs::PermissionsExt;

        use crate::object::{Object, TreeEntry, encode_tree};

        let mut objects = Objects::new();
        let mut blob = |data: &[u8]| {
            let oid = Oid::of_object("blob", data);
            objects.insert(oid, Object { kind: Kind::Blob, data: data.to_vec() });
            oid
        };
        let mut entries = vec![
            TreeEntry { mode: MODE_EXECUTABLE, name: "run.sh".into(), oid: blob(b"#!/bin/sh\n") },
            TreeEntry { mode: MODE_FILE, name: "notes.txt".into(), oid: blob(b"notes\n") },
        ];
        let tree_data = encode_tree(&mut entries);
        let tree = Oid::of_object("tree", &tree_data);
        objects.insert(tree, Object { kind: Kind::Tree, data: tree_data });

        let dir = std::env::temp_dir().join(format!("sluice-git-checkout-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let summary = checkout(&objects, tree, &dir);
        let mode = |name: &str| std::fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o111;
        let (run, notes) = (mode("run.sh"), mode("notes.txt"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(summary.unwrap().files, 2);
        assert_eq!((run, notes), (0o111, 0));
    }
}
