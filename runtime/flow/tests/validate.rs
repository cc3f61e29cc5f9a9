//! Validation of parsed flows against the fixture catalog, one check at a time, and `load`.

#![allow(clippy::unwrap_used)]

mod common;

use common::FixtureCatalog;
use sluice_flow::{Diagnostic, load, parse, validate};

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    let parsed =
        parse("flow.yaml", text).unwrap_or_else(|d| panic!("{}", sluice_flow::render(&d, "flow.yaml", text)));
    validate(&parsed, &FixtureCatalog::load())
}

/// `(pointer, message, hint)` of each diagnostic of the flow around `tasks`.
fn check(tasks: &str) -> Vec<(String, String, Option<String>)> {
    diagnostics(&format!("id: f\nnamespace: n\ntasks:\n{tasks}"))
        .into_iter()
        .map(|d| (d.pointer, d.message, d.hint))
        .collect()
}

fn messages(tasks: &str) -> Vec<(String, String)> {
    check(tasks).into_iter().map(|(p, m, _)| (p, m)).collect()
}

fn pair(pointer: &str, message: &str) -> (String, String) {
    (pointer.to_string(), message.to_string())
}

#[test]
fn a_valid_flow_has_no_diagnostics() {
    assert_eq!(
        check(
            "  - {id: a, type: core.log, message: hi}\n  - {id: b, type: git.clone, url: u, dependsOn: [a]}\n"
        ),
        []
    );
}

#[test]
fn task_ids_are_unique_across_the_flow() {
    let found = diagnostics(
        "id: f
namespace: n
tasks:
  - {id: a, type: flow.sequential, tasks: [{id: b, type: flow.fail, message: m}]}
  - {id: b, type: flow.fail, message: m}
errors:
  - {id: a, type: flow.fail, message: m}
finally:
  - {id: c, type: flow.if, condition: 'true', then: [{id: c, type: flow.fail, message: m}]}
",
    );
    let found: Vec<(String, String)> = found.into_iter().map(|d| (d.pointer, d.message)).collect();
    assert_eq!(
        found,
        [
            pair("/tasks/1/id", "duplicate task id `b`, already used on line 4"),
            pair("/errors/0/id", "duplicate task id `a`, already used on line 4"),
            pair("/finally/0/then/0/id", "duplicate task id `c`, already used on line 9"),
        ]
    );
}

#[test]
fn input_and_trigger_ids_are_unique() {
    let found: Vec<(String, String)> = diagnostics(
        "id: f
namespace: n
inputs: [{id: x, type: string}, {id: x, type: int}]
tasks:
  - {id: p, type: flow.pause, onResume: [{id: ok, type: bool}, {id: ok, type: bool}]}
triggers:
  - {id: t, type: webhook, key: k}
  - {id: t, type: webhook, key: k2}
",
    )
    .into_iter()
    .map(|d| (d.pointer, d.message))
    .collect();
    assert_eq!(
        found,
        [
            pair("/inputs/1/id", "duplicate input id `x`, already used on line 3"),
            pair("/tasks/0/onResume/1/id", "duplicate input id `ok`, already used on line 5"),
            pair("/triggers/1/id", "duplicate trigger id `t`, already used on line 7"),
        ]
    );
}

#[test]
fn depends_on_names_siblings() {
    let found = check(
        "  - {id: build, type: flow.fail, message: m}
  - {id: test, type: flow.fail, message: m, dependsOn: [bulid]}
  - {id: group, type: flow.parallel, tasks: [{id: inner, type: flow.fail, message: m}]}
  - {id: deploy, type: flow.fail, message: m, dependsOn: [inner, zzz]}
",
    );
    assert_eq!(
        found,
        [
            (
                "/tasks/1/dependsOn/0".to_string(),
                "unknown task `bulid` in `dependsOn` of task `test`".to_string(),
                Some("did you mean `build`?".to_string())
            ),
            (
                "/tasks/3/dependsOn/0".to_string(),
                "task `inner` is not in the same list as task `deploy`".to_string(),
                Some(
                    "`dependsOn` names tasks of the same list; depend on `group`, which contains `inner`"
                        .to_string()
                )
            ),
            (
                "/tasks/3/dependsOn/1".to_string(),
                "unknown task `zzz` in `dependsOn` of task `deploy`".to_string(),
                Some("`dependsOn` names tasks of the same list: `build`, `test`, `group`".to_string())
            ),
        ]
    );
}

