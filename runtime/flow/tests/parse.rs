//! Parsing flows into the typed model: every task kind, the defaults, units, inputs, triggers,
//! and the positions of nodes.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use sluice_flow::*;

fn parse_ok(text: &str) -> Parsed {
    match parse("flow.yaml", text) {
        Ok(parsed) => parsed,
        Err(diagnostics) => panic!("{}", render(&diagnostics, "flow.yaml", text)),
    }
}

/// A flow around `tasks` (indented YAML of the task list).
fn with_tasks(tasks: &str) -> Flow {
    parse_ok(&format!("id: f\nnamespace: n\ntasks:\n{tasks}")).flow
}

fn errors(text: &str) -> Vec<(String, String)> {
    parse("flow.yaml", text).unwrap_err().into_iter().map(|d| (d.pointer, d.message)).collect()
}

fn message_config() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::from_iter([("message".to_string(), json!("hi"))])
}

#[test]
fn a_minimal_flow_and_its_defaults() {
    let flow = with_tasks("  - id: greet\n    type: core.log\n    message: hi\n");
    assert_eq!(flow.id, "f");
    assert_eq!(flow.namespace, "n");
    assert!(!flow.disabled);
    assert_eq!(flow.timeout, None);
    assert!(
        flow.inputs.is_empty()
            && flow.errors.is_empty()
            && flow.finally.is_empty()
            && flow.triggers.is_empty()
    );
    let task = &flow.tasks[0];
    assert_eq!(
        *task,
        Task::new(
            "greet",
            TaskKind::Plugin {
                task_type: TaskType { plugin: "core".into(), task: "log".into(), digest: None },
                config: message_config(),
            },
            "/tasks/0",
        )
    );
}

#[test]
fn common_task_keys() {
    let flow = with_tasks(
        "  - id: fetch
    type: core.http@sha256:f21a53375047734e1b3dda77dec03a11de05fd047f7989022047eef88d33d473
    description: get it
    url: https://example.com
    timeout: 5m
    allowFailure: true
    runIf: \"{{ inputs.go }}\"
    disabled: true
    dependsOn: [a, b]
    allow: {network: ['https://example.com'], docker: true, env: [HOME], secrets: [TOKEN]}
    limits: {memory: 256MiB, output: 1MiB, log: 10MB}
    retry: {type: exponential, maxAttempts: 4, interval: 1s, maxInterval: 1m, maxDuration: 1h}
",
    );
    let task = &flow.tasks[0];
    let TaskKind::Plugin { task_type, config } = &task.kind else { panic!("{:?}", task.kind) };
    assert_eq!(
        task_type.digest.as_deref(),
        Some("f21a53375047734e1b3dda77dec03a11de05fd047f7989022047eef88d33d473")
    );
    assert_eq!(
        task_type.to_string(),
        "core.http@sha256:f21a53375047734e1b3dda77dec03a11de05fd047f7989022047eef88d33d473"
    );
    // Only the non-common keys are the plugin's config.
    assert_eq!(serde_json::Value::Object(config.clone()), json!({ "url": "https://example.com" }));
    assert_eq!(task.description.as_deref(), Some("get it"));
    assert_eq!(task.timeout, Some(Duration::from_secs(300)));
    assert!(task.allow_failure && task.disabled);
    assert_eq!(task.run_if.as_deref(), Some("{{ inputs.go }}"));
    assert_eq!(task.depends_on, ["a", "b"]);
    assert_eq!(
        task.allow,
        Allow {
            network: vec!["https://example.com".into()],
            docker: true,
            env: vec!["HOME".into()],
            secrets: vec!["TOKEN".into()]
        }
    );
    assert_eq!(
        task.limits,
        TaskLimits { memory: Some(256 << 20), output: Some(1 << 20), log: Some(10_000_000), disk: None }
    );
    assert_eq!(
        task.retry,
        Some(Retry {
            kind: RetryKind::Exponential,
            max_attempts: 4,
            interval: Duration::from_secs(1),
            max_interval: Some(Duration::from_secs(60)),
            max_duration: Some(Duration::from_secs(3600)),
            factor: 2.0,
        })
    );
}

