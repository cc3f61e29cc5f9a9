//! The `workspace` host interface: what WASI 0.2 cannot do to files in a run's workspace (today,
//! setting the executable bit). Everything goes through a cap-std handle on the workspace, so no
//! path a component passes can reach outside it; symlinks are refused, never followed.

use std::path::Path;

use cap_std::fs::{Dir, PermissionsExt};

use crate::bindings::sluice::plugin::workspace;
use crate::logs::LogLevel;
use crate::state::{GUEST_WORKSPACE, RunState};

/// The executable bits `chmod +x` sets under a `022` umask: u+x, g+x, o+x.
const EXECUTABLE_BITS: u32 = 0o111;

impl workspace::Host for RunState {
    fn set_executable(&mut self, path: String, executable: bool) -> Result<(), String> {
        let result = match &self.workspace {
            Some(dir) => set_executable(dir, &path, executable),
            None => Err("there is no workspace outside a task run".to_string()),
        };
        if let Err(reason) = &result {
            self.log.host(LogLevel::Error, format!("refused: set-executable {path:?}: {reason}"));
        }
        result
    }
}

/// The path's components below the workspace root, `.` and `..` resolved by name (a component
/// that is a symlink is refused later, so resolving by name is what the kernel would do);
/// `None` when the path leaves the workspace.
fn components_inside(path: &str) -> Option<Vec<&str>> {
    let relative = match path.strip_prefix(GUEST_WORKSPACE) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ if path.starts_with('/') => return None,
        _ => path,
    };
    let mut components = Vec::new();
    for component in relative.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop()?;
            }
            name => components.push(name),
        }
    }
    Some(components)
}

/// Sets or clears the executable bits of the regular file at `path` in `workspace`.
fn set_executable(workspace: &Dir, path: &str, executable: bool) -> Result<(), String> {
    let components = components_inside(path)
        .ok_or_else(|| format!("the path leaves the workspace ({GUEST_WORKSPACE})"))?;
    let Some((name, parents)) = components.split_last() else {
        return Err("the workspace itself is a directory, not a regular file".into());
    };
    // Walk down one directory at a time, refusing symlinks. cap-std confines every step to the
    // directory it starts from, so even a symlink swapped in meanwhile cannot lead outside.
    let mut dir: Option<Dir> = None;
    let mut walked = String::new();
    for parent in parents {
        walked = if walked.is_empty() { parent.to_string() } else { format!("{walked}/{parent}") };
        let current = dir.as_ref().unwrap_or(workspace);
        let meta = current.symlink_metadata(parent).map_err(|e| format!("{walked}: {e}"))?;
        if meta.file_type().is_symlink() {
            return Err(format!("{walked} is a symlink; symlinks are not followed"));
        }
        if !meta.is_dir() {
            return Err(format!("{walked} is not a directory"));
        }
        dir = Some(current.open_dir(parent).map_err(|e| format!("{walked}: {e}"))?);
    }
    let parent = dir.as_ref().unwrap_or(workspace);
    let meta = parent.symlink_metadata(name).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err("it is a symlink; symlinks are not followed".into());
    }
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = if executable { mode | EXECUTABLE_BITS } else { mode & !EXECUTABLE_BITS };
    if wanted != mode {
        parent
            .set_permissions(Path::new(name), cap_std::fs::Permissions::from_mode(wanted))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::components_inside;

    #[test]
    fn paths_are_resolved_inside_the_workspace() {
        assert_eq!(components_inside("a/b"), Some(vec!["a", "b"]));
        assert_eq!(components_inside("./a//b/"), Some(vec!["a", "b"]));
        assert_eq!(components_inside("/workspace/a"), Some(vec!["a"]));
        assert_eq!(components_inside("/workspace"), Some(vec![]));
        assert_eq!(components_inside("a/../b"), Some(vec!["b"]));
        assert_eq!(components_inside("../escape"), None);
        assert_eq!(components_inside("a/../../escape"), None);
        assert_eq!(components_inside("/workspace/../etc/passwd"), None);
        assert_eq!(components_inside("/workspacex/a"), None);
        assert_eq!(components_inside("/etc/passwd"), None);
    }
}
