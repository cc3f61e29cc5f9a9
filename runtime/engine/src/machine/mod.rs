//! The executor core: a deterministic state machine. `(state, event) -> (new state, commands)`.
//! No I/O, no clock, no randomness, no wasm, no templates: time comes in with events, template
//! results come back as `Evaluated` events, and everything the outside world must do goes out
//! as [`Command`]s. The scheduler persists the changed records before it acts on the commands.
//!
//! # How an execution runs
//!
//! The machine keeps its state in the persisted records ([`ExecutionRecord`], [`TaskRun`]); what
//! it keeps beside them is derived and rebuilt by [`Execution::restore`]. Each
//! [`Execution::apply`] returns a [`Step`]: the commands to carry out, every task run created or
//! changed (each once), and whether the execution record changed. A rejected event
//! ([`MachineError::Rejected`]) changes nothing: a late answer for an attempt that is no longer
//! current, a timer for a run that was killed, anything after a terminal state.
//!
//! **Lists.** Task ids are unique across the flow. A task list is sequential (the top-level
//! `tasks`, `errors` and `finally`, `flow.sequential`, the branches of `flow.if` and
//! `flow.switch`, each `flow.forEach` iteration's body) or parallel (`flow.parallel`, at most
//! `concurrency` children running, 0 = unbounded). A task's predecessors are its `dependsOn`
//! (sibling ids) when given; otherwise the task before it in a sequential list, none in a
//! parallel one. A task starts when all its predecessors ended and none ended FAILED or KILLED
//! (SKIPPED and WARNING count as done); a task after a failed one never starts. Among tasks
//! ready at once, the one declared first starts first.
//!
//! **Starting a task.** A `disabled` task is SKIPPED (error `disabled`). With `runIf`, the run
//! waits in CREATED for `Evaluate{RunIf}`; false makes it SKIPPED. Then, by kind:
//! - plugin: RUNNING and `Dispatch{attempt: 1}`, the attempt recorded in `attempts`;
//! - `flow.sequential` / `flow.parallel`: RUNNING, its children scheduled;
//! - `flow.if`: `Evaluate{IfCondition}`, then the chosen branch (the other branch's tasks never
//!   get runs); `flow.switch`: `Evaluate{SwitchValue}`, then the case with that value, else
//!   `default` (neither: SUCCESS with nothing run);
//! - `flow.forEach`: `Evaluate{ForEachValues}`; the values are kept as the run's outputs
//!   `{"values": [...]}`; iterations start in order, `concurrency` at a time (0 = unbounded);
//!   each iteration runs the body as a sequential list whose runs are keyed `task[i]` (nested
//!   loops `task[i][j]`), and every run inside the iteration has the iteration's value in
//!   `TaskRun.value`;
//! - `flow.subflow`: RUNNING and `StartSubflow`. Without `wait`, SUCCESS on `SubflowStarted` with
//!   outputs `{"executionId": ...}`. With `wait`, the id is kept in the outputs until
//!   `SubflowEnded`: SUCCESS or WARNING gives SUCCESS with the subflow's outputs, any other state
//!   FAILED `subflow <execution id> ended <STATE>`;
//! - `flow.pause`: RUNNING until `Resume` (SUCCESS, outputs = the resume inputs), with
//!   `StartTimer{PauseTimeout}` due `timeout` after the pause started when it has one (FAILED
//!   when it fires). The execution is PAUSED while every unfinished task waits on a pause;
//! - `flow.sleep`: `Evaluate{SleepDuration}`, then `StartTimer{Sleep}` due that long after the
//!   task started; SUCCESS when it fires;
//! - `flow.fail`: `Evaluate{FailMessage}`, then FAILED with that message.
//!
//! A control-flow run ends when its children have: FAILED if a child ended FAILED or KILLED,
//! KILLED if some children never ran because their region was stopped, else WARNING if a child
//! ended WARNING, else SUCCESS. An `Evaluated` with `Err(message)` fails the run with the message
//! (no retry). A failure of a task with `allowFailure` ends it WARNING instead of FAILED, and a
//! failure inside such a task stays inside it.
//!
//! **Retries** apply to plugin tasks: the task's `retry`, else the flow's, else none. After
//! `TaskFailed{retryable: true}`, when fewer than `maxAttempts` attempts were made and (with
//! `maxDuration`) less than that has passed since the first attempt started, the run is
//! RETRYING and `StartTimer{Retry{attempt: n + 1}}` is due the backoff after the failure:
//! constant = `interval`; exponential = `interval * factor^(n - 1)`, at most `maxInterval`;
//! random = uniform in `[interval, maxInterval]`, drawn from a hash of (execution id, task run
//! key, next attempt) so a replay draws the same. Here `n` counts the failed attempts. When the
//! timer fires, the run is RUNNING with `Dispatch{attempt: n + 1}`. Otherwise the run ends FAILED
//! with the last error. A plugin's `timeout` bounds each attempt in the sandbox (the attempt
//! then fails like any other). A native task's `timeout` (not `flow.pause`'s, which is its own)
//! is a `StartTimer{TaskTimeout}` due that long after the task started; when it fires, a task
//! that waits on its own (an evaluation, a sleep, a subflow) ends FAILED
//! ``timed out after <timeout>``; a control-flow task records that error, starts no new child,
//! stops its descendants the way a flow timeout does, and ends FAILED with it once they have
//! (WARNING with `allowFailure`; the scheduler kills the child execution of a subflow that did
//! not end well). Native tasks have no retry policy (validation refuses `retry` on them).
//!
//! **The execution.** `Start` makes it RUNNING (from CREATED or QUEUED) and starts the first
//! tasks; `Queue` makes it QUEUED; `Refuse` ends it in the given terminal state. When a main task
//! fails (FAILED, with no `allowFailure` on it or around it), `error` records
//! ``task `<run>` failed: <error>``, no new main task starts, and tasks that only wait (a pending
//! `runIf` or condition, a sleep, a pause) are KILLED; attempts, retries and subflows already
//! under way finish and their results are recorded. Then `errors` runs (if any), then `finally`,
//! and the execution ends FAILED. Without a failure, `finally` runs after the main tasks and the
//! execution ends WARNING if any task ended WARNING, else SUCCESS. A failure inside `errors` or
//! `finally` does not stop the rest of that list (beyond its own successors) but makes the
//! execution FAILED. `error` always names the first cause. When the main tasks succeeded and
//! the flow has `outputs`, the machine sends `RenderOutputs` and waits for `OutputsRendered`
//! (`Err` ends it FAILED with that reason). The last command of an execution is
//! `Finished{state}`, with `ended_at`, `state`, `outputs` and `error` set on the record.
//!
//! **Kill and timeout.** `Kill` makes the execution KILLING: every running attempt gets `Cancel`
//! (its attempt is marked KILLED without an end time until the answer), every other waiting run
//! (pending, retrying, paused, sleeping, waiting on a subflow) is KILLED at once, and when every
//! cancelled attempt answered `TaskCancelled` (or its own end, which is recorded), the execution
//! is KILLED; no `errors`, no `finally`. `FlowTimedOut` stops the tasks of the list running then
//! the same way (control-flow runs with KILLED children end FAILED), records
//! `flow timeout after <timeout>`, then runs `errors` (when the main tasks were cut) and
//! `finally`, and ends FAILED. A timeout during `errors` stops `errors` and still runs
//! `finally`. Subflows started by killed tasks are not stopped by the machine (the scheduler
//! kills the child of a killed `flow.subflow` run).
//!
//! **Restore.** [`Execution::restore`] rebuilds the state from the records alone: attempts that
//! were RUNNING are marked FAILED `interrupted: its server stopped or lost the execution` and
//! dispatched again as a new attempt (interrupted attempts do not count against `maxAttempts`), pending evaluations and
//! timers are asked for again (due the same instant as before; one already past fires as soon
//! as the scheduler sees it), terminal runs are never run again. See `restore.rs` for the rules.

