//! The control-flow kinds: if, switch, forEach (nested, with limits), subflow, pause, sleep,
//! fail, and the flow's outputs.
#![allow(clippy::unwrap_used)]

mod machine_support;

use machine_support::*;
use serde_json::json;
use sluice_engine::machine::{Command, Evaluate, Evaluation, Event, Timer};
use sluice_engine::{ExecutionState, TaskRunKey, TaskRunState};

fn key(text: &str) -> TaskRunKey {
    text.parse().unwrap()
}

#[test]
fn if_runs_only_the_chosen_branch() {
    for (condition, ran, never) in [(true, "t", "e"), (false, "e", "t")] {
        let script = Script::default().eval("check", Evaluate::IfCondition, Ok(Evaluation::Bool(condition)));
        let mut d =
            Driver::new(flow(vec![if_("check", vec![plugin("t")], vec![plugin("e")]), plugin("z")]), script);
        let step = d.start();
        assert_eq!(step.commands, vec![Command::Evaluate { run: key("check"), what: Evaluate::IfCondition }]);
        assert_eq!(d.state_of("check"), Some(TaskRunState::Running));
        assert_eq!(d.run(), ExecutionState::Success);
        assert_eq!(d.state_of(ran), Some(TaskRunState::Success));
        assert_eq!(d.state_of(never), None, "the other branch never gets runs");
        assert_eq!(d.run_of(ran).parent, Some(key("check")));
        assert_eq!(d.state_of("check"), Some(TaskRunState::Success));
    }
}

#[test]
fn an_empty_branch_ends_the_if_at_once_and_a_template_error_fails_it() {
    let script = Script::default().eval("check", Evaluate::IfCondition, Ok(Evaluation::Bool(false)));
    let mut d = Driver::new(flow(vec![if_("check", vec![plugin("t")], vec![]), plugin("z")]), script);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.run_of("z").started_at, Some(at(0)));

    let script =
        Script::default().eval("check", Evaluate::IfCondition, Err("unknown filter `upper2`".into()));
    let mut d = Driver::new(flow(vec![if_("check", vec![plugin("t")], vec![])]), script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.run_of("check").error.as_deref(), Some("unknown filter `upper2`"));
    assert_eq!(d.exec.record().error.as_deref(), Some("task `check` failed: unknown filter `upper2`"));
}

#[test]
fn switch_picks_the_matching_case_else_the_default() {
    let build = || {
        flow(vec![switch(
            "env",
            vec![
                ("dev", vec![plugin("deploy-dev")]),
                ("prod", vec![plugin("approve"), plugin("deploy-prod")]),
            ],
            vec![plugin("fallback")],
        )])
    };
    let cases =
        [("prod", vec!["approve", "deploy-prod"]), ("dev", vec!["deploy-dev"]), ("qa", vec!["fallback"])];
    for (value, ran) in cases {
        let script = Script::default().eval("env", Evaluate::SwitchValue, Ok(Evaluation::Text(value.into())));
        let mut d = Driver::new(build(), script);
        assert_eq!(d.run(), ExecutionState::Success);
        assert_eq!(d.dispatch_order(), ran, "value {value}");
    }
    // No match and no default: SUCCESS with nothing run.
    let script = Script::default().eval("env", Evaluate::SwitchValue, Ok(Evaluation::Text("qa".into())));
    let f = flow(vec![switch("env", vec![("dev", vec![plugin("deploy-dev")])], vec![])]);
    let mut d = Driver::new(f, script);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.states().len(), 1);
}

