//! The static check of every templated field of a flow.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::references::{Found, Reference, analyze};
use super::shape::{Condition, condition, is_template};
use super::suggest::closest;
use crate::diagnostic::Diagnostic;
use crate::model::{Flow, Task, TaskKind};

/// The roots every template can read.
const ROOTS: [&str; 8] =
    ["inputs", "vars", "outputs", "flow", "execution", "taskrun", "workingDir", "trigger"];

/// Every templated field of a flow checked: syntax, `outputs.<task>` of a task that does not
/// exist, undeclared `inputs.<name>` and `vars.<name>`, `secret('X')` where X is not granted,
/// and unknown roots. One diagnostic per problem, at the field's JSON pointer.
pub fn check_flow(flow: &Flow) -> Vec<Diagnostic> {
    let checker = Checker::new(flow);
    let mut out = Vec::new();
    for (name, value) in &flow.variables {
        checker.value(
            &format!("/variables/{}", escape(name)),
            value,
            Secrets::Refused("variables"),
            &mut out,
        );
    }
    out.extend(variable_cycles(flow));
    for task in flow.all_tasks() {
        checker.task(task, &mut out);
    }
    for (name, value) in &flow.outputs {
        checker.value(
            &format!("/outputs/{}", escape(name)),
            value,
            Secrets::Refused("flow outputs"),
            &mut out,
        );
    }
    out
}

