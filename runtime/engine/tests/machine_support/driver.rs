//! A test scheduler: applies events, persists each step's changes into an in-memory "store",
//! answers commands from a script, fires timers in `at` order, and checks invariants after
//! every step. `crash()` throws the machine away and restores it from the store.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sluice_engine::machine::{Command, Evaluate, Evaluation, Event, Execution, MachineError, Step, Timer};
use sluice_engine::{ExecutionRecord, ExecutionState, TaskRun, TaskRunKey, TaskRunState, Timestamp};
use sluice_flow::{Flow, Task, TaskKind};

use super::build::{record, t0};

/// How one dispatched attempt ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeed(Value),
    Fail { error: String, retryable: bool },
}

pub fn fails(error: &str) -> Outcome {
    Outcome::Fail { error: error.to_owned(), retryable: true }
}

pub fn fails_for_good(error: &str) -> Outcome {
    Outcome::Fail { error: error.to_owned(), retryable: false }
}

/// The answers the driver gives. Attempt outcomes are consumed in order per task id as the
/// answers are delivered (an attempt lost in a crash consumes nothing); once a task's list is
/// empty its attempts succeed with `{"from": "<run key>"}`.
#[derive(Debug, Clone)]
pub struct Script {
    pub outcomes: HashMap<String, VecDeque<Outcome>>,
    /// How long a dispatched attempt (or a waited-for subflow) takes; 1s by default.
    pub durations: HashMap<String, Duration>,
    pub evaluations: HashMap<(String, Evaluate), Result<Evaluation, String>>,
    /// Pauses resumed this long after they start, with these inputs.
    pub resumes: HashMap<String, (Duration, Value)>,
    pub subflows: HashMap<String, ExecutionState>,
    pub rendered: Result<Value, String>,
    pub kill_after: Option<Duration>,
    pub timeout_after: Option<Duration>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            outcomes: HashMap::new(),
            durations: HashMap::new(),
            evaluations: HashMap::new(),
            resumes: HashMap::new(),
            subflows: HashMap::new(),
            rendered: Ok(json!({ "result": "rendered" })),
            kill_after: None,
            timeout_after: None,
        }
    }
}

impl Script {
    pub fn outcome(mut self, task: &str, outcomes: Vec<Outcome>) -> Self {
        self.outcomes.insert(task.to_owned(), outcomes.into());
        self
    }
    pub fn duration(mut self, task: &str, duration: Duration) -> Self {
        self.durations.insert(task.to_owned(), duration);
        self
    }
    pub fn eval(mut self, task: &str, what: Evaluate, result: Result<Evaluation, String>) -> Self {
        self.evaluations.insert((task.to_owned(), what), result);
        self
    }
    pub fn resume(mut self, task: &str, after: Duration, inputs: Value) -> Self {
        self.resumes.insert(task.to_owned(), (after, inputs));
        self
    }

    fn evaluation(&self, run: &TaskRunKey, what: Evaluate) -> Result<Evaluation, String> {
        if let Some(result) = self.evaluations.get(&(run.task.clone(), what)) {
            return result.clone();
        }
        Ok(match what {
            Evaluate::RunIf | Evaluate::IfCondition => Evaluation::Bool(true),
            Evaluate::SwitchValue => Evaluation::Text("a".into()),
            Evaluate::ForEachValues => Evaluation::List(vec![json!("x"), json!("y"), json!("z")]),
            Evaluate::SleepDuration => Evaluation::Duration(Duration::from_secs(10)),
            Evaluate::FailMessage => Evaluation::Text(format!("{} says no", run.task)),
        })
    }

    fn duration_of(&self, task: &str) -> Duration {
        self.durations.get(task).copied().unwrap_or(Duration::from_secs(1))
    }
}

/// Something the driver will feed to the machine.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Answer { run: TaskRunKey, attempt: u32 },
    Evaluate { run: TaskRunKey, what: Evaluate },
    Timer { run: TaskRunKey, timer: Timer },
    SubflowStart { run: TaskRunKey },
    SubflowEnd { run: TaskRunKey },
    Cancelled { run: TaskRunKey, attempt: u32 },
    RenderOutputs,
    Resume { run: TaskRunKey },
    Kill,
    Timeout,
}