mod attempts;
mod events;
mod kinds;
mod lifecycle;
mod lists;
mod plan;
pub mod rerun;
mod restore;
mod retry;
mod state;
mod stop;
mod views;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sluice_flow::{Flow, Input};

use crate::records::{ExecutionRecord, ExecutionState, TaskRun, TaskRunKey, TaskRunState, Timestamp};

/// Something that happened, fed to [`Execution::apply`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start (or, after `Queued`, admit) the execution. Inputs were checked before.
    Start { now: Timestamp },
    /// Put the execution in QUEUED (flow concurrency limit reached).
    Queue { now: Timestamp },
    /// Refuse the execution (flow concurrency `cancel` / `fail`).
    Refuse { now: Timestamp, state: ExecutionState, reason: String },
    /// The answer to a [`Command::Evaluate`]. `Err` is a template error, which fails the task.
    Evaluated { run: TaskRunKey, now: Timestamp, result: Result<Evaluation, String> },
    /// A [`Command::Dispatch`]ed attempt ended well.
    TaskSucceeded { run: TaskRunKey, attempt: u32, now: Timestamp, outputs: Value },
    /// A dispatched attempt failed. `retryable: false` skips the retry policy (invalid config,
    /// denied capability: another attempt cannot succeed).
    TaskFailed { run: TaskRunKey, attempt: u32, now: Timestamp, error: String, retryable: bool },
    /// A [`Command::StartTimer`] came due.
    TimerFired { run: TaskRunKey, timer: Timer, now: Timestamp },
    /// A subflow started by [`Command::StartSubflow`] was created.
    SubflowStarted { run: TaskRunKey, execution_id: String, now: Timestamp },
    /// A subflow could not be started (unknown flow, invalid flow or inputs); fails the task.
    SubflowFailed { run: TaskRunKey, now: Timestamp, error: String },
    /// A waited-for subflow ended.
    SubflowEnded { run: TaskRunKey, now: Timestamp, state: ExecutionState, outputs: Value },
    /// Resume a paused task (the only paused one when `run` is None) with its checked inputs.
    Resume { run: Option<TaskRunKey>, now: Timestamp, inputs: Value },
    /// Stop everything: running tasks are cancelled, then the execution is KILLED.
    Kill { now: Timestamp },
    /// The flow-level `timeout` passed: running tasks are cancelled, `errors` and `finally`
    /// run, and the execution FAILS.
    FlowTimedOut { now: Timestamp },
    /// A [`Command::Cancel`]led task has stopped.
    TaskCancelled { run: TaskRunKey, attempt: u32, now: Timestamp },
    /// Flow outputs were rendered (answer to [`Command::RenderOutputs`]); `Err` fails the
    /// execution with that reason.
    OutputsRendered { now: Timestamp, result: Result<Value, String> },
}

