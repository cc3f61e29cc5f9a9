//! The process-wide sandbox: one wasmtime `Engine` (component model, async, pooling allocator,
//! epoch interruption driven by a ticker thread), one `Linker`, the compiled-component cache and
//! the loaded plugins.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use crate::bindings::{self, PluginPre};
use crate::cache::{self, CompiledFrom, ComponentCache};
use crate::capabilities::docker::DockerEndpoint;
use crate::capabilities::logs::DiscardLogs;
use crate::error::LoadError;
use crate::plugin::{Digest, Plugin, convert_info};
use crate::state::RunState;

/// How the sandbox is set up; one per process.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Directory for compiled components; `None` compiles on every process start.
    pub cache_dir: Option<PathBuf>,
    /// Task runs (instances) alive at once; more wait for a free slot.
    pub max_concurrent_runs: u32,
    /// The largest memory limit any run may be given, in bytes.
    pub max_memory_bytes: usize,
    /// How often the epoch advances: the granularity of timeouts and of yielding to other tasks.
    pub epoch_tick: Duration,
    /// The Docker Engine that runs granted `docker` reach (default `unix:///var/run/docker.sock`).
    pub docker: DockerEndpoint,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            cache_dir: None,
            max_concurrent_runs: 1000,
            max_memory_bytes: 4 << 30,
            epoch_tick: Duration::from_millis(5),
            docker: DockerEndpoint::default(),
        }
    }
}

/// Core instances, memories and tables a single component may need: Rust components use one
/// or two of each; components made with componentize-py or -js use more.
const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 16;

/// Bytes of each memory and table slot kept resident between instances; measured with the
/// `instantiate_and_run_noop` and `concurrent` benches. With `PAGEMAP_SCAN` (Linux 6.7+) a
/// reused slot resets only the pages the last instance wrote, so the budget can cover what a
/// Rust guest touches (a 1 MiB stack below its data, then the heap): no `madvise`, no TLB
/// shootdown, no page faults on the next run. 4 MiB: 1,000 concurrent no-ops in 20 ms instead
/// of 73 ms (2 MiB: 34 ms). Without the ioctl, wasmtime would memset the whole budget, so it
/// falls back to the small one that was measured for plain memset.
const MEMORY_KEEP_RESIDENT: usize = 4 << 20;
const MEMORY_KEEP_RESIDENT_WITHOUT_PAGEMAP: usize = 128 << 10;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Runs sluice plugins. Cheap to share (`Arc`); all methods take `&self`.
pub struct Sandbox {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<RunState>,
    pub(crate) config: SandboxConfig,
    pub(crate) slots: Semaphore,
    pub(crate) docker: Arc<DockerEndpoint>,
    cache: Option<ComponentCache>,
    plugins: Mutex<HashMap<Digest, Arc<Plugin>>>,
    ticker: EpochTicker,
    pub(crate) stats: crate::stats::Stats,
    /// The most handles any one run may hold, whatever its limits say: the process's open-file
    /// limit, less a reserve for the host (its listener, connections, database), shared by the
    /// runs that may be alive at once, so runs at their limit cannot starve the host of
    /// descriptors. Never below [`MIN_HANDLES_PER_RUN`].
    pub(crate) handle_ceiling: usize,
}

impl Sandbox {
    /// Instantiation times of task runs so far, and runs waiting for a slot now.
    pub fn instantiation_stats(&self) -> crate::InstantiationStats {
        self.stats.snapshot()
    }

