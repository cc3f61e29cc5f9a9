//! The task's workspace directory, and what WASI 0.2 cannot do with its files (set and read the
//! executable bit), through the host's `workspace` interface.

use std::io;
use std::path::Path;

/// Where the host mounts the task's workspace, which is also the current directory.
pub const WORKSPACE: &str = "/workspace";

/// The task's workspace: the only directory the host preopens, also the current directory.
///
/// Use plain `std::fs` on it; relative paths resolve against it too. Nothing outside it exists
/// for the task, and files written there are what later tasks of the flow see.
pub fn workspace() -> &'static Path {
    Path::new(WORKSPACE)
}

/// Makes the regular file at `path` executable (`chmod +x`: `0644` becomes `0755`), or not
/// (`chmod -x`), so a later step can run it. WASI 0.2 has no call for this; the host does it.
///
/// `path` is relative to the workspace (the current directory) or absolute under
/// [`WORKSPACE`]. The host refuses, with an error saying why, a path that leaves the
/// workspace, goes through a symlink or is not a regular file. `?` turns the error into
/// [`TaskError::Failed`](crate::TaskError::Failed).
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// std::fs::write("build.sh", "#!/bin/sh\necho built\n")?;
/// sluice_plugin::workspace::set_executable("build.sh".as_ref(), true)?;
/// # Ok(())
/// # }
/// ```
///
/// Outside a component (host unit tests of a plugin) it sets the mode with `std::fs`.
pub fn set_executable(path: &Path, executable: bool) -> io::Result<()> {
    let text = utf8(path)?;
    set_executable_impl(text, executable)
        .map_err(|reason| io::Error::other(format!("cannot set the executable bit of {text}: {reason}")))
}

/// Whether the regular file at `path` is executable by its owner (u+x), which WASI's `stat`
/// does not show. Paths and refusals as in [`set_executable`].
pub fn is_executable(path: &Path) -> io::Result<bool> {
    let text = utf8(path)?;
    is_executable_impl(text)
        .map_err(|reason| io::Error::other(format!("cannot read the executable bit of {text}: {reason}")))
}

fn utf8(path: &Path) -> io::Result<&str> {
    path.to_str().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not UTF-8", path.display()))
    })
}

#[cfg(target_os = "wasi")]
fn is_executable_impl(path: &str) -> Result<bool, String> {
    crate::bindings::sluice::plugin::workspace::is_executable(path)
}

#[cfg(all(not(target_os = "wasi"), unix))]
fn is_executable_impl(path: &str) -> Result<bool, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    Ok(meta.permissions().mode() & 0o100 != 0)
}

#[cfg(all(not(target_os = "wasi"), not(unix)))]
fn is_executable_impl(_path: &str) -> Result<bool, String> {
    Err("not supported on this platform".into())
}

#[cfg(target_os = "wasi")]
fn set_executable_impl(path: &str, executable: bool) -> Result<(), String> {
    crate::bindings::sluice::plugin::workspace::set_executable(path, executable)
}

#[cfg(all(not(target_os = "wasi"), unix))]
fn set_executable_impl(path: &str, executable: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let mode = if executable { mode | 0o111 } else { mode & !0o111 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

#[cfg(all(not(target_os = "wasi"), not(unix)))]
fn set_executable_impl(_path: &str, _executable: bool) -> Result<(), String> {
    Err("not supported on this platform".into())
}
