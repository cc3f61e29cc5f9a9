//! errors / finally, kill and flow timeout.
#![allow(clippy::unwrap_used)]

mod machine_support;

use machine_support::*;
use serde_json::json;
use sluice_engine::machine::{Command, Evaluate, Evaluation, Event};
use sluice_engine::{ExecutionState, TaskRunKey, TaskRunState};
use sluice_flow::RetryKind;

fn key(text: &str) -> TaskRunKey {
    text.parse().unwrap()
}

#[test]
fn errors_then_finally_run_after_a_failure() {
    let script = Script::default().outcome("b", vec![fails_for_good("boom")]);
    let f = flow(vec![plugin("a"), plugin("b"), plugin("c")])
        .errors(vec![plugin("notify"), plugin("cleanup-errors")])
        .finally(vec![plugin("always")]);
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.dispatch_order(), ["a", "b", "notify", "cleanup-errors", "always"]);
    assert_eq!(d.run_of("notify").parent, None);
    assert_eq!(d.exec.record().error.as_deref(), Some("task `b` failed: boom"));
}

#[test]
fn finally_runs_after_success_and_errors_does_not() {
    let f = flow(vec![plugin("a")]).errors(vec![plugin("notify")]).finally(vec![plugin("always")]);
    let mut d = Driver::new(f, Script::default());
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.dispatch_order(), ["a", "always"]);
}

#[test]
fn a_failure_in_finally_fails_the_execution_without_stopping_finally() {
    let script = Script::default().outcome("f1", vec![fails_for_good("disk full")]);
    let f =
        flow(vec![plugin("a")]).finally(vec![par("p", 0, vec![plugin("f1"), plugin("f2")]), plugin("f3")]);
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("f2"), Some(TaskRunState::Success));
    assert_eq!(d.state_of("f3"), None, "after a failed predecessor");
    assert_eq!(d.exec.record().error.as_deref(), Some("task `f1` failed: disk full"));
}

#[test]
fn a_warning_anywhere_makes_the_execution_warning() {
    let script = Script::default().outcome("f", vec![fails_for_good("meh")]);
    let f = flow(vec![plugin("a")]).finally(vec![plugin("f").allow_failure()]);
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Warning);
}

