//! Rendering templated fields: context roots, native values, filters, functions, strictness,
//! secrets, limits and conditions.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use sluice_flow::template::{Context, SecretAccess, Secrets, TemplateError, Templates};

fn ctx() -> Context {
    Context {
        inputs: json!({"branch": "main", "n": 3, "deploy": true, "answer": "No"}),
        vars: json!({"image": "registry.local/app:1"}),
        outputs: json!({
            "clone": {"commit": "abc123", "files": ["a.rs", "b.rs"], "meta": {"author": {"name": "ada"}}},
            "list": {"items": [1, 2, 3]},
            "test": {"passed": true, "failures": 0},
        }),
        flow: json!({"id": "ci", "namespace": "company.team", "revision": 4}),
        execution: json!({"id": "exec-1", "startDate": "2024-05-01T12:00:00Z"}),
        taskrun: json!({"attempt": 1}),
        working_dir: "/work/exec-1".to_string(),
        trigger: json!({"body": {"ref": "refs/heads/main"}}),
        now: Utc.with_ymd_and_hms(2024, 5, 1, 12, 30, 5).unwrap(),
    }
}

fn render(template: &str) -> Result<String, TemplateError> {
    Templates::new().render_str("tasks.build.url", template, &ctx(), None).map(|r| r.value)
}

fn render_with(template: &str, ctx: &Context) -> Result<String, TemplateError> {
    Templates::new().render_str("tasks.build.url", template, ctx, None).map(|r| r.value)
}

fn value(value: Value) -> Result<Value, TemplateError> {
    Templates::new().render_value("/tasks/2", &value, &ctx(), None).map(|r| r.value)
}

fn error(location: &str, message: &str) -> TemplateError {
    TemplateError { location: location.to_string(), message: message.to_string() }
}

fn condition(text: &str) -> Result<bool, TemplateError> {
    Templates::new().eval_bool("/tasks/0/runIf", text, &ctx(), None)
}

#[test]
fn every_context_root_is_readable() {
    assert_eq!(render("{{ inputs.branch }}").unwrap(), "main");
    assert_eq!(render("{{ vars.image }}").unwrap(), "registry.local/app:1");
    assert_eq!(render("{{ outputs.clone.commit }}").unwrap(), "abc123");
    assert_eq!(
        render("{{ flow.namespace }}.{{ flow.id }}@{{ flow.revision }}").unwrap(),
        "company.team.ci@4"
    );
    assert_eq!(
        render("{{ execution.id }} {{ execution.startDate }}").unwrap(),
        "exec-1 2024-05-01T12:00:00Z"
    );
    assert_eq!(render("{{ taskrun.attempt }}").unwrap(), "1");
    assert_eq!(render("{{ workingDir }}/src").unwrap(), "/work/exec-1/src");
    assert_eq!(render("{{ trigger.body.ref }}").unwrap(), "refs/heads/main");
}

#[test]
fn a_missing_trigger_is_none() {
    let ctx = Context { trigger: Value::Null, ..ctx() };
    assert_eq!(render_with("{{ trigger is none }}", &ctx).unwrap(), "true");
}

#[test]
fn booleans_print_as_json_spells_them() {
    assert_eq!(
        render("--deploy={{ inputs.deploy }} --dry={{ not inputs.deploy }}").unwrap(),
        "--deploy=true --dry=false"
    );
}

#[test]
fn nested_outputs_by_attribute_and_index() {
    assert_eq!(render("{{ outputs.clone.meta.author.name }}").unwrap(), "ada");
    assert_eq!(render("{{ outputs.clone.files[1] }}").unwrap(), "b.rs");
    assert_eq!(render("{{ outputs['clone']['commit'][:3] }}").unwrap(), "abc");
    assert_eq!(
        render("{% for f in outputs.clone.files %}{{ loop.index }}:{{ f }} {% endfor %}").unwrap(),
        "1:a.rs 2:b.rs "
    );
}

