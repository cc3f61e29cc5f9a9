//! `GET /api/v1/flows/{namespace}/{id}/graph`: the stored flow as the server's parser reads it,
//! for the UI's topology and run form (no YAML parser in the browser): its labels, typed inputs, and its
//! tasks as a tree (each with its type, `dependsOn`, the line it starts on, its child lists and
//! what it is granted, a pause's `onResume` inputs), main tasks, `errors` and `finally` apart. Read-only; `?revision=` reads
//! an older revision.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_engine::Store;
use sluice_flow::{Input, SourceMap, Task, TaskKind};
use sluice_sandbox::Capability;

use crate::error::{ApiError, BODY_FILE_NAME};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct GraphQuery {
    revision: Option<u32>,
}

pub async fn get(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<GraphQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((namespace, id)) = path?;
    let Query(query) = query?;
    let Some(stored) = state.engine.store().get_flow(&namespace, &id, query.revision).await? else {
        return Err(match query.revision {
            Some(n) => ApiError::NotFound(format!("flow {namespace}.{id} has no revision {n}")),
            None => ApiError::NotFound(format!("no flow {namespace}.{id}")),
        });
    };
    let parsed = sluice_flow::parse(BODY_FILE_NAME, &stored.source)
        .map_err(|d| ApiError::invalid_flow(&d, &stored.source))?;
    let graph = Graph { source: &parsed.source, state: &state };
    let flow = &parsed.flow;
    Ok(Json(json!({
        "namespace": stored.namespace,
        "id": stored.id,
        "revision": stored.revision,
        "description": flow.description,
        "labels": flow.labels,
        "inputs": flow.inputs.iter().map(input).collect::<Vec<_>>(),
        "tasks": graph.list(&flow.tasks),
        "errors": graph.list(&flow.errors),
        "finally": graph.list(&flow.finally),
    })))
}

/// An input as the run form needs it. A `secret` input's default is never sent: the form
/// only says that there is one.
fn input(input: &Input) -> Value {
    let secret = input.kind == sluice_flow::InputType::Secret;
    json!({
        "id": input.id,
        "type": input.kind,
        "description": input.description,
        "required": input.required,
        "default": if secret { None } else { input.default.clone() },
        "hasDefault": input.default.is_some(),
        "values": input.values,
        "pattern": input.pattern,
        "min": input.min,
        "max": input.max,
        "itemType": input.item_type,
    })
}

struct Graph<'a> {
    source: &'a SourceMap,
    state: &'a AppState,
}

impl Graph<'_> {
    fn list(&self, tasks: &[Task]) -> Vec<Value> {
        tasks.iter().map(|t| self.task(t)).collect()
    }

    /// A child list: its label (`tasks`, `then`, `else`, `case <value>`, `default`) and whether
    /// its tasks run at once (a `flow.parallel`) or one after another.
    fn group(&self, label: &str, parallel: bool, tasks: &[Task]) -> Value {
        json!({"label": label, "parallel": parallel, "tasks": self.list(tasks)})
    }

    fn task(&self, task: &Task) -> Value {
        let mut doc = json!({
            "id": task.id,
            "type": task.type_name(),
            "line": self.source.locate(&task.pointer, false).map(|s| s.start.0),
            "description": task.description,
            "dependsOn": task.depends_on,
            "runIf": task.run_if,
            "allowFailure": task.allow_failure,
            "disabled": task.disabled,
            "children": [],
        });
        match &task.kind {
            TaskKind::Plugin { task_type, config } => {
                let allow = &task.allow;
                doc["allow"] = json!({
                    "network": allow.network, "docker": allow.docker, "env": allow.env, "secrets": allow.secrets,
                });
                doc["impliedNetwork"] =
                    json!(self.implied_network(&task_type.plugin, &task_type.task, config));
            }
            TaskKind::Sequential { tasks } => doc["children"] = json!([self.group("tasks", false, tasks)]),
            TaskKind::Parallel { tasks, concurrency } => {
                doc["children"] = json!([self.group("tasks", true, tasks)]);
                doc["concurrency"] = json!(concurrency);
            }
            TaskKind::If { condition, then, otherwise } => {
                doc["condition"] = json!(condition);
                doc["children"] =
                    json!([self.group("then", false, then), self.group("else", false, otherwise)]);
            }
            TaskKind::Switch { value, cases, default } => {
                doc["value"] = json!(value);
                let mut groups: Vec<Value> = cases
                    .iter()
                    .map(|(case, tasks)| self.group(&format!("case {case}"), false, tasks))
                    .collect();
                groups.push(self.group("default", false, default));
                doc["children"] = json!(groups);
            }
            TaskKind::ForEach { values, concurrency, tasks } => {
                doc["values"] = values.clone();
                doc["concurrency"] = json!(concurrency);
                doc["children"] = json!([self.group("tasks", false, tasks)]);
            }
            TaskKind::Subflow { namespace, flow_id, wait, .. } => {
                doc["subflow"] = json!({"namespace": namespace, "id": flow_id, "wait": wait});
            }
            // The inputs a resume takes, for the execution page's resume form.
            TaskKind::Pause { on_resume, .. } => {
                doc["onResume"] = json!(on_resume.iter().map(input).collect::<Vec<_>>());
            }
            TaskKind::Sleep { .. } | TaskKind::Fail { .. } => {}
        }
        doc
    }

    /// The network a plugin task's own config implies (`core.http`'s `url`), as written (it
    /// may be a template, rendered at run time): `[{field, value}]`.
    fn implied_network(
        &self,
        plugin: &str,
        task: &str,
        config: &serde_json::Map<String, Value>,
    ) -> Vec<Value> {
        let Some(found) = self.state.engine.plugins().get(plugin).cloned() else { return Vec::new() };
        let Some(info) = found.info().task(task) else { return Vec::new() };
        info.capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::NetworkFromConfig(field) => config
                    .get(field)
                    .and_then(Value::as_str)
                    .map(|value| json!({"field": field, "value": value})),
                _ => None,
            })
            .collect()
    }
}
