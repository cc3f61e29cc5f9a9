//! Property tests over random flows: random nesting of sequential and parallel lists, random
//! `dependsOn` edges (to earlier siblings, so the graph is acyclic), random failures, retries,
//! `allowFailure` and disabled tasks. The driver checks after every step that runs start only
//! after their predecessors ended well, that parallel limits hold, that each attempt is
//! dispatched once and that the store matches the machine. Here: the execution ends, in the state
//! the rules predict, and a crash at a random point reaches the same end.
#![allow(clippy::unwrap_used)]

mod machine_support;

use machine_support::*;
use proptest::prelude::*;
use serde_json::json;
use sluice_engine::machine::{Evaluation, Event, Timer};
use sluice_engine::{ExecutionState, TaskRunKey, TaskRunState};
use sluice_flow::{RetryKind, Task};

#[derive(Debug, Clone)]
struct Leaf {
    /// Retryable failures before the first success.
    failures: u32,
    /// Fails for good (not retryable) instead.
    broken: bool,
    max_attempts: Option<u32>,
    allow_failure: bool,
    disabled: bool,
    seconds: u64,
}

#[derive(Debug, Clone)]
enum Shape {
    Leaf(Leaf),
    List { parallel: bool, concurrency: u32, allow_failure: bool, children: Vec<(Shape, u8)> },
}

fn leaf() -> impl Strategy<Value = Shape> {
    (
        prop_oneof![16 => Just(0u32), 2 => 1u32..3],
        prop::bool::weighted(0.02),
        prop::option::weighted(0.6, 1u32..4),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.08),
        1u64..4,
    )
        .prop_map(|(failures, broken, max_attempts, allow_failure, disabled, seconds)| {
            Shape::Leaf(Leaf { failures, broken, max_attempts, allow_failure, disabled, seconds })
        })
}

fn shape() -> impl Strategy<Value = Shape> {
    leaf().prop_recursive(3, 30, 5, |inner| {
        (
            any::<bool>(),
            0u32..3,
            prop::bool::weighted(0.15),
            prop::collection::vec((inner, any::<u8>()), 1..5),
        )
            .prop_map(|(parallel, concurrency, allow_failure, children)| Shape::List {
                parallel,
                concurrency,
                allow_failure,
                children,
            })
    })
}

fn list() -> impl Strategy<Value = Vec<(Shape, u8)>> {
    prop::collection::vec((shape(), any::<u8>()), 1..5)
}

/// The explicit `dependsOn` of child `i`: earlier siblings picked by the mask (half the masks
/// pick none, leaving the list's default order).
fn deps_of(i: usize, mask: u8) -> Vec<usize> {
    if mask & 0x80 == 0 {
        return Vec::new();
    }
    (0..i).filter(|j| mask & (1 << (j % 7)) != 0).collect()
}

fn preds_of(i: usize, mask: u8, sequential: bool) -> Vec<usize> {
    let deps = deps_of(i, mask);
    if !deps.is_empty() {
        deps
    } else if sequential && i > 0 {
        vec![i - 1]
    } else {
        Vec::new()
    }
}

fn build(children: &[(Shape, u8)], counter: &mut usize, script: &mut Script) -> Vec<Task> {
    let mut ids: Vec<String> = Vec::new();
    let mut tasks = Vec::new();
    for (i, (shape, mask)) in children.iter().enumerate() {
        let id = format!("t{counter}");
        *counter += 1;
        let mut task = match shape {
            Shape::Leaf(l) => {
                let mut t = plugin(&id);
                if let Some(max) = l.max_attempts {
                    t = t.retry(retry(RetryKind::Constant, max, 2));
                }
                let mut outcomes: Vec<Outcome> = (0..l.failures).map(|_| fails("flaky")).collect();
                if l.broken {
                    outcomes = vec![fails_for_good("broken")];
                }
                *script = std::mem::take(script).outcome(&id, outcomes).duration(&id, secs(l.seconds));
                if l.allow_failure {
                    t = t.allow_failure();
                }
                if l.disabled {
                    t = t.disabled();
                }
                t
            }
            Shape::List { parallel, concurrency, allow_failure, children } => {
                let kids = build(children, counter, script);
                let t = if *parallel { par(&id, *concurrency, kids) } else { seq(&id, kids) };
                if *allow_failure { t.allow_failure() } else { t }
            }
        };
        let deps: Vec<&str> = deps_of(i, *mask).into_iter().map(|j| ids[j].as_str()).collect();
        if !deps.is_empty() {
            task = task.after(&deps);
        }
        ids.push(id);
        tasks.push(task);
    }
    tasks
}