#[test]
fn depends_on_works_in_nested_lists() {
    let nested = "  - id: g
    type: flow.if
    condition: 'true'
    then:
      - {id: a, type: flow.fail, message: m}
      - {id: b, type: flow.fail, message: m, dependsOn: [a]}
    else:
      - id: each
        type: flow.forEach
        values: [1]
        tasks:
          - {id: c, type: flow.fail, message: m}
          - {id: d, type: flow.fail, message: m, dependsOn: [c]}
";
    assert_eq!(check(nested), []);
}

#[test]
fn a_task_depending_on_itself() {
    assert_eq!(
        messages("  - {id: a, type: flow.fail, message: m, dependsOn: [a]}\n"),
        [pair("/tasks/0/dependsOn/0", "task `a` depends on itself")]
    );
}

#[test]
fn cycles_are_named() {
    let found = check(
        "  - id: group
    type: flow.parallel
    tasks:
      - {id: a, type: flow.fail, message: m, dependsOn: [b]}
      - {id: b, type: flow.fail, message: m, dependsOn: [c]}
      - {id: c, type: flow.fail, message: m, dependsOn: [a]}
      - {id: free, type: flow.fail, message: m, dependsOn: [a]}
",
    );
    assert_eq!(
        found,
        [(
            "/tasks/0/tasks/0/dependsOn/0".to_string(),
            "dependency cycle: a -> b -> c -> a".to_string(),
            Some("each task waits for the next, so none of them can start".to_string())
        )]
    );
}

#[test]
fn implicit_waits_of_sequential_lists_close_cycles() {
    // `b` waits for `a` (it comes after it, without `dependsOn`), and `a` waits for `b`.
    let found = check(
        "  - {id: a, type: flow.fail, message: m, dependsOn: [b]}\n  - {id: b, type: flow.fail, message: m}\n",
    );
    assert_eq!(
        found,
        [(
            "/tasks/0/dependsOn/0".to_string(),
            "dependency cycle: a -> b -> a".to_string(),
            Some(
                "each task waits for the next, so none of them can start; `b` has no `dependsOn`, so it waits for \
                 the task before it, `a`"
                    .to_string()
            )
        )]
    );
    // In a parallel list nothing waits implicitly.
    let parallel = "  - {id: p, type: flow.parallel, tasks: [{id: a, type: flow.fail, message: m, dependsOn: [b]}, {id: b, type: flow.fail, message: m}]}\n";
    assert_eq!(check(parallel), []);
}

#[test]
fn plugins_and_tasks_must_be_installed() {
    let found = check(
        "  - {id: a, type: gti.clone, url: u}
  - {id: b, type: docker.build}
  - {id: c, type: core.lgo, message: m}
  - {id: d, type: core.xyz}
",
    );
    assert_eq!(
        found,
        [
            (
                "/tasks/0/type".to_string(),
                "plugin `gti` is not installed; installed: core, git".to_string(),
                Some("did you mean `git`?".to_string())
            ),
            (
                "/tasks/1/type".to_string(),
                "plugin `docker` is not installed; installed: core, git".to_string(),
                Some("install it by putting its .wasm component in <data-dir>/plugins".to_string())
            ),
            (
                "/tasks/2/type".to_string(),
                "plugin `core` has no task `lgo`; its tasks are `log`, `http`, `fail`, `assert`".to_string(),
                Some("did you mean `core.log`?".to_string())
            ),
            (
                "/tasks/3/type".to_string(),
                "plugin `core` has no task `xyz`; its tasks are `log`, `http`, `fail`, `assert`".to_string(),
                None
            ),
        ]
    );
}

