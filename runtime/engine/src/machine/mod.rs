//! The executor core: a deterministic state machine. `(state, event) -> (new state, commands)`.
//! No I/O, no clock, no randomness, no wasm, no templates: time comes in with events, template
//! results come back as `Evaluated` events, and everything the outside world must do goes out
//! as [`Command`]s. The scheduler persists the changed records before it acts on the commands.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    _flow: Arc<Flow>,
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
    pub fn new(_flow: Arc<Flow>, _record: ExecutionRecord) -> Self {
        unimplemented!("machine")
    }

    /// Rebuilds an execution from what the store holds, after a crash or restart. Returns the
    /// commands that make it continue: attempts that were RUNNING are dispatched again as a new
    /// attempt (at-least-once), evaluations and timers are re-issued.
    pub fn restore(_flow: Arc<Flow>, _record: ExecutionRecord, _runs: Vec<TaskRun>, _now: Timestamp) -> (Self, Step) {
        unimplemented!("machine")
    }

    /// Applies one event. On `Err` nothing changed.
    pub fn apply(&mut self, _event: Event) -> Result<Step, MachineError> {
        unimplemented!("machine")
    }

    pub fn record(&self) -> &ExecutionRecord {
        unimplemented!("machine")
    }

    pub fn state(&self) -> ExecutionState {
        unimplemented!("machine")
    }

    pub fn flow(&self) -> &Arc<Flow> {
        unimplemented!("machine")
    }

    pub fn task_run(&self, _key: &TaskRunKey) -> Option<&TaskRun> {
        unimplemented!("machine")
    }

    /// All task runs, in creation order.
    pub fn task_runs(&self) -> impl Iterator<Item = &TaskRun> {
        std::iter::empty()
    }

    /// The `outputs` object templates of `run` see: `{ "<task>": <outputs> }` for every finished
    /// task; a task inside a forEach body resolves, for runs in the same iteration, to that
    /// iteration's outputs, and elsewhere to the list of its outputs by iteration.
    pub fn outputs_visible_to(&self, _run: &TaskRunKey) -> Value {
        unimplemented!("machine")
    }

    /// `taskrun.value` / `taskrun.iteration` of the innermost forEach around `run`.
    pub fn loop_context(&self, _run: &TaskRunKey) -> Option<(Value, u32)> {
        unimplemented!("machine")
    }

    /// The `onResume` inputs of a paused task, to check a resume's inputs against.
    pub fn pause_inputs(&self, _run: &TaskRunKey) -> Option<&[Input]> {
        unimplemented!("machine")
    }

    /// The state of a task run, if it exists.
    pub fn run_state(&self, key: &TaskRunKey) -> Option<TaskRunState> {
        self.task_run(key).map(|r| r.state)
    }
}
