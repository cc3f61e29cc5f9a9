//! Submodules: read `.gitmodules` and clone each submodule at the commit the tree records.
//! Each submodule's origin must be granted like any other (the host refuses it otherwise).

use std::path::Path;

use sluice_plugin::TaskError;

use crate::clone::{CloneConfig, Cloned, Selector, clone_into};
use crate::object::{self, Kind};
use crate::remote::Remote;

/// `path -> url` pairs of a `.gitmodules` file.
pub fn parse_gitmodules(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut path, mut url) = (None::<String>, None::<String>);
    let mut flush = |path: &mut Option<String>, url: &mut Option<String>| {
        if let (Some(p), Some(u)) = (path.take(), url.take()) {
            out.push((p, u));
        }
    };
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            flush(&mut path, &mut url);
        } else if let Some((key, value)) = line.split_once('=') {
            match key.trim() {
                "path" => path = Some(value.trim().to_string()),
                "url" => url = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    flush(&mut path, &mut url);
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

/// Clone every submodule of `parent` (checked out in `dir`).
pub fn clone_all(
    remote: &Remote,
    parent: &Cloned,
    dir: &Path,
    depth: u32,
    config: &CloneConfig,
) -> Result<(), TaskError> {
    let tree = object::parse_tree(&object::get(&parent.objects, parent.tree, Kind::Tree)?.data, parent.tree)?;
    let modules = tree
        .iter()
        .find(|e| e.name == ".gitmodules")
        .and_then(|e| parent.objects.get(&e.oid))
        .map(|o| parse_gitmodules(&String::from_utf8_lossy(&o.data)))
        .unwrap_or_default();
    for (path, commit) in &parent.summary.submodules {
        let url = modules
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, u)| resolve_url(&remote.url, u))
            .ok_or_else(|| TaskError::failed(format!("submodule {path} has no url in .gitmodules")))?;
        let sub = Remote::new(&url, None, None)?;
        // Credentials go only to the origin they were given for.
        let sub = if sub.origin == remote.origin {
            Remote::new(&url, config.username.as_deref(), config.password.as_deref())?
        } else {
            sub
        };
        // Keep the kind (a refused origin stays `denied`), name the submodule.
        let cloned = clone_into(&sub, &Selector::Commit(*commit), depth, &dir.join(path)).map_err(|e| {
            let message = format!("submodule {path} ({url}): {}", e.message());
            match e {
                TaskError::Denied(_) => TaskError::denied(message),
                TaskError::InvalidConfig(_) => TaskError::invalid_config(message),
                TaskError::Failed(_) => TaskError::failed(message),
            }
        })?;
        sluice_plugin::info!("submodule {path}: cloned {url} at {}", cloned.commit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gitmodules_and_relative_urls() {
        let text = "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n";
        assert_eq!(parse_gitmodules(text), [("vendor/lib".to_string(), "../lib.git".to_string())]);
        assert_eq!(resolve_url("http://h/a/app.git", "../lib.git"), "http://h/a/lib.git");
        assert_eq!(resolve_url("http://h/a/app.git", "https://x/y.git"), "https://x/y.git");
    }
}
