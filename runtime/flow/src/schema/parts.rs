//! The fixed parts of the flow schema: the top level, the common task keys, the native task
//! types, inputs, triggers and the policy blocks. Descriptions are what an editor shows.

use serde_json::{Map, Value, json};

use super::object;
use crate::parse::{input_item_type_names, input_type_names, keys};
use crate::units;

const TASK_ID: &str = "^[A-Za-z_][A-Za-z0-9_-]*$";
const FLOW_ID: &str = "^[A-Za-z0-9][A-Za-z0-9_-]*$";
const NAMESPACE: &str = "^[A-Za-z0-9][A-Za-z0-9_-]*(\\.[A-Za-z0-9][A-Za-z0-9_-]*)*$";

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{name}") })
}

fn described(mut schema: Value, description: &str) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert("description".into(), json!(description));
    }
    schema
}

fn tasks_list(description: &str, non_empty: bool) -> Value {
    let mut schema = json!({ "description": description, "type": "array", "items": reference("task") });
    if non_empty {
        schema["minItems"] = json!(1);
    }
    schema
}

fn template(description: &str) -> Value {
    json!({ "description": description, "type": "string" })
}

pub fn flow_properties() -> Value {
    let properties = object(vec![
        (
            "id",
            json!({ "description": "The flow's id, unique in its namespace.", "type": "string", "pattern": FLOW_ID }),
        ),
        (
            "namespace",
            json!({ "description": "Dot-separated names, as in `company.team`.", "type": "string", "pattern": NAMESPACE }),
        ),
        ("description", json!({ "description": "What the flow does.", "type": "string" })),
        (
            "labels",
            json!({
                "description": "Names to values, for finding and grouping flows.",
                "type": "object",
                "additionalProperties": { "type": ["string", "number", "boolean"] }
            }),
        ),
        (
            "inputs",
            json!({ "description": "Typed values given when an execution starts (`inputs.<id>`).", "type": "array", "items": reference("input") }),
        ),
        (
            "variables",
            json!({ "description": "Named values for templates (`vars.<name>`); strings may be templates.", "type": "object" }),
        ),
        (
            "tasks",
            tasks_list(
                "What the flow does, in order (a task without `dependsOn` waits for the one before it).",
                true,
            ),
        ),
        ("errors", tasks_list("Run when the main tasks fail, before `finally`.", false)),
        ("finally", tasks_list("Always run, after everything else.", false)),
        (
            "outputs",
            json!({ "description": "Flow outputs: names to (templated) values, rendered when the flow ends.", "type": "object" }),
        ),
        (
            "triggers",
            json!({ "description": "What starts the flow besides a manual run.", "type": "array", "items": reference("trigger") }),
        ),
        (
            "concurrency",
            json!({
                "description": "How many executions of this flow may run at once.",
                "type": "object",
                "required": ["limit"],
                "additionalProperties": false,
                "properties": {
                    "limit": { "description": "Running executions at once.", "type": "integer", "minimum": 1 },
                    "behavior": {
                        "description": "What a new execution does when the limit is reached: wait (`queue`, the default), or end as CANCELLED (`cancel`) or FAILED (`fail`).",
                        "enum": ["queue", "cancel", "fail"],
                        "default": "queue"
                    }
                }
            }),
        ),
        (
            "timeout",
            described(
                reference("duration"),
                "The whole execution's deadline; tasks still running then are killed.",
            ),
        ),
        ("retry", described(reference("retry"), "Retry policy for every task that sets none of its own.")),
        (
            "disabled",
            json!({ "description": "A disabled flow does not start.", "type": "boolean", "default": false }),
        ),
    ]);
    debug_assert!(keys::FLOW.iter().all(|k| properties.contains_key(*k)));
    Value::Object(properties)
}

