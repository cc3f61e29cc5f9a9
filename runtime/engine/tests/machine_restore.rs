//! Restore: rebuilding from the records after any step continues to the same end, never runs a
//! finished task again, and asks again for exactly what was pending.
#![allow(clippy::unwrap_used)]

mod machine_support;

use std::collections::{BTreeMap, HashSet};

use machine_support::*;
use serde_json::{Value, json};
use sluice_engine::machine::{Command, Evaluate, Evaluation, Event, Execution, Timer};
use sluice_engine::{ExecutionState, TaskRunKey, TaskRunState};
use sluice_flow::{Flow, RetryKind};

fn key(text: &str) -> TaskRunKey {
    text.parse().unwrap()
}

#[derive(Debug, PartialEq)]
struct Summary {
    state: ExecutionState,
    outputs: Option<Value>,
    error: Option<String>,
    runs: BTreeMap<String, TaskRunState>,
    run_outputs: BTreeMap<String, Option<Value>>,
}

fn summary(d: &Driver, with_runs: bool) -> Summary {
    let record = d.exec.record();
    let (runs, run_outputs) = if with_runs {
        (d.states(), d.exec.task_runs().map(|r| (r.key.to_string(), r.outputs.clone())).collect())
    } else {
        (BTreeMap::new(), BTreeMap::new())
    };
    Summary {
        state: record.state,
        outputs: record.outputs.clone(),
        error: record.error.clone(),
        runs,
        run_outputs,
    }
}

/// Runs the scenario once without a crash, then once per point of the run with a crash (and
/// an immediate second one) there, and compares the ends.
fn crash_everywhere(make: impl Fn() -> (Flow, Script), with_runs: bool, expected: ExecutionState) -> Driver {
    let (f, s) = make();
    let mut base = Driver::new(f, s);
    assert_eq!(base.run(), expected);
    let want = summary(&base, with_runs);
    let mut crashed = 0;
    for point in 0..=base.fed {
        for twice in [false, true] {
            let (f, s) = make();
            let mut d = Driver::new(f, s);
            d.run_steps(point);
            if d.exec.state().is_terminal() {
                continue;
            }
            let ended_before: HashSet<String> =
                d.stored_runs.iter().filter(|r| r.state.is_terminal()).map(|r| r.key.to_string()).collect();
            let from = d.commands.len();
            crashed += 1;
            d.crash();
            if twice {
                d.crash();
            }
            d.run();
            for (_, command) in &d.commands[from..] {
                if let Command::Dispatch { run, .. } = command {
                    assert!(
                        !ended_before.contains(&run.to_string()),
                        "{run} ran again after a crash at {point}"
                    );
                }
            }
            assert_eq!(summary(&d, with_runs), want, "crash after {point} items (twice: {twice})");
        }
    }
    assert!(crashed >= 2 * base.fed, "crashed {crashed} times over {} items", base.fed);
    base
}

fn mixed() -> (Flow, Script) {
    let f = flow(vec![
        plugin("a"),
        par(
            "fan",
            2,
            vec![
                plugin("b").retry(retry(RetryKind::Constant, 3, 4)),
                plugin("c"),
                plugin("d").after(&["c"]),
                subflow("sub", true),
                subflow("fire", false),
            ],
        ),
        for_each("each", 2, vec![seq("body", vec![plugin("x"), plugin("y").run_if()]), plugin("w")]),
        if_("check", vec![plugin("then")], vec![plugin("else")]),
        switch("env", vec![("a", vec![sleep("nap")]), ("b", vec![plugin("nope")])], vec![]),
        pause("gate", Some(secs(1000))),
        plugin("off").disabled(),
        plugin("last"),
    ])
    .finally(vec![plugin("fin")])
    .outputs();
    let script = Script::default()
        .outcome("b", vec![fails("flaky"), fails("flaky")])
        .duration("sub", secs(3))
        .duration("x", secs(2))
        .eval("y", Evaluate::RunIf, Ok(Evaluation::Bool(false)))
        .resume("gate", secs(20), json!({ "approved": true }));
    (f, script)
}

#[test]
fn a_mixed_flow_reaches_the_same_end_from_a_crash_anywhere() {
    let base = crash_everywhere(mixed, true, ExecutionState::Success);
    assert!(base.fed >= 30, "{}", base.fed);
    assert_eq!(base.run_of("b").attempts.len(), 3);
    assert_eq!(base.state_of("y[1]"), Some(TaskRunState::Skipped));
    assert_eq!(base.state_of("off"), Some(TaskRunState::Skipped));
    assert_eq!(base.state_of("nap"), Some(TaskRunState::Success));
    assert_eq!(base.state_of("else"), None);
    assert_eq!(base.run_of("gate").outputs, Some(json!({ "approved": true })));
    assert_eq!(base.run_of("fire").outputs, Some(json!({ "executionId": "sub-fire" })));
    assert_eq!(base.exec.task_runs().count(), 28);
}

