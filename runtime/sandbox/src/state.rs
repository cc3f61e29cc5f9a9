//! The per-run host state behind a `Store`: WASI context, HTTP policy, log pipe and limiter.
//! A fresh one is built for every run, so nothing crosses from one run to another.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::disk::DiskBudget;
use crate::grants::Grants;
use crate::http::NetworkPolicy;
use crate::limits::{Limits, MemoryLimiter};
use crate::logs::{LogPipe, LogSink, LogSource, StdioToLog};

/// Where the workspace appears inside the component (also its current directory).
pub const GUEST_WORKSPACE: &str = "/workspace";

pub struct RunState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(crate) network: NetworkPolicy,
    pub(crate) log: LogPipe,
    pub(crate) limiter: MemoryLimiter,
    /// What the run may still add to its workspace.
    pub(crate) disk: Arc<DiskBudget>,
    /// The workspace, for the `workspace` interface (`None` in `describe`).
    pub(crate) workspace: Option<LazyDir>,
}

/// A directory opened on first use: most tasks never call the `workspace` interface, and an
/// `open` per run was a measurable part of a wide fan-out's time.
pub(crate) struct LazyDir {
    path: PathBuf,
    dir: OnceCell<cap_std::fs::Dir>,
}

impl LazyDir {
    pub(crate) fn get(&self) -> std::io::Result<&cap_std::fs::Dir> {
        if let Some(dir) = self.dir.get() {
            return Ok(dir);
        }
        let dir = cap_std::fs::Dir::open_ambient_dir(&self.path, cap_std::ambient_authority())?;
        Ok(self.dir.get_or_init(|| dir))
    }
}

impl RunState {
    /// State for a task run: the workspace preopened read-write, granted env vars only, no
    /// sockets, HTTP only to granted origins, stdout and stderr into the log.
    pub(crate) fn for_task(
        workspace: &Path,
        grants: &Grants,
        docker: &Arc<crate::DockerEndpoint>,
        limits: &Limits,
        sink: Arc<dyn LogSink>,
    ) -> std::io::Result<RunState> {
        let log = LogPipe::new(sink, &grants.redact, limits.log_bytes);
        let mut wasi = WasiCtx::builder();
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
            .initial_cwd(GUEST_WORKSPACE)
            .envs(&grants.env)
            .stdout(StdioToLog::new(log.clone(), LogSource::Stdout))
            .stderr(StdioToLog::new(log.clone(), LogSource::Stderr));
        let mut network = NetworkPolicy::new(grants.network.clone(), log.clone());
        if grants.docker {
            network = network.with_docker(docker.clone());
        }
        let mut state = RunState::new(wasi.build(), network, log, limits.memory_bytes);
        state.table.set_max_capacity(limits.open_handles);
        state.disk = DiskBudget::new(limits.disk_bytes);
        state.workspace = Some(LazyDir { path: workspace.to_owned(), dir: OnceCell::new() });
        Ok(state)
    }

    /// State for `describe`: no directory, no env, no network.
    pub(crate) fn for_describe(memory_bytes: usize, sink: Arc<dyn LogSink>) -> RunState {
        let log = LogPipe::new(sink, &[], 64 << 10);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(StdioToLog::new(log.clone(), LogSource::Stdout))
            .stderr(StdioToLog::new(log.clone(), LogSource::Stderr));
        let mut state =
            RunState::new(wasi.build(), NetworkPolicy::new(Vec::new(), log.clone()), log, memory_bytes);
        state.table.set_max_capacity(Limits::default().open_handles);
        state
    }

    fn new(wasi: WasiCtx, network: NetworkPolicy, log: LogPipe, memory_bytes: usize) -> RunState {
        RunState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            network,
            log,
            limiter: MemoryLimiter::new(memory_bytes),
            disk: DiskBudget::new(0),
            workspace: None,
        }
    }

    /// The run's resource table (the disk module swaps file streams in it).
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.network }
    }
}