#[test]
fn every_native_task_kind() {
    let flow = with_tasks(
        "  - id: seq
    type: flow.sequential
    tasks: [{id: s1, type: flow.fail, message: stop}]
  - id: par
    type: flow.parallel
    tasks: [{id: p1, type: flow.sleep, duration: 1s}]
  - id: par2
    type: flow.parallel
    concurrency: 3
    tasks: [{id: p2, type: flow.sleep, duration: \"{{ inputs.wait }}\"}]
  - id: branch
    type: flow.if
    condition: \"{{ inputs.go }}\"
    then: [{id: yes, type: flow.fail, message: y}]
    else: [{id: no, type: flow.fail, message: n}]
  - id: pick
    type: flow.switch
    value: \"{{ inputs.env }}\"
    cases:
      prod: [{id: c1, type: flow.fail, message: p}]
      1: [{id: c2, type: flow.fail, message: one}]
    default: [{id: c3, type: flow.fail, message: d}]
  - id: each
    type: flow.forEach
    values: [1, 2]
    tasks: [{id: e1, type: flow.fail, message: e}]
  - id: each2
    type: flow.forEach
    values: \"{{ inputs.list }}\"
    concurrency: 0
    tasks: [{id: e2, type: flow.fail, message: e}]
  - id: sub
    type: flow.subflow
    namespace: other.team
    flowId: deploy
    inputs: {env: prod}
  - id: sub2
    type: flow.subflow
    namespace: other
    flowId: deploy
    wait: false
  - id: hold
    type: flow.pause
    timeout: PT1H
    onResume: [{id: ok, type: bool}]
  - id: hold2
    type: flow.pause
  - id: nap
    type: flow.sleep
    duration: 1h 30m
",
    );
    let kinds: BTreeMap<&str, &TaskKind> = flow.tasks.iter().map(|t| (t.id.as_str(), &t.kind)).collect();
    let TaskKind::Sequential { tasks } = kinds["seq"] else { panic!() };
    assert_eq!(tasks[0].kind, TaskKind::Fail { message: "stop".into() });
    assert_eq!(tasks[0].pointer, "/tasks/0/tasks/0");
    let TaskKind::Parallel { tasks, concurrency: 0 } = kinds["par"] else { panic!("{:?}", kinds["par"]) };
    assert_eq!(tasks[0].kind, TaskKind::Sleep { duration: "1s".into() });
    let TaskKind::Parallel { tasks, concurrency: 3 } = kinds["par2"] else { panic!() };
    assert_eq!(tasks[0].kind, TaskKind::Sleep { duration: "{{ inputs.wait }}".into() });
    let TaskKind::If { condition, then, otherwise } = kinds["branch"] else { panic!() };
    assert_eq!(
        (condition.as_str(), then[0].id.as_str(), otherwise[0].id.as_str()),
        ("{{ inputs.go }}", "yes", "no")
    );
    assert_eq!(otherwise[0].pointer, "/tasks/3/else/0");
    let TaskKind::Switch { value, cases, default } = kinds["pick"] else { panic!() };
    assert_eq!(value, "{{ inputs.env }}");
    assert_eq!(cases.keys().collect::<Vec<_>>(), ["1", "prod"]);
    assert_eq!(cases["prod"][0].pointer, "/tasks/4/cases/prod/0");
    assert_eq!(default[0].id, "c3");
    let TaskKind::ForEach { values, concurrency: 1, tasks } = kinds["each"] else { panic!() };
    assert_eq!((values, tasks.len()), (&json!([1, 2]), 1));
    let TaskKind::ForEach { values, concurrency: 0, .. } = kinds["each2"] else { panic!() };
    assert_eq!(values, &json!("{{ inputs.list }}"));
    let TaskKind::Subflow { namespace, flow_id, inputs, wait: true } = kinds["sub"] else { panic!() };
    assert_eq!((namespace.as_str(), flow_id.as_str()), ("other.team", "deploy"));
    assert_eq!(serde_json::Value::Object(inputs.clone()), json!({ "env": "prod" }));
    assert!(matches!(kinds["sub2"], TaskKind::Subflow { wait: false, .. }));
    let TaskKind::Pause { timeout, on_resume } = kinds["hold"] else { panic!() };
    assert_eq!(*timeout, Some(Duration::from_secs(3600)));
    assert_eq!(
        (on_resume[0].id.as_str(), on_resume[0].kind, on_resume[0].required),
        ("ok", InputType::Bool, true)
    );
    assert_eq!(on_resume[0].pointer, "/tasks/9/onResume/0");
    // A pause's `timeout` is its wait, not the task's run timeout.
    assert_eq!(flow.tasks[9].timeout, None);
    assert_eq!(kinds["hold2"], &TaskKind::Pause { timeout: None, on_resume: vec![] });
    assert_eq!(kinds["nap"], &TaskKind::Sleep { duration: "1h 30m".into() });
    assert_eq!(flow.all_tasks().len(), 12 + 10);
}

#[test]
fn durations_human_and_iso() {
    for (text, seconds) in [
        ("30s", 30),
        ("5m", 300),
        ("1h 30m", 5400),
        ("1h30m", 5400),
        ("PT30S", 30),
        ("PT1H30M", 5400),
        ("P1D", 86_400),
        ("P1W", 604_800),
    ] {
        let flow = parse_ok(&format!(
            "id: f\nnamespace: n\ntimeout: {text}\ntasks: [{{id: t, type: flow.fail, message: m}}]\n"
        ))
        .flow;
        assert_eq!(flow.timeout, Some(Duration::from_secs(seconds)), "{text}");
    }
    let flow =
        parse_ok("id: f\nnamespace: n\ntimeout: PT0.5S\ntasks: [{id: t, type: flow.fail, message: m}]\n")
            .flow;
    assert_eq!(flow.timeout, Some(Duration::from_millis(500)));
}

#[test]
fn bad_durations() {
    let bad = |value: &str| {
        errors(&format!(
            "id: f\nnamespace: n\ntimeout: {value}\ntasks: [{{id: t, type: flow.fail, message: m}}]\n"
        ))
    };
    assert_eq!(bad("P1Y")[0].0, "/timeout");
    assert!(bad("P1Y")[0].1.contains("no fixed length"), "{:?}", bad("P1Y"));
    assert!(bad("soon")[0].1.starts_with("invalid duration `soon`"));
    assert_eq!(bad("0s")[0].1, "the duration must be longer than zero");
    assert!(bad("30")[0].1.starts_with("expected a duration like"));
    let sleep = errors("id: f\nnamespace: n\ntasks: [{id: t, type: flow.sleep, duration: forever}]\n");
    assert_eq!(sleep[0].0, "/tasks/0/duration");
}

#[test]
fn sizes() {
    let limits = |memory: &str| {
        with_tasks(&format!("  - {{id: t, type: core.log, message: m, limits: {{memory: {memory}}}}}\n"))
            .tasks[0]
            .limits
            .memory
    };
    assert_eq!(limits("1024"), Some(1024));
    assert_eq!(limits("2KB"), Some(2000));
    assert_eq!(limits("2KiB"), Some(2048));
    assert_eq!(limits("3 MB"), Some(3_000_000));
    assert_eq!(limits("64MiB"), Some(64 << 20));
    assert_eq!(limits("1GB"), Some(1_000_000_000));
    assert_eq!(limits("1GiB"), Some(1 << 30));
    assert_eq!(limits("7B"), Some(7));
    let bad = errors("id: f\nnamespace: n\ntasks: [{id: t, type: core.log, limits: {memory: 2TB}}]\n");
    assert_eq!(
        bad,
        [("/tasks/0/limits/memory".to_string(), "invalid size `2TB`: `TB` is not a size unit".to_string())]
    );
}

#[test]
fn worker_tags_on_plugin_tasks() {
    let flow = with_tasks(
        "  - {id: a, type: core.log, message: m, workerTags: [linux, docker]}\n  \
         - {id: b, type: flow.parallel, tasks: [{id: c, type: core.log, message: m, workerTags: [docker, gpu]}]}\n",
    );
    assert_eq!(flow.tasks[0].worker_tags, ["linux", "docker"]);
    assert_eq!(flow.worker_tags(), ["docker", "gpu", "linux"], "every task's, sorted, each once");
    assert_eq!(with_tasks("  - {id: a, type: core.log, message: m}\n").worker_tags(), Vec::<String>::new());
    let bad = errors("id: f\nnamespace: n\ntasks: [{id: t, type: core.log, workerTags: [Docker]}]\n");
    assert_eq!(
        bad,
        [(
            "/tasks/0/workerTags".to_string(),
            "invalid worker tag `Docker`: it must start with a lowercase letter or a digit".to_string()
        )]
    );
    let native =
        errors("id: f\nnamespace: n\ntasks: [{id: t, type: flow.sleep, duration: 1s, workerTags: [x]}]\n");
    assert_eq!(native[0].1, "`workerTags` has no effect on task `t` (`flow.sleep`)");
    let not_a_list = errors("id: f\nnamespace: n\ntasks: [{id: t, type: core.log, workerTags: docker}]\n");
    assert_eq!(not_a_list[0].0, "/tasks/0/workerTags");
}

#[test]
fn retry_defaults_and_kinds() {
    let retry = |body: &str| {
        with_tasks(&format!("  - {{id: t, type: core.log, message: m, retry: {body}}}\n")).tasks[0]
            .retry
            .clone()
            .unwrap()
    };
    let constant = retry("{type: constant, maxAttempts: 3, interval: 10s}");
    assert_eq!(
        (constant.kind, constant.max_attempts, constant.interval),
        (RetryKind::Constant, 3, Duration::from_secs(10))
    );
    assert_eq!((constant.max_interval, constant.max_duration, constant.factor), (None, None, 2.0));
    let exponential = retry("{type: exponential, maxAttempts: 5, interval: 1s, factor: 1.5}");
    assert_eq!(exponential.factor, 1.5);
    let random = retry("{type: random, maxAttempts: 2, interval: 1s, maxInterval: 5s}");
    assert_eq!(random.max_interval, Some(Duration::from_secs(5)));
    let bad = errors(
        "id: f\nnamespace: n\nretry: {type: exponential, maxAttempts: 2, interval: 10s, maxInterval: 1s, factor: 0.5}\ntasks: [{id: t, type: flow.fail, message: m}]\n",
    );
    assert_eq!(
        bad,
        [
            ("/retry/factor".to_string(), "`factor` must be at least 1, found 0.5".to_string()),
            (
                "/retry/maxInterval".to_string(),
                "`maxInterval` (1s) is shorter than `interval` (10s)".to_string()
            ),
        ]
    );
}

#[test]
fn flow_level_keys() {
    let flow = parse_ok(
        "id: build
namespace: company.team
description: d
labels: {team: core, tier: 1, on: true}
variables: {greeting: hello, n: 3}
outputs: {sha: \"{{ outputs.t.sha }}\"}
concurrency: {limit: 2}
retry: {type: constant, maxAttempts: 2, interval: 1s}
disabled: true
tasks: [{id: t, type: flow.fail, message: m}]
errors: [{id: e, type: flow.fail, message: m}]
finally: [{id: z, type: flow.fail, message: m}]
",
    )
    .flow;
    assert_eq!(flow.description.as_deref(), Some("d"));
    assert_eq!(flow.labels.get("tier").map(String::as_str), Some("1"));
    assert_eq!(flow.labels.get("on").map(String::as_str), Some("true"));
    assert_eq!(flow.variables["n"], json!(3));
    assert_eq!(flow.outputs["sha"], json!("{{ outputs.t.sha }}"));
    assert_eq!(flow.concurrency, Some(Concurrency { limit: 2, behavior: ConcurrencyBehavior::Queue }));
    assert!(flow.retry.is_some() && flow.disabled);
    assert_eq!(
        (flow.errors[0].pointer.as_str(), flow.finally[0].pointer.as_str()),
        ("/errors/0", "/finally/0")
    );
}

#[test]
fn inputs_and_their_defaults() {
    let flow = parse_ok(
        "id: f
namespace: n
inputs:
  - {id: name, type: string}
  - {id: env, type: select, values: [dev, prod], default: dev}
  - {id: optional, type: int, required: false}
  - {id: count, type: int, min: 1, max: 5, default: 3}
  - {id: hosts, type: array, itemType: int, default: [1, 2]}
  - {id: tag, type: string, pattern: 'v[0-9]+', default: v12}
  - {id: at, type: datetime, default: '2024-05-01T12:00:00Z'}
  - {id: wait, type: duration, default: PT5M}
  - {id: blob, type: json, default: {a: [1]}}
tasks: [{id: t, type: flow.fail, message: m}]
",
    )
    .flow;
    let inputs: BTreeMap<&str, &Input> = flow.inputs.iter().map(|i| (i.id.as_str(), i)).collect();
    assert!(inputs["name"].required && inputs["name"].default.is_none());
    assert!(!inputs["env"].required);
    assert_eq!(inputs["env"].values, ["dev", "prod"]);
    assert!(!inputs["optional"].required);
    assert_eq!((inputs["count"].min, inputs["count"].max), (Some(1.0), Some(5.0)));
    assert_eq!(inputs["hosts"].item_type, Some(InputType::Int));
    assert_eq!(inputs["tag"].pattern.as_deref(), Some("v[0-9]+"));
    assert_eq!(inputs["blob"].default, Some(json!({ "a": [1] })));
    assert_eq!(inputs["wait"].pointer, "/inputs/7");
}

#[test]
fn bad_inputs() {
    let bad = errors(
        "id: f
namespace: n
inputs:
  - {id: a, type: select, values: []}
  - {id: b, type: int, default: 2.5}
  - {id: c, type: string, pattern: '(', default: x}
  - {id: d, type: array, itemType: select}
  - {id: e, type: int, min: 5, max: 1}
  - {id: f, type: bool, pattern: x}
tasks: [{id: t, type: flow.fail, message: m}]
",
    );
    let pointers: Vec<&str> = bad.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/inputs/0/values",
            "/inputs/1/default",
            "/inputs/2/pattern",
            "/inputs/3/itemType",
            "/inputs/4/max",
            "/inputs/5/pattern"
        ]
    );
    assert_eq!(bad[1].1, "the default of input `b` must be a whole number, found the number `2.5`");
    assert!(bad[2].1.starts_with("invalid regular expression"), "{}", bad[2].1);
    assert_eq!(bad[5].1, "`pattern` applies only to `string` and `secret` inputs");
}

#[test]
fn triggers() {
    let flow = parse_ok(
        "id: f
namespace: n
tasks: [{id: t, type: flow.fail, message: m}]
triggers:
  - {id: nightly, type: schedule, cron: '0 3 * * *'}
  - {id: secs, type: schedule, cron: '*/10 * * * * *', timezone: Europe/Paris, recoverMissed: all, disabled: true}
  - {id: daily, type: schedule, cron: '@daily'}
  - {id: hook, type: webhook, key: abc-123, signature: {type: gitlab, secret: TOKEN}, inputs: {env: prod}}
  - {id: after, type: flow, namespace: other, flowId: build}
  - {id: after2, type: flow, namespace: other, flowId: build, states: [FAILED]}
",
    )
    .flow;
    let kinds: Vec<&TriggerKind> = flow.triggers.iter().map(|t| &t.kind).collect();
    assert_eq!(
        kinds[0],
        &TriggerKind::Schedule {
            cron: "0 3 * * *".into(),
            timezone: None,
            recover_missed: RecoverMissed::Last
        }
    );
    assert_eq!(
        kinds[1],
        &TriggerKind::Schedule {
            cron: "*/10 * * * * *".into(),
            timezone: Some("Europe/Paris".into()),
            recover_missed: RecoverMissed::All
        }
    );
    assert!(flow.triggers[1].disabled);
    assert_eq!(
        kinds[3],
        &TriggerKind::Webhook {
            key: "abc-123".into(),
            signature: Some(WebhookSignature::Gitlab { secret: "TOKEN".into() })
        }
    );
    assert_eq!(serde_json::Value::Object(flow.triggers[3].inputs.clone()), json!({ "env": "prod" }));
    let TriggerKind::Flow { states, .. } = kinds[4] else { panic!() };
    assert_eq!(states, &["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"]);
    let TriggerKind::Flow { states, .. } = kinds[5] else { panic!() };
    assert_eq!(states, &["FAILED"]);
    assert_eq!(flow.triggers[5].pointer, "/triggers/5");
}

#[test]
fn every_problem_is_reported_at_once() {
    let bad = errors(
        "id: f
namespace: n
timeout: never
tasks:
  - {id: a, type: flow.parallel, concurrency: x, tasks: []}
  - {id: b, type: flow.nope}
  - {type: core.log}
",
    );
    let pointers: Vec<&str> = bad.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(pointers, ["/tasks/0/tasks", "/tasks/0/concurrency", "/tasks/1/type", "/tasks/2", "/timeout"]);
}

#[test]
fn the_source_map_knows_keys_and_values() {
    let text = "id: f\nnamespace: n\ntasks:\n  - id: build\n    type: core.log\n    dependsOn: [a, 'b']\n";
    let parsed = parse_ok(text);
    let source = &parsed.source;
    assert_eq!(source.file_name(), "flow.yaml");
    assert_eq!(source.text(), text);
    assert_eq!(source.position("/tasks/0/id"), Some((4, 9)));
    assert_eq!(source.key_position("/tasks/0/id"), Some((4, 5)));
    assert_eq!(source.position("/tasks/0/dependsOn/1"), Some((6, 20)));
    assert_eq!(source.position("/tasks/0"), Some((4, 5)));
    assert_eq!(source.key_position("/tasks/0"), None);
    assert_eq!(source.position("/nope"), None);
    // Unknown nodes resolve to their nearest known ancestor.
    assert_eq!(source.locate("/tasks/0/dependsOn/7", false).map(|s| s.start), Some((6, 16)));
    assert_eq!(source.locate("/tasks/0/type", true), Some(Span { start: (5, 5), end: (5, 9) }));
}

#[test]
fn anchors_aliases_and_merges_resolve_to_their_text() {
    let text = "id: f
namespace: n
x-retry: &retry {type: constant, maxAttempts: 2, interval: bad}
tasks:
  - &base
    id: a
    type: core.log
    message: m
  - <<: *base
    id: b
    retry: *retry
";
    // The anchored `retry` is copied into task b; its bad interval points at the anchor's text.
    let diagnostics = parse("flow.yaml", text).unwrap_err();
    let pointers: Vec<&str> = diagnostics.iter().map(|d| d.pointer.as_str()).collect();
    assert_eq!(pointers, ["/x-retry", "/tasks/1/retry/interval"]);
    let source = SourceMap::new("flow.yaml", text);
    assert_eq!(source.position("/tasks/1/retry/interval"), Some((3, 60)));
    assert_eq!(source.position("/tasks/1/type"), Some((7, 11)), "merged from the base");
    assert_eq!(source.position("/tasks/1/id"), Some((10, 9)), "its own key wins");
}

#[test]
fn yaml_level_problems() {
    let duplicate = parse("f.yaml", "id: a\nid: b\n").unwrap_err();
    assert_eq!((duplicate[0].pointer.as_str(), duplicate[0].at_key), ("/id", true));
    assert_eq!(duplicate[0].message, "duplicate key `id`");
    let syntax = parse("f.yaml", "a: [\n").unwrap_err();
    assert!(syntax[0].message.starts_with("invalid YAML: "), "{}", syntax[0].message);
    assert!(syntax[0].position.is_some());
    let tagged = parse("f.yaml", "id: !custom x\nnamespace: n\ntasks: []\n").unwrap_err();
    assert_eq!(tagged[0].pointer, "/id");
    let not_a_mapping = parse("f.yaml", "- a\n- b\n").unwrap_err();
    assert_eq!(
        not_a_mapping[0].message,
        "expected a flow (a mapping with `id`, `namespace` and `tasks`), found a list"
    );
}
