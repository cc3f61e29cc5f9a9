//! One execution's driver loop. See the module docs of `scheduler` for the order of things:
//! apply, answer pure commands, commit, act. Starting one is `start`'s job, its templates
//! `evaluate`'s, a subflow's child `subflow`'s.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};

use serde_json::Value;
use sluice_flow::inputs::RawInput;
use sluice_flow::template::SecretAccess;
use sluice_flow::{LockedFlow, Task, TaskKind};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;

use super::admission::{Decision, flow_key};
use super::context::ExecutionScope;
use super::dispatch::{self, Attempt, now};
use super::evaluate::Evaluator;
use super::execution_info;
use super::snapshot::Snapshots;
use super::{Live, ResumeError, Shared, SharedLease, Update, subflow};
use crate::machine::{Command, Event, Execution};
use crate::records::{ExecutionState, LogRecord, TaskRunKey, Timestamp};
use crate::store::{Attachment, CommitBatch, Lease, Store, StoreError};

/// How long log lines may wait to be committed with the next turn instead of on their own.
const LOG_DELAY: std::time::Duration = std::time::Duration::from_millis(20);

/// Messages from outside the driver.
pub(crate) enum Control {
    Event(Event),
    Resume {
        run: Option<TaskRunKey>,
        inputs: BTreeMap<String, RawInput>,
        reply: oneshot::Sender<Result<(), ResumeError>>,
    },
    /// Another node holds the execution's lease now: stop at once, writing nothing more.
    LeaseLost,
}

/// What this node holds for an execution it drives: its workspace here and its lease.
pub(crate) struct Hold {
    pub(crate) workspace: PathBuf,
    pub(crate) lease: Lease,
}

/// How a driver begins: a new execution asks for a place under the flow's `concurrency` (once
/// it is live, so that a place freed at any moment reaches it), a restored one takes its step.
pub(crate) enum Begin {
    /// With the result of rendering the flow's `variables`.
    New {
        variables: Result<(), String>,
    },
    Restored(crate::machine::Step),
}

pub(crate) struct Driver<S: Store> {
    shared: Arc<Shared<S>>,
    exec: Execution,
    scope: ExecutionScope,
    flow: LockedFlow,
    tasks: HashMap<String, Arc<Task>>,
    workspace: PathBuf,
    /// Secret input values, redacted from every log line and output.
    redact: Vec<String>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    control_rx: mpsc::UnboundedReceiver<Control>,
    logs_tx: mpsc::UnboundedSender<LogRecord>,
    logs_rx: mpsc::UnboundedReceiver<LogRecord>,
    pending_logs: Vec<LogRecord>,
    /// The running attempt of each dispatched task run.
    attempts: HashMap<TaskRunKey, (u32, AbortHandle)>,
    timers: Vec<AbortHandle>,
    /// Whether the flow's `timeout` timer runs (from the moment the execution started).
    timeout_armed: bool,
    done_tx: watch::Sender<Option<Arc<super::Finished>>>,
    /// Set once the execution's record is in the store (after the first commit).
    recorded_tx: watch::Sender<bool>,
    /// This node's lease on the execution, carried by every commit.
    lease: SharedLease,
    /// Set when workspaces are recorded in the store at task boundaries.
    snapshots: Option<Snapshots>,
}

/// What one turn of the loop accumulated.
#[derive(Default)]
struct Turn {
    commands: Vec<Command>,
    changed: Vec<TaskRunKey>,
    seen: HashSet<TaskRunKey>,
    execution_changed: bool,
}

impl<S: Store> Driver<S> {
    /// A driver for `exec`, and its entry among the live executions (for whoever starts it to
    /// register).
    pub(crate) fn new(
        shared: Arc<Shared<S>>,
        flow: LockedFlow,
        exec: Execution,
        scope: ExecutionScope,
        hold: Hold,
        redact: Vec<String>,
    ) -> (Self, Live) {
        let Hold { workspace, lease } = hold;
        let lease: SharedLease = Arc::new(std::sync::Mutex::new(lease));
        let shared_snapshots = shared.config.workspace_snapshots.then(Snapshots::default);
        let (done_tx, done_rx) = watch::channel(None);
        let (recorded_tx, recorded_rx) = watch::channel(false);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (logs_tx, logs_rx) = mpsc::unbounded_channel();
        let tasks = flow.flow.all_tasks().into_iter().map(|t| (t.id.clone(), Arc::new(t.clone()))).collect();
        let driver = Driver {
            shared,
            exec,
            scope,
            flow,
            tasks,
            workspace,
            redact,
            events_tx,
            events_rx,
            control_rx,
            logs_tx,
            logs_rx,
            pending_logs: Vec::new(),
            attempts: HashMap::new(),
            timers: Vec::new(),
            timeout_armed: false,
            done_tx,
            recorded_tx,
            lease: lease.clone(),
            snapshots: shared_snapshots,
        };
        (driver, Live { control: control_tx, done: done_rx, recorded: recorded_rx, lease: Some(lease) })
    }

