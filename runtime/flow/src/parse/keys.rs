//! The keys each kind of node accepts, shared by the parser and the JSON Schema.

pub const FLOW: [&str; 15] = [
    "id",
    "namespace",
    "description",
    "labels",
    "inputs",
    "variables",
    "tasks",
    "errors",
    "finally",
    "outputs",
    "triggers",
    "concurrency",
    "timeout",
    "retry",
    "disabled",
];

/// Keys every task may have; on a plugin task every other key is the plugin's config.
pub const TASK_COMMON: [&str; 12] = [
    "id",
    "type",
    "description",
    "timeout",
    "retry",
    "allowFailure",
    "runIf",
    "disabled",
    "dependsOn",
    "allow",
    "limits",
    "workerTags",
];

/// Common keys that only make sense on a task that runs a component.
pub const PLUGIN_ONLY: [&str; 4] = ["allow", "limits", "retry", "workerTags"];

/// The native task types and the keys each adds to the common ones.
pub const NATIVE: [(&str, &[&str]); 9] = [
    ("flow.sequential", &["tasks"]),
    ("flow.parallel", &["tasks", "concurrency"]),
    ("flow.if", &["condition", "then", "else"]),
    ("flow.switch", &["value", "cases", "default"]),
    ("flow.forEach", &["values", "concurrency", "tasks"]),
    ("flow.subflow", &["namespace", "flowId", "inputs", "wait"]),
    ("flow.pause", &["timeout", "onResume"]),
    ("flow.sleep", &["duration"]),
    ("flow.fail", &["message"]),
];

pub const INPUT: [&str; 10] =
    ["id", "type", "description", "required", "default", "values", "pattern", "min", "max", "itemType"];

pub const RETRY: [&str; 6] = ["type", "maxAttempts", "interval", "maxInterval", "maxDuration", "factor"];

pub const ALLOW: [&str; 4] = ["network", "docker", "env", "secrets"];

pub const LIMITS: [&str; 4] = ["memory", "output", "log", "disk"];

pub const CONCURRENCY: [&str; 2] = ["limit", "behavior"];

pub const TRIGGER_COMMON: [&str; 5] = ["id", "type", "description", "disabled", "inputs"];

pub const TRIGGER_KINDS: [(&str, &[&str]); 3] = [
    ("schedule", &["cron", "timezone", "recoverMissed"]),
    ("webhook", &["key", "signature"]),
    ("flow", &["namespace", "flowId", "states"]),
];

pub const SIGNATURE: [&str; 2] = ["type", "secret"];

/// Execution states a `flow` trigger can wait for: the terminal ones.
pub const TERMINAL_STATES: [&str; 5] = ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"];

/// The allowed keys of a node: `base` plus `extra`.
pub fn joined<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut keys = base.to_vec();
    for key in extra {
        if !keys.contains(key) {
            keys.push(key);
        }
    }
    keys
}
