//! The filesystem capability: a run's workspace, preopened read-write as `/workspace` (and `.`,
//! its current directory), the `workspace` host interface for what WASI 0.2 cannot do there
//! (`exec_bit`), and the limit on what a run may add to it (`disk`). No other path exists for a
//! component.

mod disk;
mod exec_bit;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

pub(crate) use disk::DiskBudget;

use crate::bindings::sluice::plugin::workspace;
use crate::state::RunState;

/// Where the workspace appears inside the component (also its current directory).
pub const GUEST_WORKSPACE: &str = "/workspace";

/// Links the `workspace` interface and the metered file writes.
pub(crate) fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    workspace::add_to_linker::<RunState, HasSelf<RunState>>(linker, |s| s)?;
    disk::add_to_linker(linker)
}

/// Preopens `workspace` for the run.
pub(crate) fn grant(wasi: &mut WasiCtxBuilder, workspace: &Path) -> std::io::Result<()> {
    let preopen_error = |e: wasmtime::Error| std::io::Error::other(format!("{e:#}"));
    // Also preopened as `.`: wasi-libc resolves relative paths against a `.` preopen, so
    // `std::fs::read("file")` works in every guest language without a chdir.
    // Workspace I/O runs on the calling thread instead of a `spawn_blocking` hop per call:
    // listing a 1,000-file build context (a stat per file) took 143 ms with the hop and
    // 21 ms without. Calls are single local file operations, bounded by the guest's buffers.
    wasi.allow_blocking_current_thread(true);
    wasi.preopened_dir(workspace, GUEST_WORKSPACE, FsPerms::ReadWrite)
        .map_err(preopen_error)?
        .preopened_dir(workspace, ".", FsPerms::ReadWrite)
        .map_err(preopen_error)?
        .initial_cwd(GUEST_WORKSPACE);
    Ok(())
}

/// A directory opened on first use: most tasks never call the `workspace` interface, and an
/// `open` per run was a measurable part of a wide fan-out's time.
pub(crate) struct LazyDir {
    path: PathBuf,
    dir: OnceCell<cap_std::fs::Dir>,
}

impl LazyDir {
    pub(crate) fn new(path: &Path) -> LazyDir {
        LazyDir { path: path.to_owned(), dir: OnceCell::new() }
    }

    pub(crate) fn get(&self) -> std::io::Result<&cap_std::fs::Dir> {
        if let Some(dir) = self.dir.get() {
            return Ok(dir);
        }
        let dir = cap_std::fs::Dir::open_ambient_dir(&self.path, cap_std::ambient_authority())?;
        Ok(self.dir.get_or_init(|| dir))
    }
}
