//! Events that do not fit the state are rejected and change nothing (the driver checks that the
//! records are unchanged after every rejection).
#![allow(clippy::unwrap_used)]

mod machine_support;

use machine_support::*;
use serde_json::json;
use sluice_engine::machine::{Evaluate, Evaluation, Event, MachineError, Timer};
use sluice_engine::{ExecutionState, TaskRunKey, TaskRunState};
use sluice_flow::RetryKind;

fn key(text: &str) -> TaskRunKey {
    text.parse().unwrap()
}

fn assert_rejected(d: &mut Driver, event: Event) -> String {
    match d.apply(event.clone()) {
        Err(MachineError::Rejected(message)) => message,
        Ok(step) => panic!("{event:?} was accepted: {step:?}"),
    }
}

#[test]
fn an_answer_for_an_old_attempt_is_rejected() {
    let script = Script::default().outcome("a", vec![fails("x")]);
    let mut d = Driver::new(flow(vec![plugin("a").retry(retry(RetryKind::Constant, 3, 5))]), script);
    d.start();
    assert!(d.next());
    assert_eq!(d.state_of("a"), Some(TaskRunState::Retrying));
    let late = Event::TaskSucceeded { run: key("a"), attempt: 1, now: at(2), outputs: json!({}) };
    let message = assert_rejected(&mut d, late.clone());
    assert_eq!(message, "attempt 1 of task run `a` is not the one running");
    // A timer for the wrong attempt, then the right one.
    assert_rejected(
        &mut d,
        Event::TimerFired { run: key("a"), timer: Timer::Retry { attempt: 3 }, now: at(6) },
    );
    d.apply(Event::TimerFired { run: key("a"), timer: Timer::Retry { attempt: 2 }, now: at(6) }).unwrap();
    assert_rejected(&mut d, late);
    assert_rejected(
        &mut d,
        Event::TaskFailed { run: key("a"), attempt: 3, now: at(7), error: "x".into(), retryable: true },
    );
    assert_rejected(&mut d, Event::TaskCancelled { run: key("a"), attempt: 2, now: at(7) });
    assert_eq!(d.run(), ExecutionState::Success);
}

#[test]
fn answers_nobody_asked_for_are_rejected() {
    let f = flow(vec![
        plugin("a"),
        if_("check", vec![plugin("t")], vec![]),
        subflow("child", true),
        pause("gate", None),
    ]);
    let mut d = Driver::new(f, Script::default());
    d.start();
    let now = at(0);
    assert_rejected(&mut d, Event::TaskSucceeded { run: key("nope"), attempt: 1, now, outputs: json!({}) });
    assert_rejected(&mut d, Event::Evaluated { run: key("a"), now, result: Ok(Evaluation::Bool(true)) });
    assert_rejected(&mut d, Event::SubflowStarted { run: key("a"), execution_id: "e".into(), now });
    assert_rejected(&mut d, Event::Resume { run: None, now, inputs: json!({}) });
    assert_rejected(&mut d, Event::Resume { run: Some(key("a")), now, inputs: json!({}) });
    assert_rejected(&mut d, Event::TimerFired { run: key("a"), timer: Timer::Sleep, now });
    assert_rejected(&mut d, Event::OutputsRendered { now, result: Ok(json!({})) });
    assert_rejected(&mut d, Event::Start { now });
    assert_rejected(&mut d, Event::Queue { now });
    assert_rejected(&mut d, Event::Refuse { now, state: ExecutionState::Cancelled, reason: "no".into() });
    assert!(d.next());
    // The condition is asked for: the wrong kind of answer is rejected, the right one accepted.
    assert_eq!(d.state_of("check"), Some(TaskRunState::Running));
    let message = assert_rejected(
        &mut d,
        Event::Evaluated { run: key("check"), now: at(1), result: Ok(Evaluation::Text("yes".into())) },
    );
    assert!(message.contains("IfCondition"), "{message}");
    d.apply(Event::Evaluated { run: key("check"), now: at(1), result: Ok(Evaluation::Bool(false)) }).unwrap();
    assert_rejected(
        &mut d,
        Event::Evaluated { run: key("check"), now: at(1), result: Ok(Evaluation::Bool(true)) },
    );
    // Subflow: ended before it started is rejected.
    let ended = Event::SubflowEnded {
        run: key("child"),
        now: at(1),
        state: ExecutionState::Success,
        outputs: json!({}),
    };
    assert_rejected(&mut d, ended.clone());
    d.apply(Event::SubflowStarted { run: key("child"), execution_id: "c1".into(), now: at(1) }).unwrap();
    assert_rejected(
        &mut d,
        Event::SubflowStarted { run: key("child"), execution_id: "c2".into(), now: at(1) },
    );
    d.apply(ended.clone()).unwrap();
    assert_rejected(&mut d, ended);
    // A pause without a timeout has no timer.
    assert_rejected(&mut d, Event::TimerFired { run: key("gate"), timer: Timer::PauseTimeout, now: at(2) });
    d.apply(Event::Resume { run: None, now: at(2), inputs: json!({}) }).unwrap();
    assert_eq!(d.exec.state(), ExecutionState::Success);
}

#[test]
fn nothing_is_accepted_after_the_end() {
    let mut d = Driver::new(flow(vec![plugin("a")]), Script::default());
    assert_eq!(d.run(), ExecutionState::Success);
    let now = at(9);
    for event in [
        Event::Start { now },
        Event::Kill { now },
        Event::FlowTimedOut { now },
        Event::TaskSucceeded { run: key("a"), attempt: 1, now, outputs: json!({}) },
        Event::OutputsRendered { now, result: Ok(json!({})) },
    ] {
        assert_eq!(assert_rejected(&mut d, event), "the execution already ended SUCCESS");
    }
}

#[test]
fn a_timer_for_a_killed_run_is_rejected() {
    let script = Script::default().eval("nap", Evaluate::SleepDuration, Ok(Evaluation::Duration(secs(30))));
    let mut d = Driver::new(flow(vec![sleep("nap"), plugin("b")]), script);
    d.start();
    assert!(d.next());
    d.apply(Event::Kill { now: at(1) }).unwrap();
    assert_eq!(d.exec.state(), ExecutionState::Killed);
    assert_rejected(&mut d, Event::TimerFired { run: key("nap"), timer: Timer::Sleep, now: at(30) });
}

#[test]
fn a_timeout_before_the_start_is_rejected() {
    let mut d = Driver::new(flow(vec![plugin("a")]), Script::default());
    assert_rejected(&mut d, Event::FlowTimedOut { now: at(0) });
    assert_rejected(&mut d, Event::TaskCancelled { run: key("a"), attempt: 1, now: at(0) });
}