#[test]
fn for_each_iterations_see_their_value_and_index() {
    let ctx = Context { taskrun: json!({"value": {"os": "linux"}, "iteration": 2, "attempt": 1}), ..ctx() };
    assert_eq!(render_with("{{ taskrun.value.os }}-{{ taskrun.iteration }}", &ctx).unwrap(), "linux-2");
}

#[test]
fn taskrun_value_outside_a_for_each_is_undefined() {
    assert_eq!(
        render("{{ taskrun.value }}"),
        Err(error("tasks.build.url", "undefined variable `taskrun.value`"))
    );
}

#[test]
fn whole_expression_strings_keep_their_native_type() {
    let rendered = value(json!({
        "values": "{{ outputs.list.items }}",
        "count": "{{ inputs.n }}",
        "double": " {{ inputs.n * 2 }} ",
        "half": "{{ inputs.n / 2 }}",
        "deploy": "{{ inputs.deploy }}",
        "meta": "{{ outputs.clone.meta }}",
        "nothing": "{{ none }}",
        "text": "{{ inputs.branch }}",
    }))
    .unwrap();
    assert_eq!(
        rendered,
        json!({
            "values": [1, 2, 3],
            "count": 3,
            "double": 6,
            "half": 1.5,
            "deploy": true,
            "meta": {"author": {"name": "ada"}},
            "nothing": null,
            "text": "main",
        })
    );
}

#[test]
fn mixed_strings_render_to_strings_at_any_depth() {
    let rendered = value(json!({
        "label": "n={{ inputs.n }}",
        "listed": "items: {{ outputs.list.items }}",
        "two": "{{ inputs.n }}{{ inputs.n }}",
        "block": "{% if inputs.deploy %}yes{% endif %}",
        "args": ["--ref", "{{ inputs.branch }}", {"deep": "{{ outputs.test.failures }}"}],
        "plain": "no template",
        "number": 5,
        "{{ inputs.branch }}": "keys are not rendered",
    }))
    .unwrap();
    assert_eq!(
        rendered,
        json!({
            "label": "n=3",
            "listed": "items: [1, 2, 3]",
            "two": "33",
            "block": "yes",
            "args": ["--ref", "main", {"deep": 0}],
            "plain": "no template",
            "number": 5,
            "{{ inputs.branch }}": "keys are not rendered",
        })
    );
}