/// The keys every task may have; `allow` and `limits` only on plugin tasks.
pub fn common_task_properties(plugin: bool) -> Map<String, Value> {
    let mut properties = object(vec![
        (
            "id",
            json!({ "description": "Unique across the whole flow; `outputs.<id>` reads the task's outputs.", "type": "string", "pattern": TASK_ID }),
        ),
        (
            "type",
            json!({ "description": "What the task does: `<plugin>.<task>` or a native `flow.*` type.", "type": "string" }),
        ),
        ("description", json!({ "description": "What the task is for.", "type": "string" })),
        ("timeout", described(reference("duration"), "How long one attempt may run before it is killed.")),
        ("retry", described(reference("retry"), "How a failed attempt is retried.")),
        (
            "allowFailure",
            json!({ "description": "A failure makes the execution WARNING instead of FAILED.", "type": "boolean", "default": false }),
        ),
        (
            "runIf",
            template("A template; the task is SKIPPED when it renders falsy, as in `{{ inputs.deploy }}`."),
        ),
        (
            "disabled",
            json!({ "description": "A disabled task is skipped.", "type": "boolean", "default": false }),
        ),
        (
            "dependsOn",
            json!({
                "description": "Ids of tasks of the same list this task waits for (instead of the one before it).",
                "type": "array",
                "items": { "type": "string", "pattern": TASK_ID }
            }),
        ),
    ]);
    if plugin {
        properties.insert("allow".into(), reference("allow"));
        properties.insert("limits".into(), reference("limits"));
        properties.insert(
            "workerTags".into(),
            json!({
                "description": "Tags a worker must hold (`sluice worker --tags`) to run the task's execution.",
                "type": "array",
                "items": { "type": "string", "pattern": crate::worker_tags::WORKER_TAG_PATTERN }
            }),
        );
    }
    properties
}

/// The `type:` choices of the native tasks.
pub fn native_type_choices() -> Vec<Value> {
    native_tasks()
        .into_iter()
        .map(|(name, description, _, _)| json!({ "const": name, "description": description }))
        .collect()
}

/// `if type is flow.X then ...` for each native task.
pub fn native_task_cases() -> Vec<Value> {
    native_tasks()
        .into_iter()
        .map(|(name, description, required, extra)| {
            let mut properties = common_task_properties(false);
            properties.extend(extra);
            let mut needed = vec![json!("id"), json!("type")];
            needed.extend(required.iter().map(|k| json!(k)));
            json!({
                "if": { "properties": { "type": { "const": name } }, "required": ["type"] },
                "then": {
                    "description": description,
                    "required": needed,
                    "additionalProperties": false,
                    "properties": properties
                }
            })
        })
        .collect()
}

