//! Scheduling of task lists: sequential order, parallel limits, dependsOn DAGs, failures and
//! what they block.
#![allow(clippy::unwrap_used)]

mod machine_support;

use machine_support::*;
use serde_json::json;
use sluice_engine::machine::{Command, Evaluate, Evaluation, Event};
use sluice_engine::{ExecutionState, TaskRunKey, TaskRunState};

#[test]
fn a_sequential_list_runs_one_task_after_the_other() {
    let mut d = Driver::new(flow(vec![plugin("a"), plugin("b"), plugin("c")]), Script::default());
    let step = d.start();
    assert_eq!(step.commands, vec![Command::Dispatch { run: TaskRunKey::new("a"), attempt: 1 }]);
    assert_eq!(step.changed_runs, vec![TaskRunKey::new("a")]);
    assert!(step.execution_changed);
    assert_eq!(d.exec.state(), ExecutionState::Running);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.dispatch_order(), ["a", "b", "c"]);
    assert!(d.dispatch_step("a") < d.dispatch_step("b") && d.dispatch_step("b") < d.dispatch_step("c"));
    let record = d.exec.record();
    assert_eq!((record.started_at, record.ended_at), (Some(at(0)), Some(at(3))));
    assert_eq!(record.error, None);
    assert_eq!(d.run_of("b").started_at, Some(at(1)));
    assert_eq!(d.run_of("c").outputs, Some(json!({ "from": "c" })));
    assert_eq!(d.exec.outputs_visible_to(&TaskRunKey::new("c"))["a"], json!({ "from": "a" }));
}

#[test]
fn an_empty_flow_succeeds_on_start() {
    let mut d = Driver::new(flow(vec![]), Script::default());
    let step = d.start();
    assert_eq!(step.commands, vec![Command::Finished { state: ExecutionState::Success }]);
    assert_eq!(d.exec.state(), ExecutionState::Success);
}

#[test]
fn a_parallel_list_starts_everything_at_once() {
    let mut d = Driver::new(
        flow(vec![par("p", 0, vec![plugin("a"), plugin("b"), plugin("c")]), plugin("z")]),
        Script::default(),
    );
    let step = d.start();
    let dispatched: Vec<String> = step
        .commands
        .iter()
        .map(|c| match c {
            Command::Dispatch { run, .. } => run.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(dispatched, ["a", "b", "c"]);
    assert_eq!(d.run_of("a").parent, Some(TaskRunKey::new("p")));
    assert_eq!(d.run(), ExecutionState::Success);
    assert!(d.dispatch_step("z") > d.dispatch_step("c"));
    assert_eq!(d.state_of("p"), Some(TaskRunState::Success));
}

#[test]
fn a_parallel_limit_keeps_at_most_that_many_running() {
    let tasks = (0..5).map(|i| plugin(&format!("t{i}"))).collect();
    let script = Script::default().duration("t0", secs(5)).duration("t1", secs(2));
    let mut d = Driver::new(flow(vec![par("p", 2, tasks)]), script);
    let step = d.start();
    assert_eq!(step.commands.len(), 2);
    assert_eq!(d.run(), ExecutionState::Success);
    // t1 ends at 2s and frees a slot for t2, t2 ends at 3s for t3, t3 at 4s for t4, t0 at 5s.
    assert_eq!(d.dispatch_order(), ["t0", "t1", "t2", "t3", "t4"]);
    assert_eq!(d.run_of("t2").started_at, Some(at(2)));
    assert_eq!(d.run_of("t4").started_at, Some(at(4)));
    assert_eq!(d.run_of("p").ended_at, Some(at(5)));
}

#[test]
fn depends_on_fans_out_and_in_within_a_sequential_list() {
    let f = flow(vec![
        plugin("a"),
        plugin("b").after(&["a"]),
        plugin("c").after(&["a"]),
        plugin("d").after(&["b", "c"]),
        plugin("e").after(&["a"]),
    ]);
    let mut d = Driver::new(f, Script::default().duration("b", secs(3)));
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.dispatch_step("b"), d.dispatch_step("c"));
    assert_eq!(d.dispatch_step("b"), d.dispatch_step("e"));
    assert_eq!(d.run_of("b").started_at, Some(at(1)));
    // d waits for the slower b.
    assert_eq!(d.run_of("d").started_at, Some(at(4)));
}

#[test]
fn depends_on_works_inside_nested_lists() {
    let inner = par(
        "p",
        0,
        vec![
            plugin("x"),
            plugin("y").after(&["x"]),
            seq("s", vec![plugin("s1"), plugin("s2")]),
            plugin("w").after(&["y", "s"]),
        ],
    );
    let mut d = Driver::new(flow(vec![plugin("a"), inner, plugin("z")]), Script::default());
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.run_of("x").started_at, Some(at(1)));
    assert_eq!(d.run_of("s1").started_at, Some(at(1)));
    assert_eq!(d.run_of("y").started_at, Some(at(2)));
    assert_eq!(d.run_of("s2").started_at, Some(at(2)));
    assert_eq!(d.run_of("w").started_at, Some(at(3)));
    assert_eq!(d.run_of("z").started_at, Some(at(4)));
    assert_eq!(d.run_of("s2").parent, Some(TaskRunKey::new("s")));
}