#[test]
fn a_failing_flow_reaches_the_same_end_from_a_crash_anywhere() {
    let make = || {
        let f = flow(vec![plugin("a"), seq("s", vec![plugin("b"), plugin("c")]), plugin("d")])
            .errors(vec![plugin("e")])
            .finally(vec![plugin("f")]);
        (f, Script::default().outcome("b", vec![fails_for_good("broken")]))
    };
    crash_everywhere(make, true, ExecutionState::Failed);
}

#[test]
fn nested_loops_and_warnings_reach_the_same_end_from_a_crash_anywhere() {
    let make = || {
        let inner = for_each("inner", 0, vec![plugin("leaf"), plugin("soft").allow_failure()]);
        let f = flow(vec![for_each("outer", 1, vec![inner, plugin("after")])]);
        let script = Script::default()
            .eval("outer", Evaluate::ForEachValues, Ok(Evaluation::List(vec![json!(1), json!(2)])))
            .eval("inner", Evaluate::ForEachValues, Ok(Evaluation::List(vec![json!("p"), json!("q")])))
            .outcome("soft", vec![fails_for_good("meh")]);
        (f, script)
    };
    crash_everywhere(make, true, ExecutionState::Warning);
}

#[test]
fn kill_and_timeout_reach_the_same_end_from_a_crash_anywhere() {
    let make_kill = || {
        let mut script = Script::default().duration("slow", secs(30));
        script.kill_after = Some(secs(5));
        (
            flow(vec![plugin("a"), par("p", 0, vec![plugin("slow"), pause("gate", None)])])
                .finally(vec![plugin("f")]),
            script,
        )
    };
    crash_everywhere(make_kill, false, ExecutionState::Killed);
    let make_timeout = || {
        let mut script = Script::default().duration("slow", secs(30));
        script.timeout_after = Some(secs(5));
        let f = flow(vec![plugin("a"), plugin("slow"), plugin("never")])
            .errors(vec![plugin("e")])
            .finally(vec![plugin("f")])
            .timeout(secs(5));
        (f, script)
    };
    crash_everywhere(make_timeout, true, ExecutionState::Failed);
}

#[test]
fn a_pause_timeout_and_a_fail_task_reach_the_same_end_from_a_crash_anywhere() {
    let make = || {
        let f =
            flow(vec![plugin("a"), fail("soft").allow_failure(), pause("gate", Some(secs(50))), plugin("b")]);
        (f, Script::default())
    };
    let base = crash_everywhere(make, true, ExecutionState::Failed);
    assert_eq!(base.state_of("soft"), Some(TaskRunState::Warning));
    assert_eq!(base.run_of("gate").error.as_deref(), Some("not resumed within 50s"));
}

#[test]
fn a_failure_while_a_branch_still_runs_reaches_the_same_end_from_a_crash_anywhere() {
    let make = || {
        let branches =
            par("p", 0, vec![seq("left", vec![plugin("x")]), seq("right", vec![plugin("y"), plugin("z")])]);
        let script = Script::default().outcome("x", vec![fails_for_good("broken")]).duration("y", secs(3));
        (flow(vec![branches]).errors(vec![plugin("e")]).finally(vec![plugin("f")]), script)
    };
    let base = crash_everywhere(make, true, ExecutionState::Failed);
    assert_eq!(base.state_of("y"), Some(TaskRunState::Success));
    assert_eq!(base.state_of("z"), None);
    assert_eq!(base.state_of("e"), Some(TaskRunState::Success));
}

#[test]
fn a_running_attempt_is_dispatched_again_and_does_not_count_as_a_try() {
    let script = Script::default().outcome("a", vec![fails("once")]);
    let mut d = Driver::new(flow(vec![plugin("a").retry(retry(RetryKind::Constant, 2, 10))]), script);
    d.start();
    let step = d.crash();
    assert_eq!(step.commands, vec![Command::Dispatch { run: key("a"), attempt: 2 }]);
    assert_eq!(step.changed_runs, vec![key("a")]);
    let first = &d.run_of("a").attempts[0];
    assert_eq!(
        (first.state, first.error.as_deref()),
        (TaskRunState::Failed, Some("interrupted: its server stopped or lost the execution"))
    );
    // Attempt 2 fails, and still one more try is left: the interrupted one did not count.
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.run_of("a").attempts.len(), 3);
}