#[test]
fn kill_cancels_running_attempts_and_kills_everything_else() {
    let f = flow(vec![par(
        "p",
        0,
        vec![
            plugin("running"),
            plugin("retrying").retry(retry(RetryKind::Constant, 3, 100)),
            pause("paused", None),
            plugin("pending").run_if(),
        ],
    )])
    .errors(vec![plugin("e")])
    .finally(vec![plugin("f")]);
    let script = Script::default().duration("running", secs(50)).outcome("retrying", vec![fails("x")]).eval(
        "pending",
        Evaluate::RunIf,
        Ok(Evaluation::Bool(true)),
    );
    let mut d = Driver::new(f, script);
    d.start();
    // The RunIf answer is queued at 0s, the retrying task fails at 1s.
    let pending_eval =
        Event::Evaluated { run: key("pending"), now: at(0), result: Ok(Evaluation::Bool(true)) };
    while d.state_of("retrying") != Some(TaskRunState::Retrying) {
        assert!(d.next());
    }
    assert_eq!(d.state_of("pending"), Some(TaskRunState::Running));
    let step = d.apply(Event::Kill { now: at(2) }).unwrap();
    assert_eq!(d.exec.state(), ExecutionState::Killing);
    let mut cancels: Vec<String> = step
        .commands
        .iter()
        .map(|c| match c {
            Command::Cancel { run, attempt: 1 } => run.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    cancels.sort();
    assert_eq!(cancels, ["pending", "running"]);
    assert_eq!(d.state_of("retrying"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("paused"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("running"), Some(TaskRunState::Running));
    let attempt = d.run_of("running").attempts[0].clone();
    assert_eq!((attempt.state, attempt.ended_at), (TaskRunState::Killed, None));
    assert!(d.apply(pending_eval).is_err());
    assert_eq!(d.run(), ExecutionState::Killed);
    assert_eq!(d.state_of("running"), Some(TaskRunState::Killed));
    assert_eq!(d.run_of("running").error.as_deref(), Some("killed"));
    assert_eq!(d.state_of("p"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("e"), None);
    assert_eq!(d.state_of("f"), None);
    assert!(d.apply(Event::Kill { now: at(3) }).is_err());
}

#[test]
fn an_attempt_that_ends_before_its_cancel_lands_is_recorded() {
    let mut d = Driver::new(flow(vec![plugin("a"), plugin("b")]), Script::default());
    d.start();
    d.apply(Event::Kill { now: at(0) }).unwrap();
    assert!(d.apply(Event::Kill { now: at(0) }).is_err());
    let step = d
        .apply(Event::TaskSucceeded { run: key("a"), attempt: 1, now: at(1), outputs: json!({ "ok": 1 }) })
        .unwrap();
    assert_eq!(step.commands, vec![Command::Finished { state: ExecutionState::Killed }]);
    assert_eq!(d.state_of("a"), Some(TaskRunState::Success));
    assert_eq!(d.run_of("a").attempts[0].state, TaskRunState::Success);
    assert_eq!(d.state_of("b"), None);
    assert!(d.apply(Event::TaskCancelled { run: key("a"), attempt: 1, now: at(2) }).is_err());
}

#[test]
fn kill_before_start_or_while_rendering_outputs_ends_at_once() {
    let mut d = Driver::new(flow(vec![plugin("a")]), Script::default());
    let step = d.apply(Event::Kill { now: at(0) }).unwrap();
    assert_eq!(step.commands, vec![Command::Finished { state: ExecutionState::Killed }]);

    let mut d = Driver::new(flow(vec![plugin("a")]).outputs(), Script::default());
    d.start();
    let step =
        d.apply(Event::TaskSucceeded { run: key("a"), attempt: 1, now: at(1), outputs: json!({}) }).unwrap();
    assert_eq!(step.commands, vec![Command::RenderOutputs]);
    let step = d.apply(Event::Kill { now: at(1) }).unwrap();
    assert_eq!(step.commands, vec![Command::Finished { state: ExecutionState::Killed }]);
    assert!(d.apply(Event::OutputsRendered { now: at(2), result: Ok(json!({})) }).is_err());
}

#[test]
fn a_flow_timeout_stops_the_main_tasks_then_runs_errors_and_finally() {
    let f = flow(vec![par("p", 0, vec![plugin("slow"), sleep("nap")]), plugin("next")])
        .errors(vec![plugin("e")])
        .finally(vec![plugin("f")])
        .timeout(secs(60));
    let script = Script::default().duration("slow", secs(600)).eval(
        "nap",
        Evaluate::SleepDuration,
        Ok(Evaluation::Duration(secs(900))),
    );
    let mut script = script;
    script.timeout_after = Some(secs(60));
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.exec.record().error.as_deref(), Some("flow timeout after 1m"));
    assert_eq!(d.state_of("slow"), Some(TaskRunState::Killed));
    assert_eq!(d.run_of("slow").error.as_deref(), Some("flow timeout after 1m"));
    assert_eq!(d.state_of("nap"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("p"), Some(TaskRunState::Failed));
    assert_eq!(d.state_of("next"), None);
    assert_eq!(d.run_of("e").started_at, Some(at(60)));
    assert_eq!(d.run_of("f").started_at, Some(at(61)));
}

#[test]
fn a_flow_timeout_during_errors_stops_them_and_still_runs_finally() {
    let script = Script::default().outcome("a", vec![fails_for_good("x")]).duration("e1", secs(100));
    let f = flow(vec![plugin("a")]).errors(vec![plugin("e1"), plugin("e2")]).finally(vec![plugin("f")]);
    let mut d = Driver::new(f, script);
    d.start();
    assert!(d.next());
    assert_eq!(d.state_of("e1"), Some(TaskRunState::Running));
    d.apply(Event::FlowTimedOut { now: at(10) }).unwrap();
    assert!(d.apply(Event::FlowTimedOut { now: at(11) }).is_err(), "nothing left to stop");
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("e1"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("e2"), None);
    assert_eq!(d.state_of("f"), Some(TaskRunState::Success));
    // The first cause stays the error.
    assert_eq!(d.exec.record().error.as_deref(), Some("task `a` failed: x"));
}

#[test]
fn a_flow_timeout_in_finally_fails_a_successful_execution() {
    let f = flow(vec![plugin("a")]).finally(vec![plugin("f"), plugin("g")]).outputs();
    let mut d = Driver::new(f, Script::default().duration("f", secs(100)));
    d.start();
    assert!(d.next());
    d.apply(Event::FlowTimedOut { now: at(20) }).unwrap();
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("g"), None);
    assert_eq!(d.exec.record().error.as_deref(), Some("flow timeout after 20s"));
    // The main tasks succeeded, so the outputs are still rendered.
    assert_eq!(d.exec.record().outputs, Some(json!({ "result": "rendered" })));
}

#[test]
fn a_failure_kills_what_only_waits_in_the_main_tasks() {
    let script = Script::default().outcome("bad", vec![fails_for_good("x")]).duration("slow", secs(5));
    let f = flow(vec![par("p", 0, vec![plugin("bad"), pause("gate", None), sleep("nap"), plugin("slow")])]);
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("gate"), Some(TaskRunState::Killed));
    assert_eq!(d.run_of("gate").error.as_deref(), Some("stopped: the execution is failing"));
    assert_eq!(d.state_of("nap"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("slow"), Some(TaskRunState::Success));
    assert_eq!(d.exec.record().ended_at, Some(at(5)));
}

#[test]
fn a_paused_execution_can_be_killed_or_time_out() {
    let mut d =
        Driver::new(flow(vec![pause("gate", Some(secs(600)))]).finally(vec![plugin("f")]), Script::default());
    d.start();
    assert_eq!(d.exec.state(), ExecutionState::Paused);
    let step = d.apply(Event::Kill { now: at(5) }).unwrap();
    assert_eq!(step.commands, vec![Command::Finished { state: ExecutionState::Killed }]);
    assert_eq!(d.state_of("gate"), Some(TaskRunState::Killed));

    let mut d = Driver::new(flow(vec![pause("gate", None)]).finally(vec![plugin("f")]), Script::default());
    d.start();
    let step = d.apply(Event::FlowTimedOut { now: at(5) }).unwrap();
    assert_eq!(step.commands, vec![Command::Dispatch { run: key("f"), attempt: 1 }]);
    assert_eq!(d.exec.state(), ExecutionState::Running);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.run_of("gate").error.as_deref(), Some("flow timeout after 5s"));
}