    pub(crate) async fn run(mut self, begin: Begin) {
        let mut queue = VecDeque::new();
        let mut restored = None;
        match begin {
            Begin::New { variables } => queue.push_back(self.first_event(variables).await),
            Begin::Restored(step) => restored = Some(step),
        }
        loop {
            self.arm_flow_timeout();
            let mut turn = Turn::default();
            if let Some(step) = restored.take() {
                self.take_step(step, &mut turn, &mut queue);
            } else if queue.is_empty() && !self.wait_for_work(&mut queue).await {
                return;
            }
            while let Ok(event) = self.events_rx.try_recv() {
                queue.push_back(event);
            }
            while let Some(event) = queue.pop_front() {
                self.apply(event, &mut turn, &mut queue);
            }
            while let Ok(line) = self.logs_rx.try_recv() {
                self.pending_logs.push(line);
            }
            if !self.commit(&turn).await {
                return;
            }
            if !*self.recorded_tx.borrow() {
                self.recorded_tx.send_replace(true);
            }
            self.kill_children_of_killed_subflows(&turn.changed);
            let mut finished = false;
            for command in turn.commands {
                match command {
                    Command::Finished { .. } => finished = true,
                    other => self.act(other, &mut queue),
                }
            }
            // Anything still queued would be rejected: the execution is terminal.
            if finished {
                self.finish().await;
                return;
            }
        }
    }

    /// Start, queue or refuse a new execution.
    async fn first_event(&self, variables: Result<(), String>) -> Event {
        if let Err(reason) = variables {
            return Event::Refuse { now: now(), state: ExecutionState::Failed, reason };
        }
        let (store, id) = (&*self.shared.store, &self.exec.record().id);
        let decision = self.shared.admission.admit(store, self.exec.flow(), id).await;
        let now = now();
        match decision {
            Ok(Decision::Start) => Event::Start { now },
            Ok(Decision::Queue) => Event::Queue { now },
            Ok(Decision::Refuse(state, reason)) => Event::Refuse { now, state, reason },
            Err(error) => Event::Refuse {
                now,
                state: ExecutionState::Failed,
                reason: format!("cannot take a place under the flow's `concurrency`: {error}"),
            },
        }
    }

    /// The flow's `timeout` counts from the start (also across a restart), not while queued.
    fn arm_flow_timeout(&mut self) {
        let Some(timeout) = self.exec.flow().timeout else { return };
        let Some(started) = self.exec.record().started_at else { return };
        if self.timeout_armed {
            return;
        }
        self.timeout_armed = true;
        let left = (started + chrono::Duration::from_std(timeout).unwrap_or_default() - now()).to_std();
        self.start_timer_after(left.unwrap_or_default(), |now| Event::FlowTimedOut { now });
    }