#[test]
fn for_each_runs_the_body_per_value_in_order() {
    let mut d = Driver::new(
        flow(vec![for_each("loop", 1, vec![plugin("build"), plugin("test")]), plugin("z")]),
        Script::default(),
    );
    let step = d.start();
    assert_eq!(step.commands, vec![Command::Evaluate { run: key("loop"), what: Evaluate::ForEachValues }]);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(
        d.dispatch_order(),
        ["build[0]", "test[0]", "build[1]", "test[1]", "build[2]", "test[2]", "z"]
    );
    assert_eq!(d.run_of("test[1]").value, Some(json!("y")));
    assert_eq!(d.run_of("test[1]").parent, Some(key("loop")));
    assert_eq!(d.exec.loop_context(&key("test[2]")), Some((json!("z"), 2)));
    assert_eq!(d.exec.loop_context(&key("z")), None);
    assert_eq!(d.run_of("loop").outputs, Some(json!({ "values": ["x", "y", "z"] })));
    // Inside an iteration, a body task's outputs are that iteration's; outside, a list.
    assert_eq!(d.exec.outputs_visible_to(&key("test[1]"))["build"], json!({ "from": "build[1]" }));
    assert_eq!(
        d.exec.outputs_visible_to(&key("z"))["build"],
        json!([{ "from": "build[0]" }, { "from": "build[1]" }, { "from": "build[2]" }])
    );
    assert_eq!(
        d.exec.output_visible_to(&key("z"), "test"),
        Some(d.exec.outputs_visible_to(&key("z"))["test"].clone())
    );
    assert_eq!(d.exec.output_visible_to(&key("z"), "nothing"), None);
}

#[test]
fn for_each_concurrency_limits_the_iterations_running() {
    for (limit, first_step) in [(2u32, vec!["a[0]", "a[1]"]), (0, vec!["a[0]", "a[1]", "a[2]", "a[3]"])] {
        let values = Evaluation::List((0..4).map(|i| json!(i)).collect());
        let script =
            Script::default().eval("loop", Evaluate::ForEachValues, Ok(values)).duration("a", secs(2));
        let mut d = Driver::new(flow(vec![for_each("loop", limit, vec![plugin("a"), plugin("b")])]), script);
        d.start();
        assert!(d.next());
        let started: Vec<String> = d
            .exec
            .task_runs()
            .filter(|r| r.state == TaskRunState::Running && r.key.task == "a")
            .map(|r| r.key.to_string())
            .collect();
        assert_eq!(started, first_step, "limit {limit}");
        assert_eq!(d.run(), ExecutionState::Success);
        if limit == 2 {
            // a[0] 0-2s, b[0] 2-3s; then iteration 2 starts at 3s.
            assert_eq!(d.run_of("a[2]").started_at, Some(at(3)));
        }
        assert_eq!(d.exec.task_runs().count(), 1 + 8);
    }
}

#[test]
fn nested_for_each_keys_runs_by_both_iterations() {
    let inner = for_each("inner", 0, vec![plugin("leaf")]);
    let script = Script::default()
        .eval("outer", Evaluate::ForEachValues, Ok(Evaluation::List(vec![json!("a"), json!("b")])))
        .eval("inner", Evaluate::ForEachValues, Ok(Evaluation::List(vec![json!(1), json!(2), json!(3)])));
    let mut d =
        Driver::new(flow(vec![for_each("outer", 1, vec![inner, plugin("after")]), plugin("z")]), script);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.run_of("inner[1]").value, Some(json!("b")));
    assert_eq!(d.run_of("leaf[1][2]").value, Some(json!(3)));
    assert_eq!(d.run_of("leaf[1][2]").parent, Some(key("inner[1]")));
    assert_eq!(d.exec.loop_context(&key("leaf[0][1]")), Some((json!(2), 1)));
    assert_eq!(d.exec.loop_context(&key("after[1]")), Some((json!("b"), 1)));
    assert_eq!(d.run_of("after[0]").started_at, Some(at(1)));
    // From `after[1]` (outer iteration 1): leaf of that iteration, listed by inner iteration.
    assert_eq!(
        d.exec.outputs_visible_to(&key("after[1]"))["leaf"],
        json!([{ "from": "leaf[1][0]" }, { "from": "leaf[1][1]" }, { "from": "leaf[1][2]" }])
    );
    // From outside both loops: a list of lists.
    let all = &d.exec.outputs_visible_to(&key("z"))["leaf"];
    assert_eq!(all[1][0], json!({ "from": "leaf[1][0]" }));
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(d.exec.outputs_visible_to(&key("leaf[0][2]"))["leaf"], json!({ "from": "leaf[0][2]" }));
}