#[test]
fn pinned_digests_must_match_the_installed_plugin() {
    let installed = FixtureCatalog::load().digest("core");
    assert_eq!(check(&format!("  - {{id: a, type: 'core.log@sha256:{installed}', message: m}}\n")), []);
    let other = "0".repeat(64);
    let found = check(&format!("  - {{id: a, type: 'core.log@sha256:{other}', message: m}}\n"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "/tasks/0/type");
    assert_eq!(
        found[0].1,
        format!(
            "`core.log` is pinned to sha256:000000000000…, but the installed `core` is sha256:{}…",
            &installed[..12]
        )
    );
    assert_eq!(
        found[0].2.as_deref(),
        Some(
            format!("install the pinned build of `core`, or pin the installed one: `@sha256:{installed}`")
                .as_str()
        )
    );
}

#[test]
fn config_is_checked_against_the_task_schema_at_each_key() {
    let found = check(
        "  - {id: a, type: core.http, method: 5}
  - {id: b, type: core.log, message: m, level: loud, colur: red, dependOn: [a]}
  - {id: c, type: core.assert, conditions: [{that: 1, message: m}, {message: m, extra: x}]}
",
    );
    let expected: [(&str, &str, Option<&str>); 8] = [
        ("/tasks/0", "missing key `url`, required by `core.http`", None),
        ("/tasks/0/method", "expected a string, found the number `5`", None),
        (
            "/tasks/1/colur",
            "unknown key `colur` in task `b` (`core.log`)",
            Some("the config keys of `core.log` are `level`, `message`"),
        ),
        (
            "/tasks/1/dependOn",
            "unknown key `dependOn` in task `b` (`core.log`)",
            Some("did you mean `dependsOn`?"),
        ),
        (
            "/tasks/1/level",
            "unknown value `loud`; expected one of `trace`, `debug`, `info`, `warn`, `error`",
            None,
        ),
        ("/tasks/2/conditions/0/that", "expected `true` or `false`, found the number `1`", None),
        ("/tasks/2/conditions/1", "missing key `that`, required by `core.assert`", None),
        (
            "/tasks/2/conditions/1/extra",
            "unknown key `extra` in the config of `core.assert`",
            Some("the config keys of `core.assert` are `message`, `that`"),
        ),
    ];
    let mut expected: Vec<_> =
        expected.into_iter().map(|(p, m, h)| (p.to_string(), m.to_string(), h.map(str::to_string))).collect();
    expected.sort();
    let mut found = found;
    found.sort();
    assert_eq!(found, expected);
}

#[test]
fn templated_config_values_are_left_to_run_time() {
    let templated = "  - {id: a, type: core.http, url: u, maxBodyBytes: '{{ vars.max }}', followRedirects: '{{ vars.follow }}'}
  - {id: b, type: core.assert, conditions: [{that: '{{ outputs.a.status == 200 }}', message: ok}]}
";
    let found = diagnostics(&format!(
        "id: f\nnamespace: n\nvariables: {{max: 10, follow: true}}\ntasks:\n{templated}"
    ));
    assert_eq!(found, []);
}

#[test]
fn templates_are_checked_too() {
    let found = check("  - {id: a, type: core.log, message: '{{ inputs.missing }}'}\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "/tasks/0/message");
}

#[test]
fn load_locks_plugin_tasks_to_their_digests() {
    let catalog = FixtureCatalog::load();
    let text = "id: f
namespace: n
tasks:
  - {id: a, type: core.log, message: m}
  - {id: g, type: flow.parallel, tasks: [{id: b, type: git.clone, url: u}]}
finally:
  - {id: c, type: core.fail, message: m}
";
    let locked = load("flow.yaml", text, &catalog).unwrap();
    let digests: Vec<(&str, &str)> = locked.digests.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (core, git) = (catalog.digest("core"), catalog.digest("git"));
    assert_eq!(digests, [("a", core.as_str()), ("b", git.as_str()), ("c", core.as_str())]);
    assert_eq!(locked.flow.id, "f");
    assert_eq!(locked.source.position("/tasks/1/tasks/0/url"), Some((5, 72)));
}

#[test]
fn load_reports_parse_and_validation_problems_together() {
    let text = "id: f
namespace: n
tasks:
  - {id: a, type: core.log, message: m, timeout: soon}
  - {id: a, type: gti.clone}
";
    let found: Vec<String> = load("flow.yaml", text, &FixtureCatalog::load())
        .unwrap_err()
        .into_iter()
        .map(|d| d.pointer)
        .collect();
    assert_eq!(found, ["/tasks/0/timeout", "/tasks/1/id", "/tasks/1/type"]);
    // Text that is not a flow at all stops at the parse.
    let found = load("flow.yaml", "tasks: [\n", &FixtureCatalog::load()).unwrap_err();
    assert_eq!(found.len(), 1);
    assert!(found[0].message.starts_with("invalid YAML"));
}
