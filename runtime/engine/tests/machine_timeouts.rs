//! The `timeout` of native tasks: control-flow tasks stop what runs under them, tasks that wait
//! on their own fail, and a restore asks for the same deadline again.
#![allow(clippy::unwrap_used)]

mod machine_support;

use machine_support::*;
use sluice_engine::machine::{Command, Evaluate, Evaluation, Event, Timer};
use sluice_engine::{ExecutionState, TaskRunKey, TaskRunState};

fn key(text: &str) -> TaskRunKey {
    text.parse().unwrap()
}

#[test]
fn a_group_past_its_timeout_cancels_its_attempts_and_fails_with_the_timeout() {
    let f =
        flow(vec![seq("group", vec![plugin("slow"), plugin("never")]).timeout(secs(30)), plugin("after")])
            .errors(vec![plugin("e")])
            .finally(vec![plugin("f")]);
    let mut d = Driver::new(f, Script::default().duration("slow", secs(600)));
    let step = d.start();
    assert!(step.commands.contains(&Command::StartTimer {
        run: key("group"),
        timer: Timer::TaskTimeout,
        at: at(30)
    }));
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("slow"), Some(TaskRunState::Killed));
    assert_eq!(d.run_of("slow").error.as_deref(), Some("timed out after 30s"));
    assert_eq!(d.run_of("slow").attempts[0].state, TaskRunState::Killed);
    assert_eq!(d.state_of("never"), None, "no child starts after the timeout");
    assert_eq!(d.state_of("group"), Some(TaskRunState::Failed));
    assert_eq!(d.run_of("group").error.as_deref(), Some("timed out after 30s"));
    assert_eq!(d.run_of("group").ended_at, Some(at(30)));
    assert_eq!(d.state_of("after"), None);
    assert_eq!(d.exec.record().error.as_deref(), Some("task `group` failed: timed out after 30s"));
    assert_eq!(d.dispatch_order(), ["slow", "e", "f"]);
}

#[test]
fn a_group_that_allows_failure_ends_warning_at_its_timeout_and_the_flow_goes_on() {
    let f = flow(vec![
        par("checks", 0, vec![plugin("quick"), plugin("slow"), sleep("nap")])
            .timeout(secs(20))
            .allow_failure(),
        plugin("after"),
    ]);
    let script = Script::default().duration("slow", secs(100)).eval(
        "nap",
        Evaluate::SleepDuration,
        Ok(Evaluation::Duration(secs(50))),
    );
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Warning);
    assert_eq!(d.state_of("quick"), Some(TaskRunState::Success));
    assert_eq!(d.state_of("slow"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("nap"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("checks"), Some(TaskRunState::Warning));
    assert_eq!(d.run_of("checks").error.as_deref(), Some("timed out after 20s"));
    assert_eq!(d.state_of("after"), Some(TaskRunState::Success));
    assert_eq!(d.run_of("after").started_at, Some(at(20)));
    assert_eq!(d.exec.record().error, None);
}

#[test]
fn a_loop_past_its_timeout_starts_no_more_iterations() {
    // Three values, one at a time, 10s per iteration: the timeout cuts the second one.
    let f = flow(vec![for_each("each", 1, vec![plugin("build")]).timeout(secs(15))]);
    let mut d = Driver::new(f, Script::default().duration("build", secs(10)));
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("build[0]"), Some(TaskRunState::Success));
    assert_eq!(d.state_of("build[1]"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("build[2]"), None);
    assert_eq!(d.run_of("each").error.as_deref(), Some("timed out after 15s"));
    assert_eq!(d.exec.record().error.as_deref(), Some("task `each` failed: timed out after 15s"));
}

#[test]
fn a_timeout_reaches_every_level_below_the_task_that_has_it() {
    let f = flow(vec![
        seq("outer", vec![par("inner", 0, vec![plugin("deep"), seq("deeper", vec![plugin("deepest")])])])
            .timeout(secs(5)),
    ]);
    let script = Script::default().duration("deep", secs(60)).duration("deepest", secs(60));
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Failed);
    for run in ["deep", "deepest"] {
        assert_eq!(d.state_of(run), Some(TaskRunState::Killed), "{run}");
        assert_eq!(d.run_of(run).error.as_deref(), Some("timed out after 5s"), "{run}");
    }
    // The inner groups fail because a child was stopped; the outer one names its timeout.
    assert_eq!(d.state_of("inner"), Some(TaskRunState::Failed));
    assert_eq!(d.run_of("inner").error.as_deref(), Some("task `deep` ended KILLED"));
    assert_eq!(d.run_of("outer").error.as_deref(), Some("timed out after 5s"));
}

