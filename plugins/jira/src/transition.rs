//! `jira.transition`: the transition's name resolved to its id with
//! `GET /rest/api/3/issue/{key}/transitions`, then `POST` to the same path.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::{Capability, Task, TaskError};

use crate::adf::{self, Format};
use crate::client::{Connection, issue_path};

pub struct TransitionTask;

/// Config of `jira.transition`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct TransitionConfig {
    #[serde(flatten)]
    connection: Connection,
    /// The issue's key (`OPS-12`).
    issue: String,
    /// The transition's name as the workflow shows it (`Start Progress`, `Done`; case does not
    /// matter), or the name of the status it leads to when no transition has that name.
    transition: String,
    /// A comment added with the transition (Markdown-ish text).
    #[serde(default)]
    comment: Option<String>,
    /// Fields the transition's screen sets, by id: `resolution: {name: Fixed}`.
    #[serde(default)]
    fields: BTreeMap<String, Value>,
}

/// Outputs of `jira.transition`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransitionOutput {
    /// The issue's key.
    key: String,
    /// The issue's page, `<baseUrl>/browse/KEY`.
    url: String,
    /// The transition's id.
    transition_id: String,
    /// The status the issue is in now.
    status: String,
}

/// One entry of the transitions list.
#[derive(Debug, Clone, Deserialize)]
struct Transition {
    id: String,
    name: String,
    to: Option<Status>,
}

#[derive(Debug, Clone, Deserialize)]
struct Status {
    name: String,
}

impl Task for TransitionTask {
    const NAME: &'static str = "transition";
    const DESCRIPTION: &'static str = "Moves `issue` through the workflow transition named \
        `transition` (resolved to its id among the issue's available transitions; an unknown \
        name fails listing them), with an optional `comment` and screen `fields`. Outputs the \
        `key`, `url`, `transitionId` and the new `status`.";
    type Config = TransitionConfig;
    type Output = TransitionOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("baseUrl")]
    }

    fn run(config: TransitionConfig) -> Result<TransitionOutput, TaskError> {
        let client = config.connection.client()?;
        let key = issue_path(&config.issue)?;
        let path = format!("/rest/api/3/issue/{key}/transitions");
        #[derive(Deserialize)]
        struct Transitions {
            transitions: Vec<Transition>,
        }
        let what = format!("reading the transitions of {key}");
        let available: Transitions = client.send_json("GET", &path, None, &what)?;
        let chosen = choose(&available.transitions, &config.transition, &key)?;
        let mut body = json!({"transition": {"id": chosen.id}});
        if !config.fields.is_empty() {
            body["fields"] = json!(config.fields);
        }
        if let Some(comment) = &config.comment {
            body["update"] =
                json!({"comment": [{"add": {"body": adf::document(comment, Format::Markdown)}}]});
        }
        client.send("POST", &path, Some(&body), &format!("moving {key} through `{}`", chosen.name))?;
        let status = chosen.to.map_or_else(|| chosen.name.clone(), |to| to.name);
        sluice_plugin::info!("{key}: {} (now {status})", chosen.name);
        Ok(TransitionOutput { url: client.browse_url(&key), key, transition_id: chosen.id, status })
    }
}

/// The transition named `wanted` (ignoring case), else the only one leading to a status of that
/// name; an error listing the available ones otherwise.
fn choose(available: &[Transition], wanted: &str, key: &str) -> Result<Transition, TaskError> {
    let wanted = wanted.trim();
    if let Some(found) = available.iter().find(|t| t.name.eq_ignore_ascii_case(wanted)) {
        return Ok(found.clone());
    }
    let by_status: Vec<&Transition> = available
        .iter()
        .filter(|t| t.to.as_ref().is_some_and(|to| to.name.eq_ignore_ascii_case(wanted)))
        .collect();
    if let [only] = by_status.as_slice() {
        return Ok((*only).clone());
    }
    let names: Vec<String> = available
        .iter()
        .map(|t| match &t.to {
            Some(to) => format!("`{}` (to {})", t.name, to.name),
            None => format!("`{}`", t.name),
        })
        .collect();
    let list = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    Err(TaskError::failed(format!("{key} has no transition `{wanted}` now; available: {list}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn transitions() -> Vec<Transition> {
        serde_json::from_value(json!([
            {"id": "11", "name": "To Do", "to": {"name": "To Do"}},
            {"id": "21", "name": "Start Progress", "to": {"name": "In Progress"}},
            {"id": "31", "name": "Done", "to": {"name": "Done"}}
        ]))
        .unwrap()
    }

    #[test]
    fn by_name_then_by_target_status() {
        assert_eq!(choose(&transitions(), "start progress", "OPS-1").unwrap().id, "21");
        assert_eq!(choose(&transitions(), "In Progress", "OPS-1").unwrap().id, "21");
        assert_eq!(
            choose(&transitions(), "Close", "OPS-1").unwrap_err(),
            TaskError::failed(
                "OPS-1 has no transition `Close` now; available: `To Do` (to To Do), `Start Progress` (to In Progress), `Done` (to Done)"
            )
        );
    }
}