#[test]
fn for_each_over_nothing_succeeds_and_a_failed_iteration_fails_the_loop() {
    let script = Script::default().eval("loop", Evaluate::ForEachValues, Ok(Evaluation::List(vec![])));
    let mut d = Driver::new(flow(vec![for_each("loop", 1, vec![plugin("a")])]), script);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.states().len(), 1);

    let script =
        Script::default().outcome("a", vec![Outcome::Succeed(json!({})), fails_for_good("bad item")]);
    let mut d = Driver::new(flow(vec![for_each("loop", 1, vec![plugin("a"), plugin("b")])]), script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.state_of("a[1]"), Some(TaskRunState::Failed));
    assert_eq!(d.state_of("b[1]"), None);
    assert_eq!(d.state_of("a[2]"), None, "no new iteration after a failure");
    assert_eq!(d.state_of("loop"), Some(TaskRunState::Failed));
    assert_eq!(d.run_of("loop").error.as_deref(), Some("task `a[1]` ended FAILED"));
    assert_eq!(d.exec.record().error.as_deref(), Some("task `a[1]` failed: bad item"));
}

#[test]
fn a_waited_subflow_passes_on_its_outputs() {
    let mut d = Driver::new(
        flow(vec![subflow("child", true), plugin("z")]),
        Script::default().duration("child", secs(30)),
    );
    let step = d.start();
    assert_eq!(step.commands, vec![Command::StartSubflow { run: key("child") }]);
    assert!(d.next());
    assert_eq!(d.state_of("child"), Some(TaskRunState::Running));
    assert_eq!(d.run_of("child").outputs, Some(json!({ "executionId": "sub-child" })));
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.run_of("child").outputs, Some(json!({ "child": "child" })));
    assert_eq!(d.run_of("z").started_at, Some(at(30)));
}

#[test]
fn a_subflow_that_fails_fails_its_task_and_one_not_waited_for_succeeds_at_once() {
    let mut script = Script::default();
    script.subflows.insert("child".into(), ExecutionState::Killed);
    let mut d = Driver::new(flow(vec![subflow("child", true)]), script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.run_of("child").error.as_deref(), Some("subflow sub-child ended KILLED"));

    let mut d = Driver::new(flow(vec![subflow("child", false), plugin("z")]), Script::default());
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.run_of("child").outputs, Some(json!({ "executionId": "sub-child" })));
    assert_eq!(d.run_of("z").started_at, Some(at(0)));
}

#[test]
fn a_subflow_that_cannot_start_fails_its_task_with_the_reason() {
    let mut d = Driver::new(flow(vec![subflow("child", true), plugin("z")]), Script::default());
    let step = d.start();
    assert_eq!(step.commands, vec![Command::StartSubflow { run: key("child") }]);
    let step = d
        .apply(Event::SubflowFailed {
            run: key("child"),
            now: at(1),
            error: "flow t.ghost does not exist".into(),
        })
        .unwrap();
    assert!(step.changed_runs.contains(&key("child")));
    assert_eq!(d.state_of("child"), Some(TaskRunState::Failed));
    assert_eq!(d.run_of("child").error.as_deref(), Some("flow t.ghost does not exist"));
    assert_eq!(d.exec.state(), ExecutionState::Failed);
    assert_eq!(d.state_of("z"), None);
    // Only a subflow waiting to start can fail to start.
    let again = Event::SubflowFailed { run: key("child"), now: at(2), error: "again".into() };
    assert!(d.apply(again).is_err());
}

#[test]
fn a_pause_waits_for_resume_and_its_inputs_become_outputs() {
    let script = Script::default().resume("gate", secs(60), json!({ "approved": true }));
    let mut d = Driver::new(flow(vec![plugin("a"), pause("gate", None), plugin("b")]), script);
    d.start();
    assert!(d.next());
    assert_eq!(d.exec.state(), ExecutionState::Paused);
    assert_eq!(d.exec.paused(), vec![&key("gate")]);
    assert_eq!(d.exec.pause_inputs(&key("gate")).unwrap()[0].id, "approved");
    assert_eq!(d.exec.pause_inputs(&key("a")), None);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.run_of("gate").outputs, Some(json!({ "approved": true })));
    assert_eq!(d.run_of("b").started_at, Some(at(61)));
    assert!(d.timers().is_empty());
}