/// Variables may use each other in any order, but not themselves through others: each cycle
/// is reported once, at its first variable by name.
fn variable_cycles(flow: &Flow) -> Vec<Diagnostic> {
    let uses: BTreeMap<&str, BTreeSet<String>> = flow
        .variables
        .iter()
        .map(|(name, value)| {
            let mut texts = Vec::new();
            strings(value, &mut texts);
            let used = texts
                .iter()
                .filter_map(|text| analyze(text).ok())
                .flatten()
                .filter_map(|found| match found.reference {
                    Reference::Var { name } if flow.variables.contains_key(&name) => Some(name),
                    _ => None,
                })
                .collect();
            (name.as_str(), used)
        })
        .collect();
    let mut cycles: BTreeSet<Vec<String>> = BTreeSet::new();
    for start in uses.keys() {
        // Paths from `start` back to itself through variables named after it, so every cycle
        // is found from its smallest name only.
        let mut stack = vec![vec![(*start).to_owned()]];
        while let Some(path) = stack.pop() {
            let last = path.last().map(String::as_str).unwrap_or_default();
            for next in uses.get(last).into_iter().flatten() {
                if next == start {
                    cycles.insert(path.clone());
                } else if next.as_str() > *start && !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    cycles
        .into_iter()
        .map(|cycle| {
            let chain: Vec<String> = cycle.iter().chain(cycle.first()).map(|n| format!("`{n}`")).collect();
            let message = match cycle.len() {
                1 => format!("template error: variable `{}` uses itself", cycle[0]),
                _ => format!("template error: variables use each other in a cycle: {}", chain.join(" -> ")),
            };
            Diagnostic::at(format!("/variables/{}", escape(&cycle[0])), message)
                .with_hint("a variable may use other variables, but not itself through them")
        })
        .collect()
}

fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| strings(item, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Which secrets a field may read.
#[derive(Clone, Copy)]
enum Secrets<'a> {
    /// A task field: those the task lists in `allow.secrets`.
    Granted(&'a [String]),
    /// A field rendered without secret access, named for the message.
    Refused(&'static str),
}

struct Checker<'f> {
    tasks: BTreeSet<&'f str>,
    inputs: BTreeSet<&'f str>,
    variables: BTreeSet<&'f str>,
}

impl<'f> Checker<'f> {
    fn new(flow: &'f Flow) -> Self {
        Self {
            tasks: flow.all_tasks().into_iter().map(|t| t.id.as_str()).collect(),
            inputs: flow.inputs.iter().map(|i| i.id.as_str()).collect(),
            variables: flow.variables.keys().map(String::as_str).collect(),
        }
    }

    fn task(&self, task: &Task, out: &mut Vec<Diagnostic>) {
        let at = |field: &str| format!("{}/{field}", task.pointer);
        let granted = Secrets::Granted(&task.allow.secrets);
        if let Some(run_if) = &task.run_if {
            self.condition(&at("runIf"), run_if, Secrets::Refused("`runIf`"), out);
        }
        match &task.kind {
            TaskKind::Plugin { config, .. } => {
                for (key, value) in config {
                    self.value(&at(&escape(key)), value, granted, out);
                }
            }
            TaskKind::If { condition, .. } => self.condition(&at("condition"), condition, granted, out),
            TaskKind::Switch { value, .. } => self.template(&at("value"), value, granted, out),
            TaskKind::ForEach { values, .. } => self.value(&at("values"), values, granted, out),
            TaskKind::Subflow { inputs, .. } => {
                for (key, value) in inputs {
                    self.value(&format!("{}/{}", at("inputs"), escape(key)), value, granted, out);
                }
            }
            TaskKind::Sleep { duration } => self.template(&at("duration"), duration, granted, out),
            TaskKind::Fail { message } => self.template(&at("message"), message, granted, out),
            TaskKind::Sequential { .. } | TaskKind::Parallel { .. } | TaskKind::Pause { .. } => {}
        }
    }

    /// Every string in a JSON value.
    fn value(&self, pointer: &str, value: &Value, secrets: Secrets<'_>, out: &mut Vec<Diagnostic>) {
        match value {
            Value::String(text) => self.template(pointer, text, secrets, out),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.value(&format!("{pointer}/{index}"), item, secrets, out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    self.value(&format!("{pointer}/{}", escape(key)), item, secrets, out);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn condition(&self, pointer: &str, text: &str, secrets: Secrets<'_>, out: &mut Vec<Diagnostic>) {
        if let Condition::Template(source) = condition(text) {
            self.source(pointer, &source, secrets, out);
        }
    }

    fn template(&self, pointer: &str, text: &str, secrets: Secrets<'_>, out: &mut Vec<Diagnostic>) {
        if is_template(text) {
            self.source(pointer, text, secrets, out);
        }
    }

    fn source(&self, pointer: &str, source: &str, secrets: Secrets<'_>, out: &mut Vec<Diagnostic>) {
        match analyze(source) {
            Ok(found) => out.extend(found.iter().filter_map(|f| self.problem(pointer, f, secrets))),
            Err(message) => out.push(Diagnostic::at(pointer, format!("template error: {message}"))),
        }
    }

    fn problem(&self, pointer: &str, found: &Found, secrets: Secrets<'_>) -> Option<Diagnostic> {
        let Found { reference, path } = found;
        let (message, hint) = match reference {
            Reference::Output { task } if !self.tasks.contains(task.as_str()) => (
                format!("undefined task `{task}` in `{path}`"),
                suggestion(task, &self.tasks, "`outputs.<id>` reads the outputs of the task with that id"),
            ),
            Reference::Input { name } if !self.inputs.contains(name.as_str()) => (
                format!("undefined input `{name}` in `{path}`"),
                suggestion(name, &self.inputs, "declare it under `inputs`"),
            ),
            Reference::Var { name } if !self.variables.contains(name.as_str()) => (
                format!("undefined variable `{name}` in `{path}`"),
                suggestion(name, &self.variables, "declare it under `variables`"),
            ),
            Reference::Secret { name } => match secrets {
                Secrets::Granted(allowed) if allowed.contains(name) => return None,
                Secrets::Granted(_) => (
                    format!("the task has no grant for secret `{name}`"),
                    format!("add `{name}` to the task's `allow.secrets`"),
                ),
                Secrets::Refused(field) => (
                    format!("secret `{name}` cannot be read in {field}"),
                    "read secrets in the fields of a task that lists them in `allow.secrets`".to_string(),
                ),
            },
            Reference::Other { root } if !ROOTS.contains(&root.as_str()) => {
                let message = match path == root {
                    true => format!("unknown variable `{root}`"),
                    false => format!("unknown variable `{root}` in `{path}`"),
                };
                let fallback = format!("templates can read {}", ROOTS.map(|r| format!("`{r}`")).join(", "));
                (message, suggestion(root, &ROOTS.into_iter().collect(), &fallback))
            }
            _ => return None,
        };
        Some(Diagnostic::at(pointer, format!("template error: {message}")).with_hint(hint))
    }
}

fn suggestion(word: &str, candidates: &BTreeSet<&str>, otherwise: &str) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(candidate) => format!("did you mean `{candidate}`?"),
        None => otherwise.to_string(),
    }
}

/// A key as one JSON pointer step (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