impl Item {
    /// Survives a crash of the engine: what comes from people, the clock of the flow, or a
    /// subflow execution that keeps running elsewhere.
    fn external(&self) -> bool {
        matches!(self, Item::Resume { .. } | Item::Kill | Item::Timeout | Item::SubflowEnd { .. })
    }
}

/// Where a task sits in the flow, computed here independently of the machine.
#[derive(Debug, Clone)]
pub struct Place {
    pub preds: Vec<String>,
    pub parent: Option<String>,
    pub task: Task,
}

pub fn places(flow: &Flow) -> HashMap<String, Place> {
    fn walk(tasks: &[Task], sequential: bool, parent: Option<&str>, out: &mut HashMap<String, Place>) {
        for (i, t) in tasks.iter().enumerate() {
            let preds = if !t.depends_on.is_empty() {
                t.depends_on.clone()
            } else if sequential && i > 0 {
                vec![tasks[i - 1].id.clone()]
            } else {
                Vec::new()
            };
            out.insert(t.id.clone(), Place { preds, parent: parent.map(str::to_owned), task: t.clone() });
            let child_sequential = !matches!(t.kind, TaskKind::Parallel { .. });
            for list in t.children() {
                walk(list, child_sequential, Some(&t.id), out);
            }
        }
    }
    let mut out = HashMap::new();
    walk(&flow.tasks, true, None, &mut out);
    walk(&flow.errors, true, None, &mut out);
    walk(&flow.finally, true, None, &mut out);
    out
}

pub fn event_now(event: &Event) -> Timestamp {
    match event {
        Event::Start { now }
        | Event::Queue { now }
        | Event::Refuse { now, .. }
        | Event::Evaluated { now, .. }
        | Event::TaskSucceeded { now, .. }
        | Event::TaskFailed { now, .. }
        | Event::TimerFired { now, .. }
        | Event::SubflowStarted { now, .. }
        | Event::SubflowFailed { now, .. }
        | Event::SubflowEnded { now, .. }
        | Event::Resume { now, .. }
        | Event::Kill { now }
        | Event::FlowTimedOut { now }
        | Event::TaskCancelled { now, .. }
        | Event::OutputsRendered { now, .. } => *now,
    }
}

pub struct Driver {
    pub flow: Arc<Flow>,
    pub exec: Execution,
    pub script: Script,
    pub now: Timestamp,
    queue: BTreeMap<(Timestamp, u64), Item>,
    seq: u64,
    /// The store: the record and runs as persisted after each step.
    pub stored_record: ExecutionRecord,
    pub stored_runs: Vec<TaskRun>,
    stored_index: HashMap<TaskRunKey, usize>,
    pub places: HashMap<String, Place>,
    pub dispatched: HashSet<(TaskRunKey, u32)>,
    /// Every command in order, with the step number.
    pub commands: Vec<(usize, Command)>,
    pub steps: usize,
    pub rejected: Vec<(Event, MachineError)>,
    /// Check the (quadratic) invariants after every step.
    pub checks: bool,
    pub finished: Option<ExecutionState>,
    pub crashes: usize,
    /// Queued items fed so far.
    pub fed: usize,
}

impl Driver {
    pub fn new(flow: Flow, script: Script) -> Self {
        Self::with_id(flow, script, "exec-1")
    }

    pub fn with_id(flow: Flow, script: Script, id: &str) -> Self {
        let flow = Arc::new(flow);
        let record = record(id);
        let exec = Execution::new(flow.clone(), record.clone());
        let places = places(&flow);
        Driver {
            flow,
            exec,
            script,
            now: t0(),
            queue: BTreeMap::new(),
            seq: 0,
            stored_record: record,
            stored_runs: Vec::new(),
            stored_index: HashMap::new(),
            places,
            dispatched: HashSet::new(),
            commands: Vec::new(),
            steps: 0,
            rejected: Vec::new(),
            checks: true,
            finished: None,
            crashes: 0,
            fed: 0,
        }
    }

    fn push(&mut self, due: Timestamp, item: Item) {
        self.seq += 1;
        self.queue.insert((due.max(self.now), self.seq), item);
    }

    pub fn start(&mut self) -> Step {
        if let Some(after) = self.script.kill_after {
            self.push(self.now + chrono::TimeDelta::from_std(after).expect("small"), Item::Kill);
        }
        if let Some(after) = self.script.timeout_after {
            self.push(self.now + chrono::TimeDelta::from_std(after).expect("small"), Item::Timeout);
        }
        self.apply(Event::Start { now: self.now }).expect("start is accepted")
    }

