//! The task's workspace directory.

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
