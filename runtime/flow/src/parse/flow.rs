//! The top level of a flow file.

use std::collections::BTreeMap;

use serde_json::Value;

use super::reader::{Fields, Node, Reader};
use super::{input, keys, policy, task, trigger};
use crate::diagnostic::Diagnostic;
use crate::model::Flow;

/// The flow, as far as it could be read: `None` only when the document is not a mapping.
pub fn flow(r: &mut Reader, root: &Value) -> Option<Flow> {
    if root.is_null() {
        r.report(
            Diagnostic::at("", "the file has no flow in it")
                .with_hint("a flow needs at least `id`, `namespace` and `tasks`"),
        );
        return None;
    }
    let fields = r.mapping(&Node::root(root), "a flow (a mapping with `id`, `namespace` and `tasks`)")?;
    r.unknown_keys(&fields, &keys::FLOW, "the flow");
    let context = "the flow";
    let id = r
        .require(&fields, "id", context, "name the flow, as in `id: build-and-test`")
        .and_then(|n| r.flow_id(&n));
    let namespace = r
        .require(
            &fields,
            "namespace",
            context,
            "put the flow in a namespace, as in `namespace: company.team`",
        )
        .and_then(|n| r.namespace(&n));
    let tasks = r
        .require(&fields, "tasks", context, "list what the flow does under `tasks:`")
        .map(|n| task::list(r, &n, true))
        .unwrap_or_default();
    Some(Flow {
        id: id.unwrap_or_default(),
        namespace: namespace.unwrap_or_default(),
        description: fields.get("description").and_then(|n| r.string(&n, "a description (a string)")),
        labels: labels(r, &fields),
        inputs: fields.get("inputs").map(|n| input::list(r, &n)).unwrap_or_default(),
        variables: values_by_name(r, &fields, "variables"),
        tasks,
        errors: fields.get("errors").map(|n| task::list(r, &n, false)).unwrap_or_default(),
        finally: fields.get("finally").map(|n| task::list(r, &n, false)).unwrap_or_default(),
        outputs: values_by_name(r, &fields, "outputs"),
        triggers: fields.get("triggers").map(|n| trigger::list(r, &n)).unwrap_or_default(),
        concurrency: fields.get("concurrency").and_then(|n| policy::concurrency(r, &n)),
        timeout: fields.get("timeout").and_then(|n| r.positive_duration(&n)),
        retry: fields.get("retry").and_then(|n| policy::retry(r, &n, "the flow's `retry`")),
        disabled: fields.get("disabled").and_then(|n| r.bool(&n)).unwrap_or(false),
    })
}

fn labels(r: &mut Reader, fields: &Fields<'_>) -> BTreeMap<String, String> {
    let Some(node) = fields.get("labels") else { return BTreeMap::new() };
    let Some(labels) = r.mapping(&node, "a mapping of label names to values") else { return BTreeMap::new() };
    let mut out = BTreeMap::new();
    for key in labels.map.keys() {
        let Some(value) = labels.get(key) else {
            r.report(Diagnostic::at(labels.at(key), format!("label `{key}` has no value")));
            continue;
        };
        if let Some(text) = r.scalar_text(&value, "a label value (a string)") {
            out.insert(key.clone(), text);
        }
    }
    out
}

/// `variables:` and `outputs:`: names to any values (templates are checked elsewhere).
fn values_by_name(r: &mut Reader, fields: &Fields<'_>, key: &str) -> BTreeMap<String, Value> {
    let Some(node) = fields.get(key) else { return BTreeMap::new() };
    let Some(map) = r.mapping(&node, &format!("a mapping of names to values under `{key}`")) else {
        return BTreeMap::new();
    };
    map.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
