//! The static side of templates: `references` of one template and `check_flow` over a flow
//! built by hand (independent of the parser).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sluice_flow::template::{Reference, check_flow, condition_references, references};
use sluice_flow::{Diagnostic, Flow, Input, InputType, Task, TaskKind, TaskType};

fn output(task: &str) -> Reference {
    Reference::Output { task: task.to_string() }
}

fn input(name: &str) -> Reference {
    Reference::Input { name: name.to_string() }
}

fn var(name: &str) -> Reference {
    Reference::Var { name: name.to_string() }
}

fn secret(name: &str) -> Reference {
    Reference::Secret { name: name.to_string() }
}

fn other(root: &str) -> Reference {
    Reference::Other { root: root.to_string() }
}

#[test]
fn references_of_each_kind_in_order_of_appearance() {
    assert_eq!(
        references(
            "{{ outputs.build.commit }} {{ inputs.branch }} {{ vars.image }} {{ secret('TOKEN') }} \
             {{ flow.id }} {{ taskrun.value }} {{ workingDir }} {{ foo.bar }}"
        ),
        Ok(vec![
            output("build"),
            input("branch"),
            var("image"),
            secret("TOKEN"),
            other("flow"),
            other("taskrun"),
            other("workingDir"),
            other("foo"),
        ])
    );
}

#[test]
fn references_are_reported_once() {
    assert_eq!(
        references("{{ outputs.a.x }}{{ outputs.a.y }}{{ secret('S') }}{{ secret('S') }}"),
        Ok(vec![output("a"), secret("S")])
    );
}

#[test]
fn names_bound_by_the_template_are_not_references() {
    assert_eq!(references("{% set x = 1 %}{{ x }}"), Ok(vec![]));
    assert_eq!(
        references("{% for item in outputs.list.items %}{{ item.name }}{{ loop.index }}{% endfor %}"),
        Ok(vec![output("list")])
    );
    assert_eq!(
        references("{% macro greet(name) %}hi {{ name }}{% endmacro %}{{ greet(inputs.who) }}"),
        Ok(vec![input("who")])
    );
    assert_eq!(references("{% with v = vars.a %}{{ v }}{% endwith %}"), Ok(vec![var("a")]));
}

#[test]
fn functions_and_plain_text_are_not_references() {
    assert_eq!(references("{{ now() }} {{ range(3) | list }} {{ dict(a=1) }}"), Ok(vec![]));
    assert_eq!(references("no template here"), Ok(vec![]));
}

#[test]
fn outputs_read_by_subscript_are_an_unchecked_root() {
    assert_eq!(references("{{ outputs['build'].commit }}"), Ok(vec![other("outputs")]));
}

#[test]
fn syntax_errors_and_non_literal_secrets_are_errors() {
    assert_eq!(
        references("{{ inputs.n + }}"),
        Err("syntax error: unexpected end of variable block".to_string())
    );
    assert_eq!(
        references("a\n{% if x %}"),
        Err("syntax error: unexpected end of input, expected end of block (line 2)".to_string())
    );
    assert_eq!(
        references("{{ secret(inputs.name) }}"),
        Err("secret() takes a literal name, e.g. secret('GITHUB_TOKEN')".to_string())
    );
}

#[test]
fn condition_references_read_bare_expressions() {
    assert_eq!(
        condition_references("inputs.deploy and outputs.test.passed"),
        Ok(vec![input("deploy"), output("test")])
    );
    assert_eq!(condition_references("{{ vars.on }}"), Ok(vec![var("on")]));
    assert_eq!(condition_references(" No "), Ok(vec![]));
    assert_eq!(references("inputs.deploy"), Ok(vec![]), "plain text is not a template");
}

fn task(id: &str, pointer: &str, kind: TaskKind) -> Task {
    Task::new(id, kind, pointer)
}

fn plugin(id: &str, pointer: &str, config: Value) -> Task {
    let Value::Object(config) = config else { panic!("config must be an object") };
    let task_type = TaskType { plugin: "core".to_string(), task: "run".to_string(), digest: None };
    task(id, pointer, TaskKind::Plugin { task_type, config })
}