/// The state the rules give a task when nothing stops the list early, and whether a WARNING
/// appears in it.
fn predict(shape: &Shape) -> (TaskRunState, bool) {
    match shape {
        Shape::Leaf(l) => {
            if l.disabled {
                return (TaskRunState::Skipped, false);
            }
            let ok = !l.broken && l.failures < l.max_attempts.unwrap_or(1);
            match (ok, l.allow_failure) {
                (true, _) => (TaskRunState::Success, false),
                (false, true) => (TaskRunState::Warning, true),
                (false, false) => (TaskRunState::Failed, false),
            }
        }
        Shape::List { parallel, allow_failure, children, .. } => {
            let (state, warned) = predict_list(children, !parallel);
            match (state, allow_failure) {
                (TaskRunState::Failed, true) => (TaskRunState::Warning, true),
                _ => (state, warned),
            }
        }
    }
}

fn predict_list(children: &[(Shape, u8)], sequential: bool) -> (TaskRunState, bool) {
    let mut states: Vec<Option<TaskRunState>> = Vec::new();
    let mut warned = false;
    for (i, (shape, mask)) in children.iter().enumerate() {
        let runs = preds_of(i, *mask, sequential).iter().all(|&p| {
            matches!(states[p], Some(TaskRunState::Success | TaskRunState::Warning | TaskRunState::Skipped))
        });
        if runs {
            let (state, w) = predict(shape);
            warned |= w;
            states.push(Some(state));
        } else {
            states.push(None);
        }
    }
    let state = if states.contains(&Some(TaskRunState::Failed)) {
        TaskRunState::Failed
    } else if warned || states.contains(&Some(TaskRunState::Warning)) {
        TaskRunState::Warning
    } else {
        TaskRunState::Success
    };
    (state, warned || state == TaskRunState::Warning)
}

fn predict_execution(main: &[(Shape, u8)], finally: &[(Shape, u8)]) -> ExecutionState {
    let (main_state, main_warned) = predict_list(main, true);
    if main_state == TaskRunState::Failed {
        return ExecutionState::Failed;
    }
    let (finally_state, finally_warned) = predict_list(finally, true);
    if finally_state == TaskRunState::Failed {
        ExecutionState::Failed
    } else if main_warned || finally_warned {
        ExecutionState::Warning
    } else {
        ExecutionState::Success
    }
}

fn make(
    main: &[(Shape, u8)],
    errors: &[(Shape, u8)],
    finally: &[(Shape, u8)],
    outputs: bool,
) -> (sluice_flow::Flow, Script) {
    let mut script = Script::default();
    let mut counter = 0;
    let tasks = build(main, &mut counter, &mut script);
    let errors = build(errors, &mut counter, &mut script);
    let finally = build(finally, &mut counter, &mut script);
    let mut f = flow(tasks).errors(errors).finally(finally);
    if outputs {
        f = f.outputs();
    }
    (f, script)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_flows_end_as_the_rules_say_even_after_a_crash(
        main in list(),
        errors in prop::collection::vec((shape(), any::<u8>()), 0..3),
        finally in prop::collection::vec((shape(), any::<u8>()), 0..3),
        outputs in any::<bool>(),
        crash_at in 0.0f64..1.0,
    ) {
        let expected = predict_execution(&main, &finally);
        let (f, script) = make(&main, &errors, &finally, outputs);
        let mut base = Driver::new(f, script);
        let state = base.run();
        prop_assert_eq!(state, expected);
        if state == ExecutionState::Failed {
            let error = base.exec.record().error.clone().unwrap();
            prop_assert!(error.starts_with("task `t"), "{}", error);
        } else {
            prop_assert_eq!(base.exec.record().error.clone(), None);
        }
        let main_ok = predict_list(&main, true).0 != TaskRunState::Failed;
        prop_assert_eq!(base.exec.record().outputs.is_some(), outputs && main_ok);

        let point = (crash_at * base.fed as f64) as usize;
        let (f, script) = make(&main, &errors, &finally, outputs);
        let mut crashed = Driver::new(f, script);
        crashed.run_steps(point);
        if !crashed.exec.state().is_terminal() {
            crashed.crash();
        }
        prop_assert_eq!(crashed.run(), expected);
        prop_assert_eq!(crashed.exec.record().outputs.clone(), base.exec.record().outputs.clone());
        if state != ExecutionState::Failed {
            // Without a failure nothing depends on timing: the same runs end the same way.
            prop_assert_eq!(crashed.states(), base.states());
        }
    }
}

/// A flow with every kind of task, for the random-event test.
fn every_kind() -> sluice_flow::Flow {
    flow(vec![
        plugin("a").retry(retry(RetryKind::Exponential, 3, 1)),
        par(
            "fan",
            2,
            vec![
                plugin("b").run_if(),
                subflow("sub", true),
                subflow("fire", false),
                pause("gate", Some(secs(9))),
            ],
        ),
        for_each("each", 2, vec![plugin("x"), for_each("inner", 0, vec![plugin("y")])]).timeout(secs(40)),
        if_("check", vec![sleep("nap").timeout(secs(5))], vec![fail("stop")]),
        switch("env", vec![("a", vec![plugin("sw")])], vec![plugin("other")]),
    ])
    .errors(vec![plugin("e")])
    .finally(vec![plugin("f")])
    .outputs()
}