#[test]
fn to_json_is_compact_and_from_json_parses() {
    assert_eq!(render("{{ outputs.clone.meta | toJson }}").unwrap(), r#"{"author":{"name":"ada"}}"#);
    assert_eq!(render("{{ outputs.clone.files | toJson }}").unwrap(), r#"["a.rs","b.rs"]"#);
    assert_eq!(render(r#"{{ ('{"a": [1, 2]}' | fromJson).a[1] }}"#).unwrap(), "2");
    assert_eq!(value(json!(r#"{{ '{"a": [1, null]}' | fromJson }}"#)).unwrap(), json!({"a": [1, null]}));
    assert_eq!(
        render("{{ 'nope' | fromJson }}"),
        Err(error(
            "tasks.build.url",
            "invalid operation: fromJson: not valid JSON (expected ident at line 1 column 2)"
        ))
    );
}

#[test]
fn now_is_the_context_time_in_rfc_3339() {
    assert_eq!(render("{{ now() }}").unwrap(), "2024-05-01T12:30:05Z");
}

#[test]
fn an_undefined_variable_is_an_error_naming_the_location() {
    let err = render("{{ outptus.clone.commit }}").unwrap_err();
    assert_eq!(err, error("tasks.build.url", "undefined variable `outptus`"));
    assert_eq!(err.to_string(), "tasks.build.url: undefined variable `outptus`");
}

#[test]
fn an_undefined_attribute_is_an_error_naming_the_expression() {
    assert_eq!(
        render("{{ outputs.clone.comit }}"),
        Err(error("tasks.build.url", "undefined variable `outputs.clone.comit`"))
    );
    assert_eq!(
        render("{% if outputs.tset.passed %}x{% endif %}"),
        Err(error("tasks.build.url", "undefined variable `outputs.tset`"))
    );
}

#[test]
fn a_multi_line_template_error_names_the_line() {
    assert_eq!(
        render("#!/bin/sh\necho {{ inputs.branch }}\necho {{ outputs.clone.comit }}\n"),
        Err(error("tasks.build.url", "undefined variable `outputs.clone.comit` (line 3)"))
    );
}

#[test]
fn an_undefined_value_inside_a_list_or_filter_is_an_error() {
    assert_eq!(
        render("{{ [inputs.n, inputs.m] }}"),
        Err(error("tasks.build.url", "undefined variable `inputs.m`"))
    );
    assert_eq!(
        render("{{ outputs.nope | toJson }}"),
        Err(error("tasks.build.url", "undefined variable `outputs.nope`"))
    );
    assert_eq!(value(json!("{{ [inputs.m] }}")), Err(error("/tasks/2", "undefined variable `inputs.m`")));
}

#[test]
fn value_errors_name_the_failing_string() {
    assert_eq!(
        value(json!({"headers": [{"x": "{{ outputs.clone.comit }}"}]})),
        Err(error("/tasks/2/headers/0/x", "undefined variable `outputs.clone.comit`"))
    );
    let dotted = Templates::new().render_value("tasks.build", &json!({"args": ["{{ nope }}"]}), &ctx(), None);
    assert_eq!(dotted.map(|r| r.value), Err(error("tasks.build.args[0]", "undefined variable `nope`")));
}

#[test]
fn a_syntax_error_is_reported_with_its_line() {
    assert_eq!(
        render("{{ inputs.n + }}"),
        Err(error("tasks.build.url", "syntax error: unexpected end of variable block"))
    );
    assert_eq!(
        render("a\n{% if inputs.n %}b"),
        Err(error(
            "tasks.build.url",
            "syntax error: unexpected end of input, expected end of block (line 2)"
        ))
    );
    assert_eq!(
        value(json!("{{ inputs. }}")),
        Err(error(
            "/tasks/2",
            "syntax error: unexpected end of variable block, expected identifier or integer"
        ))
    );
}

#[test]
fn the_scope_variable_is_not_reachable() {
    assert_eq!(
        render("{{ __sluice_render_scope }}"),
        Err(error("tasks.build.url", "undefined variable `__sluice_render_scope`"))
    );
}

/// A secret store that remembers which names it was asked for.
struct Store {
    values: BTreeMap<String, String>,
    asked: Mutex<Vec<String>>,
}

impl Store {
    fn new() -> Self {
        let values = [("GIT_TOKEN", "ghp-secret-1"), ("NPM_TOKEN", "npm-secret-2")];
        Self {
            values: values.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            asked: Mutex::new(Vec::new()),
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Secrets for Store {
    fn get(&self, name: &str) -> Option<String> {
        self.asked.lock().unwrap().push(name.to_string());
        self.values.get(name).cloned()
    }
}

fn grants(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn a_granted_secret_is_read_and_reported() {
    let store = Store::new();
    let allowed = grants(&["GIT_TOKEN"]);
    let access = SecretAccess { source: &store, allowed: &allowed };
    let rendered = Templates::new()
        .render_str("tasks.clone.token", "token {{ secret('GIT_TOKEN') }}", &ctx(), Some(&access))
        .unwrap();
    assert_eq!(rendered.value, "token ghp-secret-1");
    assert_eq!(rendered.secrets, vec!["ghp-secret-1".to_string()]);
    assert_eq!(store.asked(), vec!["GIT_TOKEN".to_string()]);
}

#[test]
fn a_secret_without_a_grant_is_refused_and_never_fetched() {
    let store = Store::new();
    let allowed = grants(&["GIT_TOKEN"]);
    let access = SecretAccess { source: &store, allowed: &allowed };
    let result = Templates::new().render_str(
        "tasks.publish.token",
        "{{ secret('NPM_TOKEN') }}",
        &ctx(),
        Some(&access),
    );
    assert_eq!(
        result.map(|r| r.value),
        Err(error(
            "tasks.publish.token",
            "the task has no grant for secret `NPM_TOKEN`: add `NPM_TOKEN` to the task's `allow.secrets`"
        ))
    );
    assert_eq!(store.asked(), Vec::<String>::new());
}

#[test]
fn a_missing_secret_is_named() {
    let store = Store::new();
    let allowed = grants(&["DEPLOY_KEY"]);
    let access = SecretAccess { source: &store, allowed: &allowed };
    let result =
        Templates::new().render_str("/tasks/3/key", "{{ secret('DEPLOY_KEY') }}", &ctx(), Some(&access));
    assert_eq!(result.map(|r| r.value), Err(error("/tasks/3/key", "secret `DEPLOY_KEY` is not set")));
}

#[test]
fn a_render_without_secret_access_refuses_secrets() {
    assert_eq!(
        render("{{ secret('GIT_TOKEN') }}"),
        Err(error(
            "tasks.build.url",
            "secret `GIT_TOKEN` cannot be read here: only the fields of a task that lists it in `allow.secrets` can read secrets"
        ))
    );
}

#[test]
fn a_secret_name_must_be_a_literal() {
    let store = Store::new();
    let allowed = grants(&["GIT_TOKEN"]);
    let access = SecretAccess { source: &store, allowed: &allowed };
    let result =
        Templates::new().render_str("/tasks/0/x", "{{ secret(inputs.branch) }}", &ctx(), Some(&access));
    assert_eq!(
        result.map(|r| r.value),
        Err(error("/tasks/0/x", "secret() takes a literal name, e.g. secret('GITHUB_TOKEN')"))
    );
}

#[test]
fn every_secret_a_value_reads_is_reported_once_and_unread_ones_are_not() {
    let store = Store::new();
    let allowed = grants(&["GIT_TOKEN", "NPM_TOKEN"]);
    let access = SecretAccess { source: &store, allowed: &allowed };
    let config = json!({
        "auth": "{{ secret('NPM_TOKEN') }}",
        "headers": ["Bearer {{ secret('GIT_TOKEN') }}", "{{ secret('GIT_TOKEN') }}"],
        "unused": "{% if false %}{{ secret('GIT_TOKEN') ~ secret('NPM_TOKEN') }}{% endif %}",
    });
    let rendered = Templates::new().render_value("/tasks/0", &config, &ctx(), Some(&access)).unwrap();
    assert_eq!(
        rendered.value,
        json!({
            "auth": "npm-secret-2",
            "headers": ["Bearer ghp-secret-1", "ghp-secret-1"],
            "unused": "",
        })
    );
    assert_eq!(rendered.secrets, vec!["npm-secret-2".to_string(), "ghp-secret-1".to_string()]);

    let unread = Templates::new()
        .render_str("/tasks/0/x", "{% if false %}{{ secret('GIT_TOKEN') }}{% endif %}", &ctx(), Some(&access))
        .unwrap();
    assert_eq!(unread.secrets, Vec::<String>::new());
}

#[test]
fn errors_and_debug_output_never_show_secret_values() {
    let store = Store::new();
    let allowed = grants(&["GIT_TOKEN"]);
    let access = SecretAccess { source: &store, allowed: &allowed };
    let templates = Templates::new();
    let err = templates
        .render_str(
            "/tasks/0/x",
            "{% set t = secret('GIT_TOKEN') %}{{ t ~ outputs.nope }}",
            &ctx(),
            Some(&access),
        )
        .unwrap_err();
    assert_eq!(err, error("/tasks/0/x", "undefined variable `outputs.nope`"));
    let rendered =
        templates.render_str("/tasks/0/x", "{{ secret('GIT_TOKEN') }}", &ctx(), Some(&access)).unwrap();
    assert_eq!(format!("{rendered:?}"), r#"Rendered { value: "ghp-secret-1", secrets: 1 }"#);
}

#[test]
fn a_huge_range_is_refused() {
    assert_eq!(
        render("{% for i in range(1000000000) %}x{% endfor %}"),
        Err(error("tasks.build.url", "invalid operation: range has too many elements"))
    );
}

#[test]
fn a_template_that_runs_out_of_fuel_fails() {
    assert_eq!(
        render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
        Err(error(
            "tasks.build.url",
            "the template does too much work (it used up its budget of 1000000 steps); move heavy processing into a task"
        ))
    );
}

#[test]
fn output_over_one_mebibyte_fails() {
    assert_eq!(
        render("{% for i in range(20000) %}{{ '0123456789' * 10 }}{% endfor %}"),
        Err(error("tasks.build.url", "the rendered output is larger than 1 MiB"))
    );
    assert_eq!(
        value(json!("{{ 'x' * 1100000 }}")),
        Err(error("/tasks/2", "the rendered output is larger than 1 MiB"))
    );
    let ok = render("{% for i in range(10000) %}{{ '0123456789' * 10 }}{% endfor %}").unwrap();
    assert_eq!(ok.len(), 1_000_000);
}

#[test]
fn the_output_limit_covers_a_whole_value() {
    let half = "{{ 'x' * 600000 }}";
    assert_eq!(
        value(json!({"a": half, "b": half})),
        Err(error("/tasks/2/b", "the rendered output is larger than 1 MiB"))
    );
}

#[test]
fn conditions_accept_bare_expressions_and_templates() {
    assert_eq!(condition("inputs.deploy and outputs.test.passed"), Ok(true));
    assert_eq!(condition("inputs.n > 5"), Ok(false));
    assert_eq!(condition("{{ inputs.deploy }}"), Ok(true));
    assert_eq!(condition("{{ outputs.test.failures }}"), Ok(false));
    assert_eq!(condition("outputs.list.items"), Ok(true));
    assert_eq!(condition("{{ [] }}"), Ok(false));
    assert_eq!(condition("{% if inputs.n > 5 %}yes{% endif %}"), Ok(false));
    assert_eq!(condition("{% if inputs.n > 2 %}yes{% endif %}"), Ok(true));
    assert_eq!(condition("{{ inputs.branch }}"), Ok(true));
}

#[test]
fn false_like_strings_are_false() {
    assert_eq!(condition("false"), Ok(false));
    assert_eq!(condition("0"), Ok(false));
    assert_eq!(condition(""), Ok(false));
    assert_eq!(condition("  NO "), Ok(false));
    assert_eq!(condition("{{ inputs.answer }}"), Ok(false));
    assert_eq!(condition("{{ 'False' }}"), Ok(false));
    assert_eq!(condition("{{ inputs.n - 3 }}"), Ok(false));
}

#[test]
fn condition_errors_are_strict() {
    assert_eq!(
        condition("inputs.deplyo"),
        Err(error("/tasks/0/runIf", "undefined variable `inputs.deplyo`"))
    );
    assert_eq!(
        condition("inputs.deploy and"),
        Err(error("/tasks/0/runIf", "syntax error: unexpected end of variable block"))
    );
    assert_eq!(
        Templates::new().eval_bool("/tasks/0/runIf", "{{ secret('GIT_TOKEN') }}", &ctx(), None),
        Err(error(
            "/tasks/0/runIf",
            "secret `GIT_TOKEN` cannot be read here: only the fields of a task that lists it in `allow.secrets` can read secrets"
        ))
    );
}