fn granted(mut task: Task, secrets: &[&str]) -> Task {
    task.allow.secrets = secrets.iter().map(|s| s.to_string()).collect();
    task
}

fn run_if(mut task: Task, condition: &str) -> Task {
    task.run_if = Some(condition.to_string());
    task
}

fn declared_input(id: &str, index: usize) -> Input {
    Input::new(id, InputType::String, &format!("/inputs/{index}"))
}

fn object(value: Value) -> BTreeMap<String, Value> {
    let Value::Object(map) = value else { panic!("must be an object") };
    map.into_iter().collect()
}

fn flow(tasks: Vec<Task>, variables: Value, outputs: Value) -> Flow {
    Flow {
        id: "ci".to_string(),
        namespace: "company.team".to_string(),
        description: None,
        labels: BTreeMap::new(),
        inputs: vec![declared_input("branch", 0)],
        variables: object(variables),
        tasks,
        errors: Vec::new(),
        finally: Vec::new(),
        outputs: object(outputs),
        triggers: Vec::new(),
        concurrency: None,
        timeout: None,
        retry: None,
        disabled: false,
    }
}

fn diagnostic(pointer: &str, message: &str, hint: &str) -> Diagnostic {
    Diagnostic::at(pointer, message).with_hint(hint)
}

#[test]
fn a_flow_whose_templates_are_all_right_has_no_diagnostics() {
    let tasks = vec![
        granted(
            plugin(
                "clone",
                "/tasks/0",
                json!({
                    "url": "https://git.local/{{ inputs.branch }}",
                    "auth": {"token": "{{ secret('GIT_TOKEN') }}"},
                    "script": "{% set n = 1 %}{% for f in outputs.clone.files %}{{ f }}{{ n }}{% endfor %}",
                }),
            ),
            &["GIT_TOKEN"],
        ),
        run_if(
            task(
                "each",
                "/tasks/1",
                TaskKind::ForEach {
                    values: json!("{{ outputs.clone.files }}"),
                    concurrency: 1,
                    tasks: vec![plugin(
                        "lint",
                        "/tasks/1/tasks/0",
                        json!({"file": "{{ taskrun.value }}-{{ taskrun.iteration }}", "dir": "{{ workingDir }}"}),
                    )],
                },
            ),
            "inputs.branch == 'main' and outputs.clone.ok",
        ),
        task("wait", "/tasks/2", TaskKind::Sleep { duration: "{{ vars.delay }}".to_string() }),
    ];
    let flow = flow(
        tasks,
        json!({"delay": "5s", "image": "app:{{ inputs.branch }}-{{ execution.id }}"}),
        json!({"commit": "{{ outputs.clone.commit }}", "when": "{{ now() }} {{ flow.id }} {{ trigger }}"}),
    );
    assert_eq!(check_flow(&flow), Vec::<Diagnostic>::new());
}

