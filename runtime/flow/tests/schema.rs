//! The flow JSON Schema: a valid draft 2020-12 schema that accepts the valid flows and rejects
//! what the parser and validator reject, plugin config included.

#![allow(clippy::unwrap_used)]

mod common;

use common::FixtureCatalog;
use serde_json::{Value, json};

fn schema() -> Value {
    sluice_flow::flow_json_schema(&FixtureCatalog::load())
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&schema()).unwrap()
}

fn yaml(text: &str) -> Value {
    yaml_serde::from_str(text).unwrap()
}

/// The instance paths of the errors, for assertions.
fn error_paths(text: &str) -> Vec<String> {
    let flow = yaml(text);
    validator().iter_errors(&flow).map(|e| e.instance_path().as_str().to_string()).collect()
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let schema = schema();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    jsonschema::draft202012::meta::validate(&schema).unwrap();
}

#[test]
fn the_valid_golden_flow_passes() {
    let text = std::fs::read_to_string(common::ui_dir().join("valid.yaml")).unwrap();
    let flow = yaml(&text);
    let errors: Vec<String> =
        validator().iter_errors(&flow).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn a_minimal_flow_passes_and_one_without_tasks_does_not() {
    assert!(
        error_paths("id: a\nnamespace: b\ntasks:\n  - id: t\n    type: core.log\n    message: hi\n")
            .is_empty()
    );
    assert_eq!(error_paths("id: a\nnamespace: b\n"), [""]);
}

#[test]
fn unknown_keys_are_rejected_at_every_level() {
    let base = "id: a\nnamespace: b\n";
    assert_eq!(
        error_paths(&format!("{base}namespce: c\ntasks: [{{id: t, type: flow.fail, message: m}}]\n")),
        [""]
    );
    assert_eq!(
        error_paths(&format!(
            "{base}tasks:\n  - id: t\n    type: flow.sleep\n    duration: 1s\n    dependOn: [x]\n"
        )),
        ["/tasks/0"]
    );
    assert_eq!(
        error_paths(&format!(
            "{base}tasks:\n  - id: t\n    type: core.log\n    message: m\n    retry: {{type: constant, maxAttempt: 2, interval: 1s}}\n"
        ))
        .len(),
        2,
        "an unknown key and the missing `maxAttempts`"
    );
}

#[test]
fn plugin_config_is_checked_with_the_task_schema() {
    let base = "id: a\nnamespace: b\ntasks:\n";
    // `core.http` needs `url`; `core.log`'s `level` is an enum behind a `$ref`.
    assert_eq!(error_paths(&format!("{base}  - id: t\n    type: core.http\n")), ["/tasks/0"]);
    assert_eq!(
        error_paths(&format!("{base}  - id: t\n    type: core.log\n    message: m\n    level: loud\n")),
        ["/tasks/0/level"]
    );
    assert_eq!(
        error_paths(&format!("{base}  - id: t\n    type: git.clone\n    url: u\n    depth: 0\n")),
        ["/tasks/0/depth"]
    );
    // Common keys sit beside the config keys, and a pinned type is the same task.
    let pinned = format!(
        "{base}  - id: t\n    type: core.log@sha256:{}\n    message: m\n    allow: {{secrets: [X]}}\n    limits: {{memory: 64MiB}}\n",
        "a".repeat(64)
    );
    assert!(error_paths(&pinned).is_empty());
    // A template stands for any type; a plain string does not.
    let templated = "    type: core.http\n    url: u\n    maxBodyBytes: '{{ vars.max }}'\n";
    assert!(error_paths(&format!("{base}  - id: t\n{templated}")).is_empty());
    let plain = "    type: core.http\n    url: u\n    maxBodyBytes: lots\n";
    assert_eq!(error_paths(&format!("{base}  - id: t\n{plain}")), ["/tasks/0/maxBodyBytes"]);
    // Not installed.
    assert_eq!(error_paths(&format!("{base}  - id: t\n    type: gti.clone\n")), ["/tasks/0/type"]);
}

#[test]
fn every_installed_task_type_is_a_choice_with_its_description() {
    let schema = schema();
    let choices = schema["$defs"]["task"]["properties"]["type"]["anyOf"].as_array().unwrap();
    let consts: Vec<&str> = choices.iter().filter_map(|c| c["const"].as_str()).collect();
    assert_eq!(
        consts,
        [
            "flow.sequential",
            "flow.parallel",
            "flow.if",
            "flow.switch",
            "flow.forEach",
            "flow.subflow",
            "flow.pause",
            "flow.sleep",
            "flow.fail",
            "core.log",
            "core.http",
            "core.fail",
            "core.assert",
            "git.clone"
        ]
    );
    let log = choices.iter().find(|c| c["const"] == "core.log").unwrap();
    assert!(log["description"].as_str().unwrap().starts_with("Writes `message` to the execution's log"));
    let level = &schema["$defs"]["plugin:core.log"]["properties"]["level"];
    assert_eq!(level["description"], "The severity.");
    assert_eq!(
        level["anyOf"],
        json!([{ "$ref": "#/$defs/plugin:core.log/$defs/LogLevel" }, { "$ref": "#/$defs/template" }])
    );
}

#[test]
fn inputs_and_triggers() {
    let base = "id: a\nnamespace: b\ntasks: [{id: t, type: flow.fail, message: m}]\n";
    assert_eq!(error_paths(&format!("{base}inputs: [{{id: env, type: select}}]\n")), ["/inputs/0"]);
    assert!(error_paths(&format!("{base}inputs: [{{id: env, type: select, values: [a, b]}}]\n")).is_empty());
    assert_eq!(error_paths(&format!("{base}triggers: [{{id: n, type: schedule}}]\n")), ["/triggers/0"]);
    assert_eq!(
        error_paths(&format!(
            "{base}triggers: [{{id: n, type: flow, namespace: x, flowId: y, states: [DONE]}}]\n"
        )),
        ["/triggers/0/states/0"]
    );
    assert!(
        error_paths(&format!(
            "{base}triggers: [{{id: n, type: webhook, key: k, signature: {{type: github, secret: S}}}}]\n"
        ))
        .is_empty()
    );
}

/// The example flows whose plugins the fixture catalog has (the others need plugins that are
/// not written yet): each loads, and each passes the schema.
#[test]
fn the_example_flows_pass() {
    let catalog = FixtureCatalog::load();
    let validator = validator();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = sluice_flow::parse("example.yaml", &text).unwrap();
        let known = parsed.flow.all_tasks().iter().all(|task| match &task.kind {
            sluice_flow::TaskKind::Plugin { task_type, .. } => {
                sluice_flow::TaskCatalog::task(&catalog, &task_type.plugin, &task_type.task).is_some()
            }
            _ => true,
        });
        if !known {
            continue;
        }
        if let Err(diagnostics) = sluice_flow::load("example.yaml", &text, &catalog) {
            panic!("{}: {}", path.display(), sluice_flow::render(&diagnostics, "example.yaml", &text));
        }
        let flow = yaml(&text);
        let errors: Vec<String> =
            validator.iter_errors(&flow).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} example flows checked");
}