    /// Applies an event; on success persists and checks the step and queues the answers.
    pub fn apply(&mut self, event: Event) -> Result<Step, MachineError> {
        self.now = self.now.max(event_now(&event));
        match self.exec.apply(event.clone()) {
            Ok(step) => {
                self.absorb(step.clone());
                Ok(step)
            }
            Err(error) => {
                assert_eq!(self.exec.record(), &self.stored_record, "a rejected event changed the record");
                let runs: Vec<&TaskRun> = self.exec.task_runs().collect();
                assert_eq!(runs.len(), self.stored_runs.len(), "a rejected event changed the runs");
                if self.checks {
                    assert!(
                        runs.iter().zip(&self.stored_runs).all(|(a, b)| *a == b),
                        "a rejected event changed a run"
                    );
                }
                self.rejected.push((event, error.clone()));
                Err(error)
            }
        }
    }

    /// Persists a step, checks it, and turns its commands into queued answers.
    fn absorb(&mut self, step: Step) {
        self.steps += 1;
        self.persist(&step);
        let changed = step.changed_runs.clone();
        if self.checks {
            self.check_structure();
        }
        let count = step.commands.len();
        for (i, command) in step.commands.into_iter().enumerate() {
            self.commands.push((self.steps, command.clone()));
            match command {
                Command::Dispatch { run, attempt } => {
                    let r = self.exec.task_run(&run).expect("dispatched run exists");
                    assert_eq!(r.state, TaskRunState::Running, "dispatch of {run} in {}", r.state);
                    let last = r.attempts.last().expect("an attempt");
                    assert_eq!(
                        (last.number, last.state),
                        (attempt, TaskRunState::Running),
                        "attempt of {run}"
                    );
                    assert!(
                        self.dispatched.insert((run.clone(), attempt)),
                        "{run} attempt {attempt} dispatched twice"
                    );
                    let due = self.now
                        + chrono::TimeDelta::from_std(self.script.duration_of(&run.task)).expect("small");
                    self.push(due, Item::Answer { run, attempt });
                }
                Command::Evaluate { run, what } => self.push(self.now, Item::Evaluate { run, what }),
                Command::StartTimer { run, timer, at } => self.push(at, Item::Timer { run, timer }),
                Command::StartSubflow { run } => self.push(self.now, Item::SubflowStart { run }),
                Command::Cancel { run, attempt } => {
                    let pending = self
                        .queue
                        .iter()
                        .find(|(_, item)| **item == Item::Answer { run: run.clone(), attempt })
                        .map(|(k, _)| *k);
                    if let Some(k) = pending {
                        self.queue.remove(&k);
                    }
                    self.push(self.now, Item::Cancelled { run, attempt });
                }
                Command::RenderOutputs => self.push(self.now, Item::RenderOutputs),
                Command::Finished { state } => {
                    assert_eq!(i + 1, count, "Finished is the last command");
                    assert_eq!(self.exec.state(), state);
                    assert!(state.is_terminal());
                    assert!(self.exec.record().ended_at.is_some());
                    assert!(
                        self.exec.task_runs().all(|r| r.state.is_terminal()),
                        "a run outlived the execution"
                    );
                    assert!(self.finished.is_none(), "finished twice");
                    self.finished = Some(state);
                }
            }
        }
        // Pauses that just began get their scripted resume.
        let resumes: Vec<(TaskRunKey, Duration)> = changed
            .iter()
            .filter_map(|key| self.exec.task_run(key))
            .filter(|r| r.state == TaskRunState::Running && self.script.resumes.contains_key(&r.key.task))
            .filter(|r| r.started_at == Some(self.now))
            .filter(|r| matches!(self.places[&r.key.task].task.kind, TaskKind::Pause { .. }))
            .map(|r| (r.key.clone(), self.script.resumes[&r.key.task].0))
            .collect();
        for (run, after) in resumes {
            let already = self.queue.values().any(|i| *i == Item::Resume { run: run.clone() });
            if !already {
                self.push(
                    self.now + chrono::TimeDelta::from_std(after).expect("small"),
                    Item::Resume { run },
                );
            }
        }
        if self.exec.state().is_terminal() {
            assert_eq!(self.finished, Some(self.exec.state()), "terminal without Finished");
        }
    }