    /// Builds the engine and linker and starts the epoch ticker.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, LoadError> {
        let engine = Engine::new(&engine_config(&config)).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        crate::capabilities::link(&mut linker).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let cache = config.cache_dir.as_deref().map(|dir| ComponentCache::open(dir, &engine)).transpose()?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)
            .map_err(|e| LoadError::Engine(format!("could not start the epoch ticker thread: {e}")))?;
        Ok(Sandbox {
            handle_ceiling: handle_ceiling(raise_open_file_limit(), config.max_concurrent_runs),
            slots: Semaphore::new(config.max_concurrent_runs as usize),
            docker: Arc::new(config.docker.clone()),
            engine,
            linker,
            config,
            cache,
            plugins: Mutex::new(HashMap::new()),
            ticker,
            stats: crate::stats::Stats::default(),
        })
    }

    /// Loads a component: checks it is a sluice plugin, compiles it (or reads the cache),
    /// links it once and asks it to describe itself. Loading the same bytes again returns the
    /// same plugin without any work.
    pub async fn load(&self, wasm: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        check_header(wasm)?;
        let digest = Digest::of(wasm);
        if let Some(plugin) = self.plugins().get(&digest) {
            return Ok(plugin.clone());
        }
        let (component, compiled_from) = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, wasm, digest.hex())?,
            None => (cache::compile(&self.engine, wasm)?, CompiledFrom::Compiled),
        };
        let ty = component.component_type();
        if ty.get_export(&self.engine, bindings::TASK_INTERFACE_0_1).is_none() {
            let found: Vec<String> = ty.exports(&self.engine).map(|(name, _)| name.to_string()).collect();
            return Err(LoadError::UnsupportedAbi {
                expected: bindings::TASK_INTERFACE_0_1,
                found: if found.is_empty() { "nothing".into() } else { found.join(", ") },
            });
        }
        let instance_pre =
            self.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let raw_info = self.describe(&pre).await?;
        let (info, schemas) = convert_info(raw_info)?;
        let reads_context =
            ty.imports(&self.engine).any(|(name, _)| name.starts_with(bindings::CONTEXT_INTERFACE));
        let plugin =
            Arc::new(Plugin { digest: digest.clone(), info, pre, schemas, compiled_from, reads_context });
        Ok(self.plugins().entry(digest).or_insert(plugin).clone())
    }

    async fn describe(
        &self,
        pre: &PluginPre<RunState>,
    ) -> Result<bindings::exports::sluice::plugin::task::PluginInfo, LoadError> {
        // Only there to stop a plugin whose `describe` never returns. Generous: the built-in
        // plugins are loaded side by side, so on a busy machine one's describe waits for CPU
        // behind the others' compiles (10 s was passed so in CI, with nothing wrong).
        const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(60);
        const DESCRIBE_MEMORY: usize = 256 << 20;
        let _slot = self.slots.acquire().await.map_err(|e| LoadError::Describe(e.to_string()))?;
        let mut store = Store::new(
            &self.engine,
            crate::capabilities::for_describe(DESCRIBE_MEMORY, Arc::new(DiscardLogs)),
        );
        store.limiter(|s| &mut s.limiter);
        crate::run::arm_deadline(&mut store, DESCRIBE_TIMEOUT);
        let call = async {
            let plugin = pre.instantiate_async(&mut store).await?;
            plugin.sluice_plugin_task().call_describe(&mut store).await
        };
        match tokio::time::timeout(DESCRIBE_TIMEOUT, call).await {
            Ok(Ok(info)) => Ok(info),
            Ok(Err(err)) => Err(LoadError::Describe(format!("{err:#}"))),
            Err(_) => Err(LoadError::Describe(format!("did not return within {DESCRIBE_TIMEOUT:?}"))),
        }
    }

    /// The plugins loaded so far.
    pub fn loaded(&self) -> Vec<Arc<Plugin>> {
        self.plugins().values().cloned().collect()
    }

    fn plugins(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Arc<Plugin>>> {
        self.plugins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The engine's epoch tick.
    pub fn epoch_tick(&self) -> Duration {
        self.ticker.tick
    }
}

/// Descriptors kept for the host itself, whatever the runs hold.
const HOST_RESERVED_DESCRIPTORS: usize = 1024;

/// What any run may hold even when the process's limit is too low to share: more than any
/// first-party plugin needs (a clone or an image build holds a few dozen).
pub(crate) const MIN_HANDLES_PER_RUN: usize = 256;

fn handle_ceiling(open_file_limit: usize, max_concurrent_runs: u32) -> usize {
    let runs = usize::try_from(max_concurrent_runs.max(1)).unwrap_or(usize::MAX);
    let shared = open_file_limit.saturating_sub(HOST_RESERVED_DESCRIPTORS) / runs;
    if shared < MIN_HANDLES_PER_RUN {
        tracing::warn!(
            open_file_limit,
            max_concurrent_runs,
            "the open-file limit is too low for {max_concurrent_runs} runs of {MIN_HANDLES_PER_RUN} handles each beside the host's own {HOST_RESERVED_DESCRIPTORS}; raise it (ulimit -n, LimitNOFILE=) so runs at their handle limit cannot starve the server"
        );
    }
    shared.max(MIN_HANDLES_PER_RUN)
}

/// Raises the soft open-file limit to the hard one (the soft default, often 1,024, is far
/// below what a server running many tasks holds) and returns the limit now in force.
fn raise_open_file_limit() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    const UNLIMITED_AS: usize = 1 << 20;
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum.map_or(UNLIMITED_AS, |n| usize::try_from(n).unwrap_or(UNLIMITED_AS));
        }
    }
    limit.current.map_or(UNLIMITED_AS, |n| usize::try_from(n).unwrap_or(UNLIMITED_AS))
}

/// Refuses what is plainly not a component with a message that says what it is instead.
fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: &[u8] = &[1, 0, 0, 0];
    if !wasm.starts_with(MAGIC) {
        return Err(LoadError::InvalidComponent(
            "this is not a WebAssembly file (it does not start with `\\0asm`)".into(),
        ));
    }
    if wasm.get(4..8) == Some(CORE_MODULE) {
        return Err(LoadError::InvalidComponent(
            "this is a core WebAssembly module, not a component: build it for `wasm32-wasip2` (or wrap it with `wasm-tools component new`)".into(),
        ));
    }
    Ok(())
}

fn engine_config(config: &SandboxConfig) -> Config {
    let runs = config.max_concurrent_runs.max(1);
    let keep_resident = if PoolingAllocationConfig::is_pagemap_scan_available() {
        MEMORY_KEEP_RESIDENT
    } else {
        MEMORY_KEEP_RESIDENT_WITHOUT_PAGEMAP
    };
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(runs)
        .total_core_instances(runs.saturating_mul(4))
        .total_memories(runs.saturating_mul(2))
        .total_tables(runs.saturating_mul(4))
        .total_stacks(runs)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(config.max_memory_bytes)
        // Reset the first pages of a reused slot in place instead of handing them back to
        // the kernel: fewer page faults and TLB shootdowns when the next instance starts.
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    wasm
}

/// Advances the engine's epoch every tick until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    tick: Duration,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new().name("sluice-epoch".into()).spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker { stop, tick })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
