//! `jira.create-issue`: `POST /rest/api/3/issue`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::{Capability, Task, TaskError};

use crate::adf::{self, Format};
use crate::client::Connection;

pub struct CreateIssueTask;

/// Config of `jira.create-issue`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct CreateIssueConfig {
    #[serde(flatten)]
    connection: Connection,
    /// The project key (`OPS`).
    project: String,
    /// The issue type's name (`Bug`, `Task`, `Story`, ...).
    issue_type: String,
    /// The summary (one line).
    summary: String,
    /// The issue's description, converted to Atlassian Document Format as `format` says. (The
    /// key is not `description`: every task's `description` is the flow's note about it.)
    #[serde(default)]
    body: Option<String>,
    /// How `body` is written: `markdown` (default: headings, lists, code blocks, bold, italic,
    /// links) or `text`.
    #[serde(default)]
    format: Format,
    /// Labels (no spaces).
    #[serde(default)]
    labels: Vec<String>,
    /// More fields by id, sent as given: `customfield_10010: {value: High}`,
    /// `priority: {name: High}`, `components: [{name: api}]`.
    #[serde(default)]
    fields: BTreeMap<String, Value>,
}

/// Outputs of `jira.create-issue`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateIssueOutput {
    /// The new issue's key (`OPS-12`).
    key: String,
    /// Its numeric id.
    id: String,
    /// Its page, `<baseUrl>/browse/OPS-12`.
    url: String,
}

impl Task for CreateIssueTask {
    const NAME: &'static str = "create-issue";
    const DESCRIPTION: &'static str = "Creates an issue in `project` of type `issueType` with \
        `summary`, a description in `body` (Markdown-ish or plain text, sent as Atlassian \
        Document Format), `labels` and any other `fields` by id. Outputs the `key` and its browse `url`.";
    type Config = CreateIssueConfig;
    type Output = CreateIssueOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("baseUrl")]
    }

    fn run(config: CreateIssueConfig) -> Result<CreateIssueOutput, TaskError> {
        let client = config.connection.client()?;
        let body = json!({"fields": fields(&config)?});
        #[derive(Deserialize)]
        struct Created {
            id: String,
            key: String,
        }
        let what = format!("creating a {} in {}", config.issue_type, config.project);
        let created: Created = client.send_json("POST", "/rest/api/3/issue", Some(&body), &what)?;
        let url = client.browse_url(&created.key);
        sluice_plugin::info!("created {}: {url}", created.key);
        Ok(CreateIssueOutput { key: created.key, id: created.id, url })
    }
}

/// The `fields` object of the request.
fn fields(config: &CreateIssueConfig) -> Result<serde_json::Map<String, Value>, TaskError> {
    let mut fields = serde_json::Map::new();
    fields.insert("project".into(), json!({"key": config.project}));
    fields.insert("issuetype".into(), json!({"name": config.issue_type}));
    fields.insert("summary".into(), json!(config.summary));
    if let Some(body) = &config.body {
        fields.insert("description".into(), adf::document(body, config.format));
    }
    if !config.labels.is_empty() {
        fields.insert("labels".into(), json!(config.labels));
    }
    for (id, value) in &config.fields {
        if fields.contains_key(id) {
            return Err(TaskError::invalid_config(format!(
                "`fields.{id}`: set it with its own key (`project`, `issueType`, `summary`, `body`, `labels`)"
            )));
        }
        fields.insert(id.clone(), value.clone());
    }
    Ok(fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(extra: Value) -> CreateIssueConfig {
        let mut base = json!({"baseUrl": "https://a.example", "bearerToken": "t", "project": "OPS",
            "issueType": "Bug", "summary": "s"});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn custom_fields_go_beside_the_named_ones() {
        let fields =
            fields(&config(json!({"labels": ["ci"], "fields": {"customfield_10010": {"value": "High"}}})))
                .unwrap();
        assert_eq!(
            Value::Object(fields),
            json!({"project": {"key": "OPS"}, "issuetype": {"name": "Bug"}, "summary": "s", "labels": ["ci"],
                "customfield_10010": {"value": "High"}})
        );
        let clash = super::fields(&config(json!({"fields": {"summary": "x"}})));
        assert!(clash.is_err());
    }
}