#[test]
fn a_failure_blocks_its_successors_and_fails_the_execution() {
    let script = Script::default().outcome("b", vec![fails_for_good("exit code 2")]);
    let mut d = Driver::new(flow(vec![plugin("a"), plugin("b"), plugin("c")]), script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("b"), Some(TaskRunState::Failed));
    assert_eq!(d.run_of("b").error.as_deref(), Some("exit code 2"));
    assert_eq!(d.state_of("c"), None);
    assert_eq!(d.exec.record().error.as_deref(), Some("task `b` failed: exit code 2"));
}

#[test]
fn allow_failure_turns_a_failure_into_a_warning() {
    let script = Script::default().outcome("b", vec![fails_for_good("flaky")]);
    let mut d = Driver::new(flow(vec![plugin("a"), plugin("b").allow_failure(), plugin("c")]), script);
    assert_eq!(d.run(), ExecutionState::Warning);
    assert_eq!(d.state_of("b"), Some(TaskRunState::Warning));
    assert_eq!(d.run_of("b").error.as_deref(), Some("flaky"));
    assert_eq!(d.state_of("c"), Some(TaskRunState::Success));
    assert_eq!(d.exec.record().error, None);
}

#[test]
fn a_failure_inside_a_task_that_allows_failure_stays_inside_it() {
    let script = Script::default().outcome("a", vec![fails_for_good("no")]);
    let group = par("p", 1, vec![plugin("a"), plugin("b")]).allow_failure();
    let mut d = Driver::new(flow(vec![group, plugin("z")]), script);
    assert_eq!(d.run(), ExecutionState::Warning);
    assert_eq!(d.state_of("a"), Some(TaskRunState::Failed));
    // The sibling in the parallel list still runs: the failure did not stop the execution.
    assert_eq!(d.state_of("b"), Some(TaskRunState::Success));
    assert_eq!(d.state_of("p"), Some(TaskRunState::Warning));
    assert_eq!(d.run_of("p").error.as_deref(), Some("task `a` ended FAILED"));
    assert_eq!(d.state_of("z"), Some(TaskRunState::Success));
}