#[test]
fn a_sleep_and_a_subflow_fail_at_their_own_timeout() {
    let f = flow(vec![
        par("both", 0, vec![sleep("nap").timeout(secs(5)), subflow("child", true).timeout(secs(7))])
            .allow_failure(),
    ]);
    let script = Script::default().duration("child", secs(100)).eval(
        "nap",
        Evaluate::SleepDuration,
        Ok(Evaluation::Duration(secs(60))),
    );
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Warning);
    assert_eq!(d.state_of("nap"), Some(TaskRunState::Failed));
    assert_eq!(d.run_of("nap").error.as_deref(), Some("timed out after 5s"));
    assert_eq!(d.run_of("nap").ended_at, Some(at(5)));
    assert_eq!(d.state_of("child"), Some(TaskRunState::Failed));
    assert_eq!(d.run_of("child").error.as_deref(), Some("timed out after 7s"));
    assert_eq!(d.run_of("child").ended_at, Some(at(7)));
}

#[test]
fn a_task_that_ends_in_time_ignores_its_timer() {
    let f = flow(vec![seq("group", vec![plugin("a")]).timeout(secs(30)), plugin("b")]);
    let mut d = Driver::new(f, Script::default());
    d.start();
    assert!(d.next());
    assert_eq!(d.state_of("group"), Some(TaskRunState::Success));
    let late = Event::TimerFired { run: key("group"), timer: Timer::TaskTimeout, now: at(30) };
    assert!(d.apply(late).is_err(), "the group already ended");
    assert_eq!(d.run(), ExecutionState::Success);
}

#[test]
fn a_timeout_fires_once_and_only_for_a_started_native_task() {
    let f = flow(vec![seq("group", vec![plugin("slow")]).timeout(secs(30)), plugin("p").timeout(secs(1))]);
    let mut d = Driver::new(f, Script::default().duration("slow", secs(600)));
    d.start();
    let fire = |run: &str, now| Event::TimerFired { run: key(run), timer: Timer::TaskTimeout, now };
    assert!(d.apply(fire("p", at(1))).is_err(), "a plugin task's timeout bounds its attempts instead");
    d.apply(fire("group", at(30))).unwrap();
    assert!(d.apply(fire("group", at(31))).is_err(), "it already timed out");
    assert_eq!(d.run(), ExecutionState::Failed);
}

#[test]
fn a_restore_asks_for_the_same_deadline_and_keeps_a_timed_out_group_stopped() {
    let f = flow(vec![seq("group", vec![plugin("slow"), plugin("never")]).timeout(secs(30))]);
    let mut d = Driver::new(f.clone(), Script::default().duration("slow", secs(600)));
    d.start();
    d.now = at(10);
    let step = d.crash();
    assert!(step.commands.contains(&Command::StartTimer {
        run: key("group"),
        timer: Timer::TaskTimeout,
        at: at(30)
    }));
    // The timeout fires and the cancel is sent; the engine dies before the attempt answers.
    d.apply(Event::TimerFired { run: key("group"), timer: Timer::TaskTimeout, now: at(30) }).unwrap();
    assert_eq!(d.state_of("group"), Some(TaskRunState::Running));
    let step = d.crash();
    assert!(
        !step.commands.iter().any(|c| matches!(c, Command::StartTimer { timer: Timer::TaskTimeout, .. })),
        "a group that timed out does not ask again: {:?}",
        step.commands
    );
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("slow"), Some(TaskRunState::Killed));
    assert_eq!(d.state_of("never"), None);
    assert_eq!(d.run_of("group").error.as_deref(), Some("timed out after 30s"));
    // The first crash interrupted attempt 1 (run again, at-least-once); the cut attempt 2 is
    // not run again after the second.
    assert_eq!(d.dispatch_order(), ["slow", "slow"]);
    let attempts = &d.run_of("slow").attempts;
    assert_eq!(attempts[0].error.as_deref(), Some("interrupted: its server stopped or lost the execution"));
    assert_eq!((attempts[1].state, attempts[1].ended_at), (TaskRunState::Killed, Some(at(30))));
}