type NativeTask = (&'static str, &'static str, Vec<&'static str>, Map<String, Value>);

fn native_tasks() -> Vec<NativeTask> {
    let concurrency = |description: &str, default: u32| json!({ "description": description, "type": "integer", "minimum": 0, "default": default });
    let tasks = vec![
        (
            "flow.sequential",
            "Runs its tasks one after another.",
            vec!["tasks"],
            object(vec![("tasks", tasks_list("The tasks, in order.", true))]),
        ),
        (
            "flow.parallel",
            "Runs its tasks at once.",
            vec!["tasks"],
            object(vec![
                ("tasks", tasks_list("The tasks (a task with `dependsOn` waits for those).", true)),
                ("concurrency", concurrency("Tasks running at once; 0 = no limit.", 0)),
            ]),
        ),
        (
            "flow.if",
            "Runs `then` when the condition renders truthy, else `else`.",
            vec!["condition", "then"],
            object(vec![
                ("condition", template("A template, as in `{{ inputs.deploy }}`.")),
                ("then", tasks_list("Run when the condition holds.", true)),
                ("else", tasks_list("Run when it does not.", false)),
            ]),
        ),
        (
            "flow.switch",
            "Runs the case matching the rendered value, else `default`.",
            vec!["value", "cases"],
            object(vec![
                ("value", template("A template, as in `{{ inputs.environment }}`.")),
                (
                    "cases",
                    json!({
                        "description": "Values to the tasks to run for them.",
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": tasks_list("The tasks for this value.", true)
                    }),
                ),
                ("default", tasks_list("Run when no case matches.", false)),
            ]),
        ),
        (
            "flow.forEach",
            "Runs its tasks once per value.",
            vec!["values", "tasks"],
            object(vec![
                (
                    "values",
                    json!({ "description": "A list, or a template that renders to a (JSON) list.", "type": ["array", "string"] }),
                ),
                ("concurrency", concurrency("Iterations running at once; 0 = no limit.", 1)),
                (
                    "tasks",
                    tasks_list("Run for each value, one after another (`taskrun.value` is the value).", true),
                ),
            ]),
        ),
        (
            "flow.subflow",
            "Starts another flow.",
            vec!["namespace", "flowId"],
            object(vec![
                (
                    "namespace",
                    json!({ "description": "The other flow's namespace.", "type": "string", "pattern": NAMESPACE }),
                ),
                (
                    "flowId",
                    json!({ "description": "The other flow's id.", "type": "string", "pattern": FLOW_ID }),
                ),
                (
                    "inputs",
                    json!({ "description": "Its inputs: ids to (templated) values.", "type": "object" }),
                ),
                (
                    "wait",
                    json!({ "description": "Wait for it to end; its outputs become this task's.", "type": "boolean", "default": true }),
                ),
            ]),
        ),
        (
            "flow.pause",
            "Waits for a resume, with typed inputs, or for the timeout.",
            vec![],
            object(vec![
                ("timeout", described(reference("duration"), "How long to wait for a resume.")),
                (
                    "onResume",
                    json!({ "description": "Inputs given with the resume.", "type": "array", "items": reference("input") }),
                ),
            ]),
        ),
        (
            "flow.sleep",
            "Waits a while.",
            vec!["duration"],
            object(vec![(
                "duration",
                described(reference("duration"), "How long, or a template rendering to a duration."),
            )]),
        ),
        (
            "flow.fail",
            "Fails the task with a message.",
            vec!["message"],
            object(vec![("message", template("Why; may be a template."))]),
        ),
    ];
    debug_assert_eq!(tasks.len(), keys::NATIVE.len());
    tasks
}

/// `$defs` shared by the parts: durations, sizes, policies, inputs and triggers.
pub fn definitions() -> Map<String, Value> {
    let size = json!({
        "description": format!("Bytes: a whole number, or a number and a unit ({}).", units::SIZE_UNITS.map(|(u, _)| u).join(", ")),
        "anyOf": [
            { "type": "integer", "minimum": 1 },
            { "type": "string", "pattern": "^[0-9]+ ?(B|KB|MB|GB|KiB|MiB|GiB)?$" }
        ]
    });
    let names = |description: &str| json!({ "description": description, "type": "array", "items": { "type": "string" } });
    let input_types: Vec<&str> = input_type_names().collect();
    let item_types: Vec<&str> = input_item_type_names().collect();
    object(vec![
        (
            "duration",
            json!({
                "description": format!("A duration: {}.", units::DURATION_FORMS),
                "type": "string",
                "examples": ["30s", "5m", "1h 30m", "PT30S", "P1D"]
            }),
        ),
        ("size", size.clone()),
        (
            "template",
            json!({
                "description": "A template, rendered at run time, as in `{{ outputs.build.version }}`.",
                "type": "string",
                "pattern": "\\{\\{|\\{%"
            }),
        ),
        (
            "retry",
            json!({
                "type": "object",
                "required": ["type", "maxAttempts", "interval"],
                "additionalProperties": false,
                "properties": {
                    "type": {
                        "description": "`constant`: wait `interval`; `exponential`: `interval` times `factor` per attempt, up to `maxInterval`; `random`: between `interval` and `maxInterval`.",
                        "enum": ["constant", "exponential", "random"]
                    },
                    "maxAttempts": { "description": "Attempts in total, the first included (1 = no retry).", "type": "integer", "minimum": 1 },
                    "interval": described(reference("duration"), "The wait (constant), the first wait (exponential) or the shortest (random)."),
                    "maxInterval": described(reference("duration"), "The longest wait (exponential, random)."),
                    "maxDuration": described(reference("duration"), "No attempt starts after this long since the first."),
                    "factor": { "description": "Exponential: the growth of the wait per attempt.", "type": "number", "minimum": 1, "default": 2 }
                },
                "if": { "properties": { "type": { "const": "random" } }, "required": ["type"] },
                "then": { "required": ["maxInterval"] }
            }),
        ),
        (
            "allow",
            json!({
                "description": "Capabilities granted to the task; nothing else is allowed.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "network": {
                        "description": "Origins the task may send HTTP requests to: `scheme://host[:port]`, with `*` wildcards, as in `https://*.example.com`.",
                        "type": "array",
                        "items": { "type": "string" }
                    },
                    "docker": { "description": "Access to the Docker Engine.", "type": "boolean", "default": false },
                    "env": names("Host environment variables passed through."),
                    "secrets": names("Secrets the task may read with `secret('NAME')`.")
                }
            }),
        ),
        (
            "limits",
            json!({
                "description": "Caps on one run of the task.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "memory": described(size.clone(), "Memory the component may use, as in `256MiB`."),
                    "output": described(size.clone(), "Size of the task's output JSON."),
                    "log": described(size.clone(), "Size of the task's log."),
                    "disk": described(size, "Bytes the task may add to its workspace, as in `10GiB`.")
                }
            }),
        ),
        (
            "input",
            json!({
                "description": "A typed input.",
                "type": "object",
                "required": ["id", "type"],
                "additionalProperties": false,
                "properties": {
                    "id": { "description": "Read in templates as `inputs.<id>`.", "type": "string", "pattern": TASK_ID },
                    "type": { "description": "What the input holds.", "enum": input_types },
                    "description": { "description": "What the input is for.", "type": "string" },
                    "required": { "description": "Whether a value must be given; true unless there is a `default`.", "type": "boolean" },
                    "default": { "description": "The value when none is given; of the input's type." },
                    "values": { "description": "`select`: the values to choose from.", "type": "array", "minItems": 1, "items": { "type": ["string", "number", "boolean"] } },
                    "pattern": { "description": "`string`, `secret`: a regular expression the whole value must match.", "type": "string" },
                    "min": { "description": "`int`, `float`: the least value; `string`, `array`: the least length.", "type": "number" },
                    "max": { "description": "`int`, `float`: the greatest value; `string`, `array`: the greatest length.", "type": "number" },
                    "itemType": { "description": "`array`: the type of each item (default `string`).", "enum": item_types }
                },
                "if": { "properties": { "type": { "const": "select" } }, "required": ["type"] },
                "then": { "required": ["values"] }
            }),
        ),
        ("trigger", trigger()),
    ])
}