const TASKS: [&str; 17] = [
    "a", "fan", "b", "sub", "fire", "gate", "each", "x", "inner", "y", "check", "nap", "stop", "env", "sw",
    "other", "e",
];

#[derive(Debug, Clone)]
enum Op {
    /// Let the scripted scheduler answer the next thing.
    Next,
    Crash,
    Event(u8, u8, u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Next),
        1 => Just(Op::Crash),
        4 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c, d)| Op::Event(a, b, c, d)),
    ]
}

/// An arbitrary event about an arbitrary run; most do not fit and must be rejected cleanly.
fn arbitrary_event(d: &Driver, kind: u8, task: u8, index: u8, extra: u8) -> Event {
    let now = d.now;
    // Mostly about a run that is still open (so answers often fit), else about any name.
    let open: Vec<(TaskRunKey, u32)> = d
        .exec
        .task_runs()
        .filter(|r| !r.state.is_terminal())
        .map(|r| (r.key.clone(), r.attempts.len() as u32))
        .collect();
    let (run, attempt) = if !open.is_empty() && !index.is_multiple_of(4) {
        let (key, attempts) = open[task as usize % open.len()].clone();
        (key, attempts.max(1) + u32::from(extra.is_multiple_of(4)))
    } else {
        let iterations = match index % 3 {
            0 => Vec::new(),
            1 => vec![u32::from(extra % 3)],
            _ => vec![u32::from(extra % 3), u32::from(index % 2)],
        };
        (TaskRunKey::in_iteration(TASKS[task as usize % TASKS.len()], iterations), u32::from(extra % 3) + 1)
    };
    let states =
        [ExecutionState::Success, ExecutionState::Failed, ExecutionState::Warning, ExecutionState::Killed];
    let evaluation = match extra % 6 {
        0 => Ok(Evaluation::Bool(index.is_multiple_of(2))),
        1 => Ok(Evaluation::Text(["a", "b", "zzz"][index as usize % 3].into())),
        2 => Ok(Evaluation::List((0..index % 4).map(|i| json!(i)).collect())),
        3 => Ok(Evaluation::Duration(secs(u64::from(index % 5)))),
        4 => Err("template error".into()),
        _ => Ok(Evaluation::Bool(true)),
    };
    let timers = [Timer::Retry { attempt }, Timer::Sleep, Timer::PauseTimeout, Timer::TaskTimeout];
    match kind % 24 {
        0 => Event::Start { now },
        1 => Event::Queue { now },
        2 => Event::Kill { now },
        3 => Event::FlowTimedOut { now },
        4 | 5 => Event::Resume {
            run: (!index.is_multiple_of(2)).then_some(run),
            now,
            inputs: json!({ "approved": true }),
        },
        6 | 7 => Event::TaskSucceeded { run, attempt, now, outputs: json!({ "n": extra }) },
        8 | 9 => {
            Event::TaskFailed { run, attempt, now, error: "boom".into(), retryable: index.is_multiple_of(2) }
        }
        10 | 11 => Event::TaskCancelled { run, attempt, now },
        12..=15 => Event::Evaluated { run, now, result: evaluation },
        16 | 17 => Event::TimerFired { run, timer: timers[extra as usize % 4], now },
        18 | 19 => Event::SubflowStarted { run, execution_id: format!("c{extra}"), now },
        20 | 21 => Event::SubflowEnded { run, now, state: states[extra as usize % 4], outputs: json!({}) },
        22 => Event::OutputsRendered {
            now,
            result: if index.is_multiple_of(2) { Ok(json!({})) } else { Err("bad".into()) },
        },
        _ => Event::Refuse { now, state: states[extra as usize % 4], reason: "no".into() },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Whatever arrives, in whatever order, with crashes in between: no panic, a rejected event
    /// changes nothing, the store always matches the machine, finished runs never change, and
    /// the execution can still be driven to an end.
    #[test]
    fn arbitrary_events_never_break_the_machine(ops in prop::collection::vec(op(), 1..80)) {
        let script = Script::default().resume("gate", secs(3), json!({ "approved": true }));
        let mut d = Driver::new(every_kind(), script);
        for op in ops {
            if d.exec.state().is_terminal() {
                break;
            }
            match op {
                Op::Next => {
                    if d.exec.state() == ExecutionState::Created {
                        d.start();
                    } else {
                        d.next();
                    }
                }
                Op::Crash => {
                    d.crash();
                }
                Op::Event(kind, task, index, extra) => {
                    let event = arbitrary_event(&d, kind, task, index, extra);
                    let _ = d.apply(event);
                }
            }
        }
        // Whatever happened, a scheduler that answers what is asked finishes the execution.
        if !d.exec.state().is_terminal() && !matches!(d.exec.state(), ExecutionState::Created | ExecutionState::Queued) {
            let _ = d.apply(Event::Kill { now: d.now });
            d.run();
        }
    }
}