#[test]
fn after_a_failure_no_new_main_task_starts_but_running_ones_finish() {
    // Two branches: x fails at 1s; y runs until 3s and is recorded; z (after y) never starts.
    let branches =
        par("p", 0, vec![seq("left", vec![plugin("x")]), seq("right", vec![plugin("y"), plugin("z")])]);
    let script = Script::default().outcome("x", vec![fails_for_good("broken")]).duration("y", secs(3));
    let f = flow(vec![branches]).errors(vec![plugin("e")]).finally(vec![plugin("f")]);
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("y"), Some(TaskRunState::Success));
    assert_eq!(d.run_of("y").ended_at, Some(at(3)));
    assert_eq!(d.state_of("z"), None);
    assert_eq!(d.state_of("right"), Some(TaskRunState::Killed));
    assert_eq!(d.run_of("right").error.as_deref(), Some("stopped before all its tasks ran"));
    assert_eq!(d.state_of("left"), Some(TaskRunState::Failed));
    assert_eq!(d.state_of("p"), Some(TaskRunState::Failed));
    // errors starts only once y is done, then finally.
    assert_eq!(d.run_of("e").started_at, Some(at(3)));
    assert_eq!(d.run_of("f").started_at, Some(at(4)));
    assert_eq!(d.exec.record().error.as_deref(), Some("task `x` failed: broken"));
}

#[test]
fn disabled_tasks_are_skipped_and_count_as_done() {
    let mut d = Driver::new(flow(vec![plugin("a").disabled(), plugin("b")]), Script::default());
    let step = d.start();
    assert_eq!(step.commands, vec![Command::Dispatch { run: TaskRunKey::new("b"), attempt: 1 }]);
    assert_eq!(step.changed_runs, vec![TaskRunKey::new("a"), TaskRunKey::new("b")]);
    assert_eq!(d.state_of("a"), Some(TaskRunState::Skipped));
    assert_eq!(d.run_of("a").error.as_deref(), Some("disabled"));
    assert_eq!(d.run(), ExecutionState::Success);
}

#[test]
fn run_if_is_evaluated_before_the_task_starts() {
    let script = Script::default().eval("a", Evaluate::RunIf, Ok(Evaluation::Bool(false))).eval(
        "c",
        Evaluate::RunIf,
        Err("undefined variable `inputs.nope`".into()),
    );
    let f = flow(vec![plugin("a").run_if(), plugin("b").run_if(), plugin("c").run_if()]);
    let mut d = Driver::new(f, script);
    let step = d.start();
    assert_eq!(step.commands, vec![Command::Evaluate { run: TaskRunKey::new("a"), what: Evaluate::RunIf }]);
    assert_eq!(d.state_of("a"), Some(TaskRunState::Created));
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("a"), Some(TaskRunState::Skipped));
    assert_eq!(d.state_of("b"), Some(TaskRunState::Success));
    assert_eq!(d.state_of("c"), Some(TaskRunState::Failed));
    assert_eq!(d.run_of("c").error.as_deref(), Some("undefined variable `inputs.nope`"));
    assert!(d.run_of("c").attempts.is_empty());
}

#[test]
fn queue_then_start_and_refuse() {
    let mut d = Driver::new(flow(vec![plugin("a")]), Script::default());
    d.apply(Event::Queue { now: at(0) }).unwrap();
    assert_eq!(d.exec.state(), ExecutionState::Queued);
    d.apply(Event::Start { now: at(5) }).unwrap();
    assert_eq!(d.exec.record().started_at, Some(at(5)));
    assert_eq!(d.run(), ExecutionState::Success);

    let mut refused = Driver::new(flow(vec![plugin("a")]), Script::default());
    refused.apply(Event::Queue { now: at(0) }).unwrap();
    let step = refused
        .apply(Event::Refuse { now: at(1), state: ExecutionState::Cancelled, reason: "limit reached".into() })
        .unwrap();
    assert_eq!(step.commands, vec![Command::Finished { state: ExecutionState::Cancelled }]);
    assert_eq!(refused.exec.record().error.as_deref(), Some("limit reached"));
    assert_eq!(refused.exec.task_runs().count(), 0);
}

#[test]
fn a_wide_fan_out_finishes() {
    let tasks = (0..10_000).map(|i| plugin(&format!("t{i}"))).collect();
    let mut d = Driver::new(flow(vec![par("p", 0, tasks), plugin("after")]), Script::default());
    d.checks = false;
    let step = d.start();
    assert_eq!(step.commands.len(), 10_000);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.exec.task_runs().count(), 10_002);
    assert_eq!(d.run_of("after").started_at, Some(at(1)));
}