#[test]
fn the_execution_is_paused_only_when_nothing_else_can_progress() {
    let script = Script::default().duration("slow", secs(10)).resume("gate", secs(60), json!({}));
    let mut d = Driver::new(flow(vec![par("p", 0, vec![pause("gate", None), plugin("slow")])]), script);
    d.start();
    assert_eq!(d.exec.state(), ExecutionState::Running);
    assert!(d.next());
    assert_eq!(d.state_of("slow"), Some(TaskRunState::Success));
    assert_eq!(d.exec.state(), ExecutionState::Paused);
    assert_eq!(d.run(), ExecutionState::Success);
}

#[test]
fn resume_without_a_name_takes_the_only_paused_task() {
    let mut d =
        Driver::new(flow(vec![par("p", 0, vec![pause("one", None), pause("two", None)])]), Script::default());
    d.start();
    let err = d.apply(Event::Resume { run: None, now: at(1), inputs: json!({}) }).unwrap_err();
    assert!(err.to_string().contains("several tasks are paused"), "{err}");
    d.apply(Event::Resume { run: Some(key("two")), now: at(1), inputs: json!({ "n": 2 }) }).unwrap();
    assert_eq!(d.exec.state(), ExecutionState::Paused);
    let step = d.apply(Event::Resume { run: None, now: at(2), inputs: json!({ "n": 1 }) }).unwrap();
    assert_eq!(step.commands, vec![Command::Finished { state: ExecutionState::Success }]);
    assert_eq!(d.run_of("one").outputs, Some(json!({ "n": 1 })));
}

#[test]
fn a_pause_times_out_into_a_failure() {
    let mut d = Driver::new(flow(vec![pause("gate", Some(secs(300))), plugin("b")]), Script::default());
    let step = d.start();
    assert_eq!(
        step.commands,
        vec![Command::StartTimer { run: key("gate"), timer: Timer::PauseTimeout, at: at(300) }]
    );
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.run_of("gate").error.as_deref(), Some("not resumed within 5m"));
    assert_eq!(d.state_of("b"), None);
}

#[test]
fn sleep_waits_its_evaluated_duration() {
    let script = Script::default().eval("nap", Evaluate::SleepDuration, Ok(Evaluation::Duration(secs(90))));
    let mut d = Driver::new(flow(vec![plugin("a"), sleep("nap"), plugin("b")]), script);
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.timers(), vec![("nap".to_owned(), Timer::Sleep, at(91))]);
    assert_eq!(d.run_of("b").started_at, Some(at(91)));
}

#[test]
fn fail_fails_with_its_message_or_warns_when_allowed() {
    let mut d = Driver::new(flow(vec![fail("stop"), plugin("b")]), Script::default());
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.run_of("stop").error.as_deref(), Some("stop says no"));
    assert_eq!(d.exec.record().error.as_deref(), Some("task `stop` failed: stop says no"));

    let mut d = Driver::new(flow(vec![fail("stop").allow_failure(), plugin("b")]), Script::default());
    assert_eq!(d.run(), ExecutionState::Warning);
    assert_eq!(d.state_of("stop"), Some(TaskRunState::Warning));
    assert_eq!(d.state_of("b"), Some(TaskRunState::Success));
}

#[test]
fn flow_outputs_are_rendered_before_the_end() {
    let mut d = Driver::new(flow(vec![plugin("a")]).outputs(), Script::default());
    assert_eq!(d.run(), ExecutionState::Success);
    assert_eq!(d.exec.record().outputs, Some(json!({ "result": "rendered" })));
    let kinds: Vec<&Command> = d.commands.iter().map(|(_, c)| c).skip(1).collect();
    assert_eq!(kinds, vec![&Command::RenderOutputs, &Command::Finished { state: ExecutionState::Success }]);

    let script = Script { rendered: Err("outputs.result: undefined value".into()), ..Script::default() };
    let mut d = Driver::new(flow(vec![plugin("a")]).outputs(), script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert_eq!(d.exec.record().error.as_deref(), Some("outputs.result: undefined value"));
    assert_eq!(d.exec.record().outputs, None);

    // Failed main tasks: no rendering.
    let script = Script::default().outcome("a", vec![fails_for_good("x")]);
    let mut d = Driver::new(flow(vec![plugin("a")]).outputs(), script);
    assert_eq!(d.run(), ExecutionState::Failed);
    assert!(!d.commands.iter().any(|(_, c)| *c == Command::RenderOutputs));
}