#[test]
fn every_templated_field_is_checked_at_its_pointer() {
    let tasks = vec![
        granted(
            plugin("clone", "/tasks/0", json!({"url": "https://git.local/{{ inputs.branch }}"})),
            &["GIT_TOKEN"],
        ),
        run_if(
            granted(
                plugin(
                    "build",
                    "/tasks/1",
                    json!({
                        "commit": "{{ outputs.biuld.commit }}",
                        "args": ["--ref", "{{ inputs.brnach }}"],
                        "key": "{{ secret('NPM_TOKEN') }}",
                        "token": "{{ secret('GIT_TOKEN') }}",
                    }),
                ),
                &["GIT_TOKEN"],
            ),
            "outputs.clone.ok and inptus.x",
        ),
        task(
            "check",
            "/tasks/2",
            TaskKind::If {
                condition: "{{ outputs.clone.commit == '' }}".to_string(),
                then: vec![task(
                    "stop",
                    "/tasks/2/then/0",
                    TaskKind::Fail { message: "failed {{ loop.index }}".to_string() },
                )],
                otherwise: vec![run_if(
                    plugin("notify", "/tasks/2/else/0", json!({"text": "{{ outputs.clone.commit }"})),
                    "{{ secret('GIT_TOKEN') }}",
                )],
            },
        ),
        task(
            "pick",
            "/tasks/3",
            TaskKind::Switch {
                value: "{{ vars.mdoe }}".to_string(),
                cases: BTreeMap::new(),
                default: Vec::new(),
            },
        ),
        granted(
            task(
                "child",
                "/tasks/4",
                TaskKind::Subflow {
                    namespace: "company.team".to_string(),
                    flow_id: "deploy".to_string(),
                    inputs: Map::from_iter([
                        ("ref".to_string(), json!("{{ outputs.clone.commit }}")),
                        ("key".to_string(), json!("{{ secret(vars.name) }}")),
                    ]),
                    wait: true,
                },
            ),
            &["X"],
        ),
        task("nap", "/tasks/5", TaskKind::Sleep { duration: "{{ vars.delay }}".to_string() }),
    ];
    let flow = flow(
        tasks,
        json!({"mode": "fast", "image": "{{ vars.imgae }}", "auth": "{{ secret('GIT_TOKEN') }}"}),
        json!({"commit": "{{ outputs.clone.commit }}", "leak": {"nested": "{{ secret('GIT_TOKEN') }}"}}),
    );
    let refused = "read secrets in the fields of a task that lists them in `allow.secrets`";
    assert_eq!(
        check_flow(&flow),
        vec![
            diagnostic(
                "/variables/auth",
                "template error: secret `GIT_TOKEN` cannot be read in variables",
                refused,
            ),
            diagnostic(
                "/variables/image",
                "template error: undefined variable `imgae` in `vars.imgae`",
                "did you mean `image`?"
            ),
            diagnostic(
                "/tasks/1/runIf",
                "template error: unknown variable `inptus` in `inptus.x`",
                "did you mean `inputs`?"
            ),
            diagnostic(
                "/tasks/1/args/1",
                "template error: undefined input `brnach` in `inputs.brnach`",
                "did you mean `branch`?",
            ),
            diagnostic(
                "/tasks/1/commit",
                "template error: undefined task `biuld` in `outputs.biuld.commit`",
                "did you mean `build`?",
            ),
            diagnostic(
                "/tasks/1/key",
                "template error: the task has no grant for secret `NPM_TOKEN`",
                "add `NPM_TOKEN` to the task's `allow.secrets`",
            ),
            diagnostic(
                "/tasks/2/then/0/message",
                "template error: unknown variable `loop` in `loop.index`",
                "templates can read `inputs`, `vars`, `outputs`, `flow`, `execution`, `taskrun`, `workingDir`, `trigger`",
            ),
            diagnostic(
                "/tasks/2/else/0/runIf",
                "template error: secret `GIT_TOKEN` cannot be read in `runIf`",
                refused
            ),
            Diagnostic::at(
                "/tasks/2/else/0/text",
                "template error: syntax error: unexpected `}`, expected end of variable block"
            ),
            diagnostic(
                "/tasks/3/value",
                "template error: undefined variable `mdoe` in `vars.mdoe`",
                "did you mean `mode`?"
            ),
            Diagnostic::at(
                "/tasks/4/inputs/key",
                "template error: secret() takes a literal name, e.g. secret('GITHUB_TOKEN')",
            ),
            diagnostic(
                "/tasks/5/duration",
                "template error: undefined variable `delay` in `vars.delay`",
                "declare it under `variables`"
            ),
            diagnostic(
                "/outputs/leak/nested",
                "template error: secret `GIT_TOKEN` cannot be read in flow outputs",
                refused,
            ),
        ]
    );
}

#[test]
fn keys_with_slashes_are_escaped_in_pointers() {
    let tasks = vec![plugin("call", "/tasks/0", json!({"headers": {"a/b~c": "{{ nope }}"}}))];
    let flow = flow(tasks, json!({}), json!({}));
    assert_eq!(
        check_flow(&flow),
        vec![diagnostic(
            "/tasks/0/headers/a~1b~0c",
            "template error: unknown variable `nope`",
            "templates can read `inputs`, `vars`, `outputs`, `flow`, `execution`, `taskrun`, `workingDir`, `trigger`",
        )]
    );
}
