//! One task run: a fresh store and instance, the limits armed, the component's verdict (or the
//! host's) turned into a [`RunReport`].

use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTableError;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::bindings::exports::sluice::plugin::task::TaskError;
use crate::capabilities::Grants;
use crate::capabilities::cleanup::OnAbort;
use crate::capabilities::docker::DockerSession;
use crate::capabilities::logs::{LogLevel, LogSink};
use crate::error::RunError;
use crate::limits::Limits;
use crate::plugin::Plugin;
use crate::sandbox::Sandbox;
use crate::state::RunState;

/// What to run and with what.
pub struct RunRequest<'a> {
    /// The task's name within the plugin (`http` for `core.http`).
    pub task: &'a str,
    /// The task's config, a JSON object; checked against the task's schema before the run.
    pub config: &'a serde_json::Value,
    /// The capabilities granted.
    pub grants: &'a Grants,
    /// The limits of this run.
    pub limits: Limits,
    /// The directory the component sees as `/workspace`; must exist.
    pub workspace: &'a Path,
    /// Receives the log lines as they happen.
    pub logs: Arc<dyn LogSink>,
    /// The execution the run belongs to, as the `context` interface gives it (a JSON object;
    /// the run's secrets are redacted from it), or None outside an execution.
    pub execution: Option<&'a serde_json::Value>,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunReport {
    /// The outputs (a JSON object), or why there are none.
    pub outcome: Result<serde_json::Value, RunError>,
    /// Wall time from the start of instantiation to the verdict.
    pub duration: Duration,
    /// Whether log lines were dropped because the log limit was reached.
    pub log_truncated: bool,
    /// Origins the component tried to reach without a grant.
    pub denied: Vec<String>,
}

/// Marks a trap raised by our epoch callback when the run's deadline passed.
#[derive(Debug)]
struct DeadlineReached;

impl std::fmt::Display for DeadlineReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the run's deadline passed")
    }
}

impl std::error::Error for DeadlineReached {}

/// Makes wasm code yield to the async executor at every epoch tick (so concurrent runs share
/// the threads fairly and the async timeout can fire) and trap once `timeout` has passed.
pub(crate) fn arm_deadline(store: &mut Store<RunState>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlineReached))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
}

impl Sandbox {
    /// Runs one task in a fresh instance. Never panics and never fails the host: every way the
    /// component can misbehave ends as a [`RunError`] in the report.
    pub async fn run(&self, plugin: &Plugin, request: RunRequest<'_>) -> RunReport {
        let started = Instant::now();
        let mut denied = Vec::new();
        let mut log_truncated = false;
        let outcome = self.run_inner(plugin, &request, &mut denied, &mut log_truncated).await;
        RunReport { outcome, duration: started.elapsed(), log_truncated, denied }
    }

    async fn run_inner(
        &self,
        plugin: &Plugin,
        request: &RunRequest<'_>,
        denied: &mut Vec<String>,
        log_truncated: &mut bool,
    ) -> Result<serde_json::Value, RunError> {
        let mut limits = request.limits;
        limits.open_handles = limits.open_handles.min(self.handle_ceiling);
        if limits.memory_bytes > self.config.max_memory_bytes {
            return Err(RunError::Host(format!(
                "the memory limit of {} bytes exceeds the sandbox's maximum of {} bytes",
                limits.memory_bytes, self.config.max_memory_bytes
            )));
        }
        let schemas = plugin.task_schemas(request.task)?;
        schemas.config.check(request.config).map_err(RunError::InvalidConfig)?;
        let config =
            serde_json::to_string(request.config).map_err(|e| RunError::InvalidConfig(e.to_string()))?;

        let state = crate::capabilities::for_task(
            request.workspace,
            request.grants,
            request.execution,
            &self.docker,
            &limits,
            request.logs.clone(),
        )
        .map_err(|e| RunError::Workspace {
            path: request.workspace.display().to_string(),
            message: e.to_string(),
        })?;
        // Armed before the run starts, so the run's containers are removed however it ends,
        // also when this future is dropped (the execution was killed).
        let mut leftovers = Leftovers(state.network.docker.clone());
        // Likewise the requests the component registers to be sent if it does not return.
        let on_abort = OnAbort::arm(&state);
        let slot = {
            let _waiting = self.stats.waiting_for_slot();
            self.slots.acquire().await
        };
        let _slot = slot.map_err(|e| RunError::Host(e.to_string()))?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // The most one call copies from the guest: outputs within their limit must fit.
        store.set_hostcall_fuel(outputs_fuel(limits));
        arm_deadline(&mut store, limits.timeout);

        let stats = &self.stats;
        let call = async {
            let started = std::time::Instant::now();
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            stats.instantiated(started.elapsed());
            instance.sluice_plugin_task().call_run(&mut store, request.task, &config).await
        };
        // The epoch callback stops wasm code at the deadline; this stops a run that is blocked
        // in a host call (a hanging HTTP request, a sleep) at the same moment.
        let result = tokio::time::timeout(limits.timeout, call).await;

        let data = store.data();
        data.log.flush_partial_lines();
        *log_truncated = data.log.truncated();
        *denied = data.network.denied.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let memory_hit = data.limiter.hit;
        // The component returned (outputs or its own error): its cleanup requests are not sent.
        let returned = matches!(result, Ok(Ok(_)));
        let verdict = match result {
            Err(_elapsed) => Err(RunError::Timeout(limits.timeout)),
            // Past the disk limit the run fails, also when the component carried on.
            Ok(_) if let Some(size) = data.disk.exceeded() => {
                Err(RunError::DiskLimit { size, limit: data.disk.limit() })
            }
            Ok(Err(trap)) => Err(classify_trap(&trap, limits, memory_hit)),
            Ok(Ok(Err(task_error))) => Err(match task_error {
                TaskError::InvalidConfig(m) => RunError::InvalidConfig(m),
                TaskError::Denied(m) => RunError::Denied(m),
                TaskError::Failed(m) => RunError::Failed(m),
            }),
            Ok(Ok(Ok(output))) => check_output(&output, limits, &schemas.output),
        };
        if let Err(err) = &verdict {
            data.log.host(LogLevel::Error, format!("task {}: {err}", request.task));
        }
        // Stop the instance's in-flight requests before looking for its containers.
        drop(store);
        let mut on_abort = on_abort;
        if returned {
            on_abort.disarm();
        } else {
            on_abort.fire().await;
        }
        if let Some(session) = leftovers.0.take() {
            session.remove_leftovers().await;
        }
        verdict
    }
}