/// A template result the machine asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// `runIf`, `flow.if` condition.
    Bool(bool),
    /// `flow.switch` value.
    Text(String),
    /// `flow.forEach` values.
    List(Vec<Value>),
    /// `flow.sleep` duration.
    Duration(Duration),
}

/// Which template a [`Command::Evaluate`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Evaluate {
    RunIf,
    IfCondition,
    SwitchValue,
    ForEachValues,
    SleepDuration,
    FailMessage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Backoff before attempt `attempt`.
    Retry { attempt: u32 },
    /// `flow.sleep` is over.
    Sleep,
    /// `flow.pause` timed out.
    PauseTimeout,
    /// The `timeout` of a native task (a control-flow task, a subflow, a sleep) passed.
    TaskTimeout,
}

/// What the scheduler must do after persisting the step's changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Render the runnable task's config and run attempt `attempt` of it in the sandbox; answer
    /// with `TaskSucceeded` / `TaskFailed`.
    Dispatch { run: TaskRunKey, attempt: u32 },
    /// Render one of the task's templates; answer with `Evaluated`.
    Evaluate { run: TaskRunKey, what: Evaluate },
    /// Answer with `TimerFired` at `at`.
    StartTimer { run: TaskRunKey, timer: Timer, at: Timestamp },
    /// Start the subflow of a `flow.subflow` task; answer with `SubflowStarted`, then (when the
    /// task waits) `SubflowEnded`.
    StartSubflow { run: TaskRunKey },
    /// Stop a running attempt; answer with `TaskCancelled` (or its normal end if it won the race).
    Cancel { run: TaskRunKey, attempt: u32 },
    /// Render the flow's `outputs`; answer with `OutputsRendered`.
    RenderOutputs,
    /// The execution reached a terminal state; nothing more will happen.
    Finished { state: ExecutionState },
}

/// What one `apply` changed, for the scheduler to persist.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step {
    pub commands: Vec<Command>,
    /// Task runs created or changed by this step.
    pub changed_runs: Vec<TaskRunKey>,
    /// Whether the execution record changed.
    pub execution_changed: bool,
}

/// One execution's state. See the module docs.
#[derive(Debug, Clone)]
pub struct Execution {
    flow: Arc<Flow>,
    plan: Arc<plan::Plan>,
    record: ExecutionRecord,
    /// In creation order.
    runs: Vec<TaskRun>,
    /// Beside `runs`, index for index.
    metas: Vec<state::RunMeta>,
    index: HashMap<TaskRunKey, usize>,
    /// The runs of each plan node.
    node_runs: Vec<Vec<usize>>,
    insts: Vec<state::ListInst>,
    loops: Vec<state::LoopInst>,
    /// The list instance of each region once it started.
    regions: [Option<usize>; 3],
    /// `errors` / `finally` stopped by a flow timeout.
    hard_stopped: [bool; 3],
    /// Runs waiting for something other than a resume or their children.
    busy: usize,
    /// Runs waiting for a resume.
    paused: BTreeSet<usize>,
    /// Runs that ended WARNING.
    warnings: usize,
    awaiting_outputs: bool,
    /// Set while the host drains for a shutdown: runs that would get an attempt stay as they
    /// are (CREATED or RETRYING), so the restore after the restart starts them.
    hold_dispatches: bool,
    work: VecDeque<state::Work>,
    step: state::StepScratch,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MachineError {
    /// The event does not fit the state (a late answer for a cancelled attempt, a resume of a
    /// task that is not paused). The state is unchanged.
    #[error("{0}")]
    Rejected(String),
}

impl Execution {
    /// A new execution in CREATED. The flow must have passed validation.
    pub fn new(flow: Arc<Flow>, record: ExecutionRecord) -> Self {
        Self::fresh(flow, record)
    }