    /// Blocks until an event or a control message arrives. Log lines that arrive meanwhile
    /// are committed with the next turn, or on their own at most `LOG_DELAY` after the first
    /// of them, so they can be followed live without a commit per line (a short task's lines
    /// and its end share one). False when the driver must stop.
    async fn wait_for_work(&mut self, queue: &mut VecDeque<Event>) -> bool {
        let mut logs_due: Option<tokio::time::Instant> = None;
        loop {
            let flush = async {
                match logs_due {
                    Some(due) => tokio::time::sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = self.events_rx.recv() => {
                    // The driver holds a sender itself, so the channel cannot close.
                    if let Some(event) = event { queue.push_back(event); }
                    return true;
                }
                Some(control) = self.control_rx.recv() => {
                    if matches!(control, Control::LeaseLost) {
                        self.stop_here();
                        return false;
                    }
                    if let Some(event) = self.control(control) {
                        queue.push_back(event);
                        return true;
                    }
                }
                Some(line) = self.logs_rx.recv() => {
                    self.pending_logs.push(line);
                    while let Ok(line) = self.logs_rx.try_recv() {
                        self.pending_logs.push(line);
                    }
                    logs_due.get_or_insert_with(|| tokio::time::Instant::now() + LOG_DELAY);
                }
                () = flush => {
                    logs_due = None;
                    if !self.commit(&Turn::default()).await {
                        return false;
                    }
                }
            }
        }
    }

    fn control(&mut self, control: Control) -> Option<Event> {
        match control {
            Control::Event(event) => Some(event),
            Control::Resume { run, inputs, reply } => {
                let result = super::controls::resume_event(&self.exec, run, inputs);
                let (answer, event) = match result {
                    Ok(event) => (Ok(()), Some(event)),
                    Err(message) => (Err(message), None),
                };
                let _ = reply.send(answer);
                event
            }
            Control::LeaseLost => None,
        }
    }

    fn apply(&mut self, event: Event, turn: &mut Turn, queue: &mut VecDeque<Event>) {
        if let Event::TaskSucceeded { run, .. }
        | Event::TaskFailed { run, .. }
        | Event::TaskCancelled { run, .. } = &event
        {
            self.attempts.remove(run);
        }
        if self.shared.drain.is_draining() {
            self.exec.hold_dispatches();
        }
        let starts = matches!(event, Event::Start { .. });
        let step = match self.exec.apply(event) {
            Ok(step) => step,
            Err(rejected) => {
                tracing::debug!(execution = %self.exec.record().id, "event ignored: {rejected}");
                return;
            }
        };
        if starts && let Some(started) = self.exec.record().started_at {
            // `execution.startDate` is when it started, not when it was created (or queued).
            self.scope.set_start_date(started);
        }
        self.take_step(step, turn, queue);
    }

    /// Adds a machine step to the turn: its changes to persist, its pure commands answered.
    fn take_step(&mut self, step: crate::machine::Step, turn: &mut Turn, queue: &mut VecDeque<Event>) {
        turn.execution_changed |= step.execution_changed;
        for key in step.changed_runs {
            if turn.seen.insert(key.clone()) {
                turn.changed.push(key);
            }
        }
        for command in step.commands {
            // Evaluations and output rendering have no effect outside the machine, so they
            // are answered before the commit.
            match command {
                Command::Evaluate { run, what } => queue.push_back(self.evaluator().evaluate(run, what)),
                Command::RenderOutputs => queue.push_back(self.evaluator().render_outputs()),
                other => turn.commands.push(other),
            }
        }
    }

    /// Writes what the turn changed. False when the store failed: the driver then stops acting
    /// and leaves the execution as last committed, for recovery.
    async fn commit(&mut self, turn: &Turn) -> bool {
        let id = self.exec.record().id.clone();
        let mut batch = CommitBatch::default();
        if turn.execution_changed {
            batch.executions.push(self.exec.record().clone());
        }
        for key in &turn.changed {
            if let Some(run) = self.exec.task_run(key) {
                batch.task_runs.push((id.clone(), run.clone()));
            }
        }
        batch.logs = std::mem::take(&mut self.pending_logs);
        if self.any_ended(&turn.changed) {
            batch.artifacts.extend(self.snapshot().await);
        }
        if batch.is_empty() {
            return true;
        }
        batch.lease = Some(self.lease.lock().unwrap_or_else(PoisonError::into_inner).clone());
        let listening = self.shared.updates.receiver_count() > 0;
        let updates = listening.then(|| Update::of_batch(&batch));
        let committed = batch.artifacts.clone();
        if let Err(error) = self.shared.store.commit(batch).await {
            match error {
                StoreError::LeaseLost(_) => {
                    tracing::warn!(execution = %id, "another node took the execution over; stopping it here")
                }
                // Its lease lapses unrenewed, and whichever node claims it first (this one
                // too) continues it from what was committed.
                error => tracing::error!(
                    execution = %id,
                    "cannot persist the execution's progress, stopping it here: {error}"
                ),
            }
            self.stop_here();
            return false;
        }
        if let (Some(snapshots), Some(manifest)) = (self.snapshots.as_mut(), committed.first()) {
            snapshots.committed(manifest);
        }
        for update in updates.into_iter().flatten() {
            let _ = self.shared.updates.send(update);
        }
        true
    }

    /// A `flow.subflow` run that ended without its child ending well (the parent was killed or
    /// timed out, or the task's own timeout passed) takes its child execution down with it; the
    /// machine only records the parent's side. A child that already ended ignores the kill.
    fn kill_children_of_killed_subflows(&self, changed: &[TaskRunKey]) {
        use crate::records::TaskRunState;
        for key in changed {
            let Some(run) = self.exec.task_run(key) else { continue };
            if !matches!(run.state, TaskRunState::Killed | TaskRunState::Failed | TaskRunState::Warning) {
                continue;
            }
            let is_subflow =
                self.tasks.get(&key.task).is_some_and(|t| matches!(t.kind, TaskKind::Subflow { .. }));
            let child = run.outputs.as_ref().and_then(|o| o.get("executionId")).and_then(Value::as_str);
            if let (true, Some(child)) = (is_subflow, child) {
                // The child may be driven by another node now.
                let engine = super::Engine { shared: self.shared.clone() };
                let child = child.to_owned();
                tokio::spawn(async move {
                    if let Err(error) = engine.kill_anywhere(&child).await {
                        tracing::warn!(%child, "cannot kill the subflow's execution: {error}");
                    }
                });
            }
        }
    }

    fn act(&mut self, command: Command, queue: &mut VecDeque<Event>) {
        // While draining, a subflow to start is left as committed, for recovery after the
        // restart (attempts are held back in the machine itself).
        if self.shared.drain.is_draining() && matches!(command, Command::StartSubflow { .. }) {
            return;
        }
        match command {
            Command::Dispatch { run, attempt } => self.dispatch(run, attempt, queue),
            Command::StartTimer { run, timer, at } => {
                let delay = (at - now()).to_std().unwrap_or_default();
                self.start_timer_after(delay, move |now| Event::TimerFired { run, timer, now });
            }
            Command::Cancel { run, attempt } => {
                if let Some((current, handle)) = self.attempts.remove(&run)
                    && current == attempt
                {
                    handle.abort();
                }
                queue.push_back(Event::TaskCancelled { run, attempt, now: now() });
            }
            Command::StartSubflow { run } => self.start_subflow(run, queue),
            // Answered in `apply`, or handled by the loop.
            Command::Evaluate { .. } | Command::RenderOutputs | Command::Finished { .. } => {}
        }
    }

    fn dispatch(&mut self, run: TaskRunKey, attempt: u32, queue: &mut VecDeque<Event>) {
        let fail = |error: String| Event::TaskFailed {
            run: run.clone(),
            attempt,
            now: now(),
            error,
            retryable: false,
        };
        let Some(task) = self.tasks.get(&run.task).cloned() else {
            queue.push_back(fail(format!("task `{}` is not in the flow", run.task)));
            return;
        };
        let TaskKind::Plugin { task_type, config } = &task.kind else {
            queue.push_back(fail(format!("task `{}` is not a plugin task", run.task)));
            return;
        };
        let pinned = self.flow.digests.get(&task.id).map(String::as_str);
        let Some(plugin) = self.shared.plugins().with_digest(&task_type.plugin, pinned).cloned() else {
            queue.push_back(fail(format!("plugin `{}` is not installed", task_type.plugin)));
            return;
        };
        if let Some(locked) = self.flow.digests.get(&task.id)
            && locked != plugin.digest().hex()
        {
            queue.push_back(fail(format!(
                "plugin `{}` changed since the flow was validated (validated sha256:{locked}, installed sha256:{}); run it again",
                task_type.plugin,
                plugin.digest().hex()
            )));
            return;
        }
        let access = SecretAccess { source: self.shared.secrets.as_ref(), allowed: &task.allow.secrets };
        let rendered = match self.evaluator().task_config(&task, &run, config, &access) {
            Ok(rendered) => rendered,
            Err(error) => {
                queue.push_back(fail(error));
                return;
            }
        };
        let mut redact = self.redact.clone();
        redact.extend(rendered.secrets);
        let public_url = self.shared.config.public_url.as_deref();
        let execution = plugin
            .reads_execution_context()
            .then(|| execution_info::document(&self.exec, &self.tasks, &run, public_url, now()));
        let work = Attempt {
            execution_id: self.exec.record().id.clone(),
            run: run.clone(),
            attempt,
            task_name: task_type.task.clone(),
            task: (*task).clone(),
            plugin,
            config: rendered.value,
            redact,
            workspace: self.workspace.clone(),
            default_limits: self.shared.config.limits,
            logs: self.logs_tx.clone(),
            execution,
        };
        let shared = self.shared.clone();
        let events = self.events_tx.clone();
        let running = self.shared.drain.attempt();
        let handle = tokio::spawn(async move {
            let _running = running;
            let event = dispatch::run_attempt(&shared.sandbox, work).await;
            let _ = events.send(event);
        });
        self.attempts.insert(run, (attempt, handle.abort_handle()));
    }

    /// What the execution's templates are rendered with.
    fn evaluator(&self) -> Evaluator<'_> {
        Evaluator {
            templates: &self.shared.templates,
            flow: &self.flow,
            exec: &self.exec,
            scope: &self.scope,
            tasks: &self.tasks,
            redact: &self.redact,
        }
    }