    fn persist(&mut self, step: &Step) {
        let mut seen = HashSet::new();
        for key in &step.changed_runs {
            assert!(seen.insert(key.clone()), "{key} listed twice in one step");
            let run = self.exec.task_run(key).expect("a changed run exists").clone();
            match self.stored_index.get(key) {
                Some(&i) => {
                    let old = &self.stored_runs[i];
                    assert!(!old.state.is_terminal(), "terminal run {key} changed: {old:?} -> {run:?}");
                    self.stored_runs[i] = run;
                }
                None => {
                    if self.checks {
                        self.check_new_run(&run);
                    }
                    self.stored_index.insert(key.clone(), self.stored_runs.len());
                    self.stored_runs.push(run);
                }
            }
        }
        if !step.execution_changed {
            assert_eq!(self.exec.record(), &self.stored_record, "record changed without execution_changed");
        }
        self.stored_record = self.exec.record().clone();
        // The store holds exactly what the machine holds.
        let runs: Vec<&TaskRun> = self.exec.task_runs().collect();
        assert_eq!(runs.len(), self.stored_runs.len(), "a created run was not listed");
        if self.checks {
            for (machine, stored) in runs.iter().zip(&self.stored_runs) {
                assert_eq!(*machine, stored, "run {} changed without being listed", stored.key);
            }
        }
    }

    /// A run that appears: its parent runs, its predecessors ended well.
    fn check_new_run(&self, run: &TaskRun) {
        let place = &self.places[&run.key.task];
        match (&place.parent, &run.parent) {
            (None, None) => assert!(run.key.iterations.is_empty()),
            (Some(parent_task), Some(parent)) => {
                assert_eq!(&parent.task, parent_task, "parent of {}", run.key);
                let p = self.exec.task_run(parent).expect("parent exists");
                // Running, or it ended in this very step (e.g. its only child was skipped).
                let open = p.state == TaskRunState::Running || p.ended_at == Some(self.now);
                assert!(open, "parent of new run {} is {}", run.key, p.state);
            }
            other => panic!("parent of {}: {other:?}", run.key),
        }
        for pred in &place.preds {
            let key = TaskRunKey { task: pred.clone(), iterations: run.key.iterations.clone() };
            let p = self
                .exec
                .task_run(&key)
                .unwrap_or_else(|| panic!("{} started before {key} existed", run.key));
            assert!(
                matches!(p.state, TaskRunState::Success | TaskRunState::Warning | TaskRunState::Skipped),
                "{} started while predecessor {key} is {}",
                run.key,
                p.state
            );
        }
    }

    /// Concurrency limits of parallel lists and loops.
    fn check_structure(&self) {
        let mut children: HashMap<&TaskRunKey, Vec<&TaskRun>> = HashMap::new();
        for r in self.exec.task_runs() {
            if let Some(parent) = &r.parent {
                children.entry(parent).or_default().push(r);
            }
        }
        for (parent, kids) in children {
            let active: Vec<&&TaskRun> = kids.iter().filter(|r| !r.state.is_terminal()).collect();
            match &self.places[&parent.task].task.kind {
                TaskKind::Parallel { concurrency, .. } if *concurrency > 0 => {
                    assert!(active.len() <= *concurrency as usize, "{parent}: {} running", active.len());
                }
                TaskKind::ForEach { concurrency, .. } if *concurrency > 0 => {
                    let iterations: HashSet<u32> =
                        active.iter().filter_map(|r| r.key.iterations.last().copied()).collect();
                    assert!(iterations.len() <= *concurrency as usize, "{parent}: iterations {iterations:?}");
                }
                _ => {}
            }
        }
    }