fn trigger() -> Value {
    let common = || {
        object(vec![
            (
                "id",
                json!({ "description": "Unique among the flow's triggers.", "type": "string", "pattern": TASK_ID }),
            ),
            (
                "type",
                json!({ "description": "`schedule`, `webhook` or `flow`.", "enum": ["schedule", "webhook", "flow"] }),
            ),
            ("description", json!({ "description": "What the trigger is for.", "type": "string" })),
            (
                "disabled",
                json!({ "description": "A disabled trigger starts nothing.", "type": "boolean", "default": false }),
            ),
            (
                "inputs",
                json!({ "description": "Inputs of the executions it starts (templates may read `trigger.*`).", "type": "object" }),
            ),
        ])
    };
    let case = |name: &str, required: Vec<&str>, extra: Vec<(&str, Value)>| {
        let mut properties = common();
        properties.extend(object(extra));
        let mut needed = vec!["id", "type"];
        needed.extend(required);
        json!({
            "if": { "properties": { "type": { "const": name } }, "required": ["type"] },
            "then": { "required": needed, "additionalProperties": false, "properties": properties }
        })
    };
    json!({
        "description": "Starts the flow: on a schedule, on an HTTP request, or when another flow ends.",
        "type": "object",
        "required": ["id", "type"],
        "properties": common(),
        "allOf": [
            case("schedule", vec!["cron"], vec![
                ("cron", json!({ "description": "Five fields (`minute hour day-of-month month day-of-week`), or six with seconds first.", "type": "string", "examples": ["0 3 * * *"] })),
                ("timezone", json!({ "description": "An IANA time zone, as in `Europe/Paris`; UTC when absent.", "type": "string" })),
                ("recoverMissed", json!({ "description": "Runs missed while the server was down: start `all`, the `last` one (the default), or `none`.", "enum": ["all", "last", "none"], "default": "last" })),
            ]),
            case("webhook", vec!["key"], vec![
                ("key", json!({ "description": "The secret last part of the URL `/api/v1/webhooks/{namespace}/{flowId}/{key}`.", "type": "string" })),
                ("signature", json!({
                    "description": "Check the request's signature with a secret.",
                    "type": "object",
                    "required": ["type", "secret"],
                    "additionalProperties": false,
                    "properties": {
                        "type": { "description": "`github`: `X-Hub-Signature-256`; `gitlab`: `X-Gitlab-Token`.", "enum": ["github", "gitlab"] },
                        "secret": { "description": "The name of the secret holding the key.", "type": "string" }
                    }
                })),
            ]),
            case("flow", vec!["namespace", "flowId"], vec![
                ("namespace", json!({ "description": "The other flow's namespace.", "type": "string", "pattern": NAMESPACE })),
                ("flowId", json!({ "description": "The other flow's id.", "type": "string", "pattern": FLOW_ID })),
                ("states", json!({
                    "description": "The end states that start this flow; all of them when absent.",
                    "type": "array",
                    "items": { "enum": keys::TERMINAL_STATES }
                })),
            ]),
        ]
    })
}