    fn fresh(flow: Arc<Flow>, record: ExecutionRecord) -> Self {
        let plan = Arc::new(plan::Plan::build(&flow));
        let nodes = plan.nodes.len();
        Self {
            flow,
            plan,
            record,
            runs: Vec::new(),
            metas: Vec::new(),
            index: HashMap::new(),
            node_runs: vec![Vec::new(); nodes],
            insts: Vec::new(),
            loops: Vec::new(),
            regions: [None; 3],
            hard_stopped: [false; 3],
            busy: 0,
            paused: BTreeSet::new(),
            warnings: 0,
            awaiting_outputs: false,
            hold_dispatches: false,
            work: VecDeque::new(),
            step: state::StepScratch::default(),
        }
    }

    /// Rebuilds an execution from what the store holds, after a crash or restart. Returns the
    /// commands that make it continue: attempts that were RUNNING are dispatched again as a new
    /// attempt (at-least-once), evaluations and timers are re-issued. Runs of tasks the flow does
    /// not have are left out.
    pub fn restore(
        flow: Arc<Flow>,
        record: ExecutionRecord,
        runs: Vec<TaskRun>,
        now: Timestamp,
    ) -> (Self, Step) {
        Self::restore_from(flow, record, runs, now)
    }

    /// Applies one event. On `Err` nothing changed.
    pub fn apply(&mut self, event: Event) -> Result<Step, MachineError> {
        self.apply_event(event)
    }

    /// From now on, attempts are not dispatched: a run that would get one stays as it is, for
    /// [`Execution::restore`] to start after a restart (the host is shutting down).
    pub fn hold_dispatches(&mut self) {
        self.hold_dispatches = true;
    }

    pub fn record(&self) -> &ExecutionRecord {
        &self.record
    }

    pub fn state(&self) -> ExecutionState {
        self.record.state
    }

    pub fn flow(&self) -> &Arc<Flow> {
        &self.flow
    }

    pub fn task_run(&self, key: &TaskRunKey) -> Option<&TaskRun> {
        self.index.get(key).map(|&run| &self.runs[run])
    }

    /// Whether a task run ended WARNING (an `allowFailure` failure).
    pub(crate) fn has_warnings(&self) -> bool {
        self.warnings > 0
    }

    /// All task runs, in creation order.
    pub fn task_runs(&self) -> impl Iterator<Item = &TaskRun> {
        self.runs.iter()
    }

    /// The `outputs` object templates of `run` see: `{ "<task>": <outputs> }` for every finished
    /// task; a task inside a forEach body resolves, for runs in the same iteration, to that
    /// iteration's outputs, and elsewhere to the list of its outputs by iteration (null for an
    /// iteration without outputs; nested loops give nested lists).
    pub fn outputs_visible_to(&self, run: &TaskRunKey) -> Value {
        self.outputs_for(run)
    }

    /// What `outputs.<task>` is for templates of `run` (see [`Self::outputs_visible_to`]),
    /// without building the whole object: for renderers that resolve names lazily.
    pub fn output_visible_to(&self, run: &TaskRunKey, task: &str) -> Option<Value> {
        self.output_for(run, task)
    }

    /// `taskrun.value` / `taskrun.iteration` of the innermost forEach around `run`.
    pub fn loop_context(&self, run: &TaskRunKey) -> Option<(Value, u32)> {
        self.loop_context_of(run)
    }

    /// The `onResume` inputs of a paused task, to check a resume's inputs against.
    pub fn pause_inputs(&self, run: &TaskRunKey) -> Option<&[Input]> {
        let meta = &self.metas[*self.index.get(run)?];
        match &self.plan.nodes[meta.node].kind {
            plan::NodeKind::Pause { on_resume, .. } => Some(on_resume),
            _ => None,
        }
    }

    /// The `flow.pause` runs waiting for a resume, in creation order.
    pub fn paused(&self) -> Vec<&TaskRunKey> {
        self.paused_runs().map(|run| &self.runs[run].key).collect()
    }

    /// The state of a task run, if it exists.
    pub fn run_state(&self, key: &TaskRunKey) -> Option<TaskRunState> {
        self.task_run(key).map(|r| r.state)
    }
}
