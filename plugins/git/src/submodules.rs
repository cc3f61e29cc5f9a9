//! Submodules: read `.gitmodules` and clone each submodule at the commit the tree records, and
//! the submodules of those, down to [`MAX_NESTING`] levels. Each submodule's origin must be
//! granted like any other (the host refuses it otherwise).

use std::path::Path;

use sluice_plugin::TaskError;

use crate::clone::{CloneConfig, Cloned, Selector, clone_into};
use crate::gitdir;
use crate::object::{self, Kind};
use crate::remote::Remote;

/// How deep submodules of submodules go (a repository that contains itself would never end).
pub const MAX_NESTING: usize = 8;

/// One `[submodule "<name>"]` section of a `.gitmodules` file.
#[derive(Debug, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    pub path: String,
    pub url: String,
}

/// The submodules a `.gitmodules` file names (those with both a path and a url).
pub fn parse_gitmodules(text: &str) -> Vec<Module> {
    let mut out = Vec::new();
    let (mut name, mut path, mut url) = (None::<String>, None::<String>, None::<String>);
    let mut flush = |name: &Option<String>, path: &mut Option<String>, url: &mut Option<String>| {
        if let (Some(name), Some(path), Some(url)) = (name, path.take(), url.take()) {
            out.push(Module { name: name.clone(), path, url });
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            flush(&name, &mut path, &mut url);
            let header = header.trim_end_matches(']').trim();
            name = header.strip_prefix("submodule").map(|n| n.trim().trim_matches('"').to_string());
        } else if let Some((key, value)) = line.split_once('=') {
            match key.trim() {
                "path" => path = Some(value.trim().to_string()),
                "url" => url = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    flush(&name, &mut path, &mut url);
    out
}

/// Resolve a submodule URL relative to the superproject's (`../lib.git`).
pub fn resolve_url(base: &str, url: &str) -> String {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return url.to_string();
    }
    let mut base = base.trim_end_matches('/').to_string();
    let mut rest = url;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            if let Some(i) = base.rfind('/') {
                base.truncate(i);
            }
            rest = r;
        } else {
            break;
        }
    }
    format!("{base}/{rest}")
}

/// Clone every submodule of `top` (the clone of `remote`, checked out in `dir`), recursively.
pub fn clone_all(
    remote: &Remote,
    top: &Cloned,
    dir: &Path,
    depth: u32,
    config: &CloneConfig,
) -> Result<(), TaskError> {
    clone_level(remote, &remote.origin, top, dir, "", depth, config, 1)
}

/// The submodules of `parent` (cloned from `remote` into `dir`, which is `prefix` in the top
/// checkout); `level` counts from 1 for the top repository's own submodules.
#[allow(clippy::too_many_arguments)]
fn clone_level(
    remote: &Remote,
    top_origin: &str,
    parent: &Cloned,
    dir: &Path,
    prefix: &str,
    depth: u32,
    config: &CloneConfig,
    level: usize,
) -> Result<(), TaskError> {
    if parent.summary.submodules.is_empty() {
        return Ok(());
    }
    let tree = object::parse_tree(&object::get(&parent.objects, parent.tree, Kind::Tree)?.data, parent.tree)?;
    let modules = tree
        .iter()
        .find(|e| e.name == ".gitmodules")
        .and_then(|e| parent.objects.get(&e.oid))
        .map(|o| parse_gitmodules(&String::from_utf8_lossy(&o.data)))
        .unwrap_or_default();
    for (path, commit) in &parent.summary.submodules {
        let shown = format!("{prefix}{path}");
        if level > MAX_NESTING {
            return Err(TaskError::failed(format!(
                "submodule {shown} is nested more than {MAX_NESTING} levels deep; refusing to go on (does a repository contain itself?)"
            )));
        }
        let module = modules
            .iter()
            .find(|m| m.path == *path)
            .ok_or_else(|| TaskError::failed(format!("submodule {shown} has no url in .gitmodules")))?;
        let url = resolve_url(&remote.url, &module.url);
        let sub = Remote::new(&url, None, None)?;
        // Credentials go only to the origin they were given for.
        let sub = if sub.origin == top_origin {
            Remote::new(&url, config.username.as_deref(), config.password.as_deref())?
        } else {
            sub
        };
        // Keep the kind (a refused origin stays `denied`), name the submodule.
        let named = |e: TaskError| {
            let message = format!("submodule {shown} ({url}): {}", e.message());
            match e {
                TaskError::Denied(_) => TaskError::denied(message),
                TaskError::InvalidConfig(_) => TaskError::invalid_config(message),
                TaskError::Failed(_) => TaskError::failed(message),
            }
        };
        let sub_dir = dir.join(path);
        let cloned = clone_into(&sub, &Selector::Commit(*commit), depth, &sub_dir).map_err(named)?;
        // As `git submodule init` records it, so `git submodule status/update` know it.
        gitdir::add_submodule(&dir.join(".git"), &module.name, &url)?;
        sluice_plugin::info!("submodule {shown}: cloned {url} at {}", cloned.commit);
        clone_level(&sub, top_origin, &cloned, &sub_dir, &format!("{shown}/"), depth, config, level + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gitmodules_and_relative_urls() {
        let text = "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n";
        let module = |name: &str, path: &str, url: &str| Module {
            name: name.to_string(),
            path: path.to_string(),
            url: url.to_string(),
        };
        assert_eq!(parse_gitmodules(text), [module("lib", "vendor/lib", "../lib.git")]);
        let two = "[submodule \"a\"]\n\turl = http://h/a.git\n\tpath = a\n[core]\n\tpath = no\n[submodule \"b c\"]\n\tpath = b\n\turl = ./b.git\n";
        assert_eq!(
            parse_gitmodules(two),
            [module("a", "a", "http://h/a.git"), module("b c", "b", "./b.git")]
        );
        assert_eq!(resolve_url("http://h/a/app.git", "../lib.git"), "http://h/a/lib.git");
        assert_eq!(resolve_url("http://h/a/app.git", "https://x/y.git"), "https://x/y.git");
    }
}