    /// Feeds the next queued item; false when the queue is empty.
    pub fn next(&mut self) -> bool {
        let Some(((due, _), item)) = self.queue.pop_first() else { return false };
        self.fed += 1;
        self.now = self.now.max(due);
        let now = self.now;
        let event = match item {
            Item::Answer { run, attempt } => {
                let outcome = self.script.outcomes.get_mut(&run.task).and_then(VecDeque::pop_front);
                match outcome {
                    Some(Outcome::Fail { error, retryable }) => {
                        Event::TaskFailed { run, attempt, now, error, retryable }
                    }
                    Some(Outcome::Succeed(outputs)) => Event::TaskSucceeded { run, attempt, now, outputs },
                    None => {
                        let outputs = json!({ "from": run.to_string() });
                        Event::TaskSucceeded { run, attempt, now, outputs }
                    }
                }
            }
            Item::Evaluate { run, what } => {
                let result = self.script.evaluation(&run, what);
                Event::Evaluated { run, now, result }
            }
            Item::Timer { run, timer } => Event::TimerFired { run, timer, now },
            Item::SubflowStart { run } => {
                let event =
                    Event::SubflowStarted { run: run.clone(), execution_id: format!("sub-{run}"), now };
                if self.apply(event).is_ok() && self.exec.run_state(&run) == Some(TaskRunState::Running) {
                    let due =
                        now + chrono::TimeDelta::from_std(self.script.duration_of(&run.task)).expect("small");
                    self.push(due, Item::SubflowEnd { run });
                }
                return true;
            }
            Item::SubflowEnd { run } => {
                let state = self.script.subflows.get(&run.task).copied().unwrap_or(ExecutionState::Success);
                Event::SubflowEnded {
                    run: run.clone(),
                    now,
                    state,
                    outputs: json!({ "child": run.to_string() }),
                }
            }
            Item::Cancelled { run, attempt } => Event::TaskCancelled { run, attempt, now },
            Item::RenderOutputs => Event::OutputsRendered { now, result: self.script.rendered.clone() },
            Item::Resume { run } => {
                let inputs = self.script.resumes.get(&run.task).map(|r| r.1.clone()).unwrap_or(json!({}));
                Event::Resume { run: Some(run), now, inputs }
            }
            Item::Kill => Event::Kill { now },
            Item::Timeout => Event::FlowTimedOut { now },
        };
        let _ = self.apply(event);
        true
    }

    /// Runs until the execution ends; panics if it gets stuck.
    pub fn run(&mut self) -> ExecutionState {
        if self.exec.state() == ExecutionState::Created {
            self.start();
        }
        while !self.exec.state().is_terminal() {
            assert!(self.next(), "stuck in {} with nothing queued", self.exec.state());
            assert!(self.steps < 1_000_000, "runaway execution");
        }
        self.exec.state()
    }

    /// Feeds up to `count` more queued items.
    pub fn run_steps(&mut self, count: usize) {
        if self.exec.state() == ExecutionState::Created {
            self.start();
        }
        for _ in 0..count {
            if self.exec.state().is_terminal() || !self.next() {
                break;
            }
        }
    }

    /// The engine dies: in-flight answers are lost, the machine is rebuilt from the store.
    pub fn crash(&mut self) -> Step {
        self.crashes += 1;
        self.queue.retain(|_, item| item.external());
        let (exec, step) = Execution::restore(
            self.flow.clone(),
            self.stored_record.clone(),
            self.stored_runs.clone(),
            self.now,
        );
        self.exec = exec;
        // Restoring is not an answer to anything: it must not create what the store lacks
        // beyond what it reports.
        self.absorb(step.clone());
        step
    }

    pub fn state_of(&self, run: &str) -> Option<TaskRunState> {
        self.exec.run_state(&run.parse().expect("a run key"))
    }

    pub fn run_of(&self, run: &str) -> &TaskRun {
        self.exec.task_run(&run.parse().expect("a run key")).unwrap_or_else(|| panic!("no run {run}"))
    }

    /// `key -> state` of every run.
    pub fn states(&self) -> BTreeMap<String, TaskRunState> {
        self.exec.task_runs().map(|r| (r.key.to_string(), r.state)).collect()
    }

    /// The run keys of the `Dispatch` commands, in order.
    pub fn dispatch_order(&self) -> Vec<String> {
        self.commands
            .iter()
            .filter_map(|(_, c)| match c {
                Command::Dispatch { run, .. } => Some(run.to_string()),
                _ => None,
            })
            .collect()
    }

    /// The steps at which each run was dispatched (first attempt).
    pub fn dispatch_step(&self, run: &str) -> usize {
        self.commands
            .iter()
            .find_map(|(step, c)| match c {
                Command::Dispatch { run: r, .. } if r.to_string() == run => Some(*step),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{run} never dispatched"))
    }

    pub fn timers(&self) -> Vec<(String, Timer, Timestamp)> {
        self.commands
            .iter()
            .filter_map(|(_, c)| match c {
                Command::StartTimer { run, timer, at } => Some((run.to_string(), *timer, *at)),
                _ => None,
            })
            .collect()
    }
}