    fn start_subflow(&mut self, run: TaskRunKey, queue: &mut VecDeque<Event>) {
        let Some(task) = self.tasks.get(&run.task).cloned() else { return };
        let TaskKind::Subflow { namespace, flow_id, inputs, wait } = &task.kind else { return };
        let inputs = match self.evaluator().subflow_inputs(&task, &run, inputs) {
            Ok(inputs) => inputs,
            Err(error) => {
                queue.push_back(Event::SubflowFailed { run, now: now(), error });
                return;
            }
        };
        let child =
            subflow::Child { namespace: namespace.clone(), flow_id: flow_id.clone(), inputs, wait: *wait };
        let parent = (self.exec.record().id.clone(), run);
        subflow::spawn(self.shared.clone(), parent, child, self.events_tx.clone());
    }

    fn start_timer_after(
        &mut self,
        delay: std::time::Duration,
        event: impl FnOnce(Timestamp) -> Event + Send + 'static,
    ) {
        let events = self.events_tx.clone();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(event(now()));
        });
        self.timers.push(handle.abort_handle());
    }

    fn any_ended(&self, changed: &[TaskRunKey]) -> bool {
        self.snapshots.is_some()
            && changed.iter().any(|k| self.exec.task_run(k).is_some_and(|r| r.state.is_terminal()))
    }

    /// Stores the workspace, whose manifest the commit recording this boundary attaches
    /// (before the tasks after it are dispatched). A failure is logged: the execution goes on
    /// here, but a node taking it over would find an older workspace.
    async fn snapshot(&mut self) -> Option<Attachment> {
        let snapshots = self.snapshots.as_mut()?;
        let id = &self.exec.record().id;
        snapshots.prepare(&*self.shared.store, id, &self.workspace).await.unwrap_or_else(|error| {
            tracing::warn!(execution = %id, "cannot record the workspace for a takeover: {error}");
            None
        })
    }

    /// Stops driving the execution without writing anything more: what was committed stays
    /// for whichever node continues it.
    fn stop_here(&mut self) {
        self.abort_all();
        self.unregister();
        self.announce_end();
    }

    fn abort_all(&mut self) {
        for (_, (_, handle)) in self.attempts.drain() {
            handle.abort();
        }
        for handle in self.timers.drain(..) {
            handle.abort();
        }
    }

    /// No longer live (nor waiting under the flow's `concurrency`) here.
    fn unregister(&self) {
        let id = &self.exec.record().id;
        self.shared.live.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
        self.shared.admission.forget(id);
    }

    async fn finish(mut self) {
        self.abort_all();
        self.unregister();
        // Lines that arrived after the last commit.
        while let Ok(line) = self.logs_rx.try_recv() {
            self.pending_logs.push(line);
        }
        self.commit(&Turn::default()).await;
        self.announce_end();
        self.shared.admit_after_end(&flow_key(self.exec.flow())).await;
    }

    /// Tells whoever holds the execution's handle how it ended.
    fn announce_end(&self) {
        // The live entry's receiver is gone (unregistered): the rest are handles.
        let task_runs = if self.done_tx.receiver_count() > 0 {
            self.exec.task_runs().cloned().collect()
        } else {
            Vec::new()
        };
        let finished = super::Finished { record: self.exec.record().clone(), task_runs };
        let _ = self.done_tx.send(Some(Arc::new(finished)));
    }
}