/// Removes a run's leftover containers in the background if the run is dropped before it ends.
struct Leftovers(Option<Arc<DockerSession>>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        if let (Some(session), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move { session.remove_leftovers().await });
        }
    }
}

/// What wasmtime says when a guest hands the host more than its hostcall fuel in one go.
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Wasmtime's own default (128 MiB), or enough for outputs at their limit plus the envelope.
fn outputs_fuel(limits: Limits) -> usize {
    (128 << 20).max(limits.output_bytes.saturating_add(64 << 10))
}

fn classify_trap(err: &wasmtime::Error, limits: Limits, memory_hit: bool) -> RunError {
    if err.downcast_ref::<DeadlineReached>().is_some() {
        return RunError::Timeout(limits.timeout);
    }
    // Raised while lifting the returned outputs (no wasm frames left): wasmtime checks a
    // string's length against the fuel before it copies anything.
    if err.downcast_ref::<wasmtime::WasmBacktrace>().is_none()
        && err.chain().any(|e| e.to_string().contains(HOSTCALL_FUEL_EXHAUSTED))
    {
        return RunError::OutputFarTooLarge { at_least: outputs_fuel(limits), limit: limits.output_bytes };
    }
    if let Some(ResourceTableError::Full) = err.downcast_ref::<ResourceTableError>() {
        return RunError::HandleLimit { limit: limits.open_handles };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => RunError::StackOverflow,
        // A refused memory.grow usually ends in the allocator aborting (`unreachable`).
        Some(_) if memory_hit => RunError::MemoryLimit { limit: limits.memory_bytes },
        Some(Trap::MemoryOutOfBounds) if let Some(function) = recursing_function(err) => {
            RunError::ProbableStackOverflow { function }
        }
        Some(trap) => RunError::Trap(trap.to_string()),
        None if memory_hit => RunError::MemoryLimit { limit: limits.memory_bytes },
        None => RunError::Trap(format!("{err:#}")),
    }
}

/// The function that fills the innermost frames of the trap's backtrace, if one does: Rust and
/// C keep large locals on a stack in linear memory, and running off its end is an out-of-bounds
/// access, not a wasm stack overflow; a backtrace of one function calling itself says which.
fn recursing_function(err: &wasmtime::Error) -> Option<String> {
    const RECURSIVE_FRAMES: usize = 16;
    let frames = err.downcast_ref::<wasmtime::WasmBacktrace>()?.frames();
    let innermost = frames.get(..RECURSIVE_FRAMES)?;
    let first = innermost.first()?;
    let same = |f: &wasmtime::FrameInfo| {
        f.func_index() == first.func_index() && f.module().name() == first.module().name()
    };
    // Mutual recursion alternates: look for the first frame's function in every other frame.
    let repeats = innermost.iter().filter(|f| same(f)).count();
    (repeats * 2 >= RECURSIVE_FRAMES)
        .then(|| first.func_name().map_or_else(|| format!("function #{}", first.func_index()), str::to_owned))
}

fn check_output(
    output: &str,
    limits: Limits,
    schema: &crate::plugin::Schema,
) -> Result<serde_json::Value, RunError> {
    if output.len() > limits.output_bytes {
        return Err(RunError::OutputTooLarge { size: output.len(), limit: limits.output_bytes });
    }
    let value: serde_json::Value = serde_json::from_str(output)
        .map_err(|e| RunError::InvalidOutput(format!("not JSON ({e}); outputs must be a JSON object")))?;
    if !value.is_object() {
        return Err(RunError::InvalidOutput("outputs must be a JSON object".into()));
    }
    schema.check(&value).map_err(|problems| {
        RunError::InvalidOutput(format!("they do not match the task's output schema: {problems}"))
    })?;
    Ok(value)
}
