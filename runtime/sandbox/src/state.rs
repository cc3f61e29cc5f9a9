//! The per-run host state behind a `Store`: the WASI and HTTP contexts, the resource table, and
//! each capability's state for the run (see `capabilities`, which builds it). A fresh one is
//! built for every run, so nothing crosses from one run to another.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::cleanup::AbortRequests;
use crate::capabilities::logs::LogPipe;
use crate::capabilities::network::NetworkPolicy;
use crate::capabilities::tcp::TcpPolicy;
use crate::capabilities::tls::OriginTrust;
use crate::capabilities::workspace::{DiskBudget, LazyDir};
use crate::limits::MemoryLimiter;

pub struct RunState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(crate) network: NetworkPolicy,
    /// The TLS trust the run set per origin (shared with `network`, which sends by it).
    pub(crate) tls: OriginTrust,
    pub(crate) log: LogPipe,
    /// The run's TCP grants and open connections (none granted until `for_task` sets them).
    pub(crate) tcp: TcpPolicy,
    pub(crate) limiter: MemoryLimiter,
    /// What the run may still add to its workspace.
    pub(crate) disk: Arc<DiskBudget>,
    /// The workspace, for the `workspace` interface (`None` in `describe`).
    pub(crate) workspace: Option<LazyDir>,
    /// What the `context` interface answers: the execution's JSON, redacted (`None` outside one).
    pub(crate) execution: Option<String>,
    /// The requests the run registered for the host to send if it ends without returning.
    pub(crate) cleanup: AbortRequests,
}

impl RunState {
    pub(crate) fn new(
        wasi: WasiCtx,
        network: NetworkPolicy,
        tls: OriginTrust,
        log: LogPipe,
        memory_bytes: usize,
    ) -> RunState {
        let tcp = TcpPolicy::new(Vec::new(), log.clone(), network.denied.clone());
        RunState {
            tcp,
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            network,
            tls,
            log,
            limiter: MemoryLimiter::new(memory_bytes),
            disk: DiskBudget::new(0),
            workspace: None,
            execution: None,
            cleanup: AbortRequests::default(),
        }
    }

    /// The run's resource table (the disk capability swaps file streams in it).
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