#[test]
fn pending_timers_are_asked_for_again_for_the_same_instant() {
    let script = Script::default().outcome("r", vec![fails("x")]).eval(
        "nap",
        Evaluate::SleepDuration,
        Ok(Evaluation::Duration(secs(40))),
    );
    let f = flow(vec![par(
        "p",
        0,
        vec![
            plugin("r").retry(retry(RetryKind::Exponential, 3, 7)),
            sleep("nap"),
            pause("gate", Some(secs(90))),
        ],
    )]);
    let mut d = Driver::new(f, script);
    d.start();
    while d.state_of("r") != Some(TaskRunState::Retrying) {
        assert!(d.next());
    }
    d.now = at(5);
    let step = d.crash();
    assert_eq!(
        step.commands,
        vec![
            Command::StartTimer { run: key("r"), timer: Timer::Retry { attempt: 2 }, at: at(8) },
            Command::Evaluate { run: key("nap"), what: Evaluate::SleepDuration },
            Command::StartTimer { run: key("gate"), timer: Timer::PauseTimeout, at: at(90) },
        ]
    );
    assert!(step.changed_runs.is_empty());
    assert!(d.next());
    assert_eq!(d.timers().last().unwrap(), &("nap".to_owned(), Timer::Sleep, at(40)));
    assert_eq!(d.exec.state(), ExecutionState::Running);
}

#[test]
fn subflows_are_started_again_only_when_no_id_was_recorded() {
    let f = flow(vec![par("p", 0, vec![subflow("one", true), subflow("two", true)])]);
    let mut d = Driver::new(f, Script::default());
    d.start();
    d.apply(Event::SubflowStarted { run: key("one"), execution_id: "c1".into(), now: at(0) }).unwrap();
    let step = d.crash();
    assert_eq!(step.commands, vec![Command::StartSubflow { run: key("two") }]);
    d.apply(Event::SubflowEnded {
        run: key("one"),
        now: at(1),
        state: ExecutionState::Success,
        outputs: json!({ "v": 1 }),
    })
    .unwrap();
    assert_eq!(d.run_of("one").outputs, Some(json!({ "v": 1 })));
}

#[test]
fn a_killing_execution_ends_killed_on_restore() {
    let mut d = Driver::new(flow(vec![par("p", 0, vec![plugin("a"), plugin("b")])]), Script::default());
    d.start();
    d.apply(Event::Kill { now: at(0) }).unwrap();
    assert_eq!(d.exec.state(), ExecutionState::Killing);
    d.now = at(3);
    let step = d.crash();
    assert_eq!(step.commands, vec![Command::Finished { state: ExecutionState::Killed }]);
    assert_eq!(d.state_of("a"), Some(TaskRunState::Killed));
    assert_eq!(d.run_of("a").attempts[0].ended_at, Some(at(3)));
    assert_eq!(d.state_of("p"), Some(TaskRunState::Killed));
}

#[test]
fn a_timed_out_execution_kills_what_was_cancelled_and_runs_errors() {
    let f = flow(vec![plugin("a")]).errors(vec![plugin("e")]);
    let mut d = Driver::new(f, Script::default());
    d.start();
    d.apply(Event::FlowTimedOut { now: at(0) }).unwrap();
    let step = d.crash();
    assert_eq!(step.commands, vec![Command::Dispatch { run: key("e"), attempt: 1 }]);
    assert_eq!(d.state_of("a"), Some(TaskRunState::Killed));
    assert_eq!(d.run(), ExecutionState::Failed);
}

#[test]
fn outputs_being_rendered_are_asked_for_again() {
    let mut d = Driver::new(flow(vec![plugin("a")]).outputs(), Script::default());
    d.start();
    d.apply(Event::TaskSucceeded { run: key("a"), attempt: 1, now: at(1), outputs: json!({}) }).unwrap();
    let step = d.crash();
    assert_eq!(step.commands, vec![Command::RenderOutputs]);
    assert_eq!(d.run(), ExecutionState::Success);
}

#[test]
fn a_finished_or_unstarted_execution_restores_without_commands() {
    let mut d = Driver::new(flow(vec![for_each("loop", 0, vec![plugin("a")])]), Script::default());
    assert_eq!(d.run(), ExecutionState::Success);
    let (restored, step) =
        Execution::restore(d.flow.clone(), d.stored_record.clone(), d.stored_runs.clone(), at(100));
    assert_eq!(step, Default::default());
    assert_eq!(restored.state(), ExecutionState::Success);
    assert_eq!(restored.outputs_visible_to(&key("loop")), d.exec.outputs_visible_to(&key("loop")));
    assert_eq!(restored.loop_context(&key("a[1]")), Some((json!("y"), 1)));

    let fresh = Driver::new(flow(vec![plugin("a")]), Script::default());
    let (restored, step) =
        Execution::restore(fresh.flow.clone(), fresh.stored_record.clone(), Vec::new(), at(1));
    assert_eq!(step, Default::default());
    assert_eq!(restored.state(), ExecutionState::Created);
}

#[test]
fn runs_of_unknown_tasks_are_left_out() {
    let mut d = Driver::new(flow(vec![plugin("a"), plugin("b")]), Script::default());
    d.run_steps(1);
    let mut runs = d.stored_runs.clone();
    let mut stray = runs[0].clone();
    stray.key = key("gone");
    runs.push(stray);
    let (restored, step) = Execution::restore(d.flow.clone(), d.stored_record.clone(), runs, at(2));
    assert_eq!(restored.task_runs().count(), 2);
    assert_eq!(step.commands, vec![Command::Dispatch { run: key("b"), attempt: 2 }]);
}
