//! The `workspace` host interface: what WASI 0.2 cannot do with files in a run's workspace (set
//! and read the executable bit). Everything goes through a cap-std handle on the workspace, so no
//! path a component passes can reach outside it; symlinks are refused, never followed.

use std::path::Path;

use cap_std::fs::{Dir, PermissionsExt};

use super::GUEST_WORKSPACE;
use crate::bindings::sluice::plugin::workspace;
use crate::capabilities::logs::LogLevel;
use crate::state::RunState;

/// The executable bits `chmod +x` sets under a `022` umask: u+x, g+x, o+x.
const EXECUTABLE_BITS: u32 = 0o111;
/// What `is-executable` reads: u+x, the bit git looks at.
const OWNER_EXECUTABLE: u32 = 0o100;

impl workspace::Host for RunState {
    fn set_executable(&mut self, path: String, executable: bool) -> Result<(), String> {
        let file = self.regular_file(&path, "set-executable")?;
        let mode = file.mode();
        let wanted = if executable { mode | EXECUTABLE_BITS } else { mode & !EXECUTABLE_BITS };
        if wanted == mode {
            return Ok(());
        }
        let permissions = cap_std::fs::Permissions::from_mode(wanted);
        file.parent().set_permissions(Path::new(&file.name), permissions).map_err(|e| {
            let reason = e.to_string();
            self.log.host(LogLevel::Error, format!("set-executable {path:?}: {reason}"));
            reason
        })
    }

    fn is_executable(&mut self, path: String) -> Result<bool, String> {
        Ok(self.regular_file(&path, "is-executable")?.mode() & OWNER_EXECUTABLE != 0)
    }
}

impl RunState {
    /// The regular file at `path` of the workspace; a refusal is logged with `call`.
    fn regular_file(&self, path: &str, call: &str) -> Result<RegularFile<'_>, String> {
        let result = match &self.workspace {
            Some(lazy) => match lazy.get() {
                Ok(dir) => regular_file(dir, path),
                Err(e) => Err(format!("cannot open the workspace: {e}")),
            },
            None => Err("there is no workspace outside a task run".to_string()),
        };
        if let Err(reason) = &result {
            self.log.host(LogLevel::Error, format!("refused: {call} {path:?}: {reason}"));
        }
        result
    }
}

/// A regular file found without following symlinks: its directory, name and metadata.
struct RegularFile<'a> {
    workspace: &'a Dir,
    /// The directory holding it, `None` for the workspace itself.
    dir: Option<Dir>,
    name: String,
    metadata: cap_std::fs::Metadata,
}

impl RegularFile<'_> {
    fn parent(&self) -> &Dir {
        self.dir.as_ref().unwrap_or(self.workspace)
    }

    fn mode(&self) -> u32 {
        self.metadata.permissions().mode() & 0o7777
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

/// The regular file at `path` in `workspace`, refusing paths that leave it, symlinks anywhere
/// on the way, and anything that is not a regular file.
fn regular_file<'a>(workspace: &'a Dir, path: &str) -> Result<RegularFile<'a>, String> {
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
    let metadata = dir.as_ref().unwrap_or(workspace).symlink_metadata(name).map_err(|e| e.to_string())?;
    if metadata.file_type().is_symlink() {
        return Err("it is a symlink; symlinks are not followed".into());
    }
    if !metadata.is_file() {
        return Err("it is not a regular file".into());
    }
    Ok(RegularFile { workspace, dir, name: name.to_string(), metadata })
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
