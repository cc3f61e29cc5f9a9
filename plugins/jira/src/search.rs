//! `jira.search`: JQL through `POST /rest/api/3/search/jql` (the v3 search endpoint, paged
//! with `nextPageToken`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sluice_plugin::{Capability, Task, TaskError};

use crate::client::Connection;

pub struct SearchTask;

/// The most issues Jira returns per page.
const PAGE: u32 = 100;

/// Config of `jira.search`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct SearchConfig {
    #[serde(flatten)]
    connection: Connection,
    /// The JQL query: `project = OPS AND status != Done ORDER BY created DESC`.
    jql: String,
    /// More fields to return per issue, by id (`assignee`, `labels`, `customfield_10010`);
    /// `summary` and `status` always come.
    #[serde(default)]
    fields: Vec<String>,
    /// At most this many issues (default 50).
    #[serde(default = "default_max_results")]
    max_results: u32,
}

fn default_max_results() -> u32 {
    50
}

/// Outputs of `jira.search`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchOutput {
    /// The issues found, in the query's order.
    issues: Vec<Issue>,
    /// How many there are.
    count: usize,
}

/// One issue found.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// The key (`OPS-12`).
    key: String,
    /// The summary.
    summary: String,
    /// The status' name.
    status: String,
    /// The issue's page.
    url: String,
    /// The extra `fields` asked for, as Jira gives them.
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    issues: Vec<Found>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Found {
    key: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

impl Task for SearchTask {
    const NAME: &'static str = "search";
    const DESCRIPTION: &'static str = "Runs the JQL query `jql` and outputs up to `maxResults` \
        `issues` (key, summary, status, url and the extra `fields` asked for) and their `count`.";
    type Config = SearchConfig;
    type Output = SearchOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("baseUrl")]
    }

    fn run(config: SearchConfig) -> Result<SearchOutput, TaskError> {
        let client = config.connection.client()?;
        let mut fields = vec!["summary".to_string(), "status".to_string()];
        fields.extend(config.fields.iter().filter(|f| !fields.contains(f)).cloned().collect::<Vec<_>>());
        let mut issues = Vec::new();
        let mut token: Option<String> = None;
        while issues.len() < config.max_results as usize {
            let want = (config.max_results - issues.len() as u32).min(PAGE);
            let mut body = json!({"jql": config.jql, "fields": fields, "maxResults": want});
            if let Some(token) = &token {
                body["nextPageToken"] = json!(token);
            }
            let page: Page =
                client.send_json("POST", "/rest/api/3/search/jql", Some(&body), "searching with JQL")?;
            let got = page.issues.len();
            for found in page.issues.into_iter().take(config.max_results as usize - issues.len()) {
                issues.push(issue(found, &config.fields, &client.browse_url_of()));
            }
            match page.next_page_token {
                Some(next) if got > 0 => token = Some(next),
                _ => break,
            }
        }
        sluice_plugin::info!("{} issues match", issues.len());
        Ok(SearchOutput { count: issues.len(), issues })
    }
}

fn issue(found: Found, extra: &[String], browse: &str) -> Issue {
    let mut fields = found.fields;
    let summary = fields.get("summary").and_then(Value::as_str).unwrap_or_default().to_string();
    let status = fields.get("status").and_then(|s| s["name"].as_str()).unwrap_or_default().to_string();
    fields.retain(|id, _| extra.contains(id));
    Issue { url: format!("{browse}{}", found.key), key: found.key, summary, status, fields }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn issues_keep_the_asked_fields() {
        let found: Found = serde_json::from_value(json!({"key": "OPS-3", "fields": {
            "summary": "s", "status": {"name": "Done", "id": "3"}, "labels": ["a"]}}))
        .unwrap();
        let issue = issue(found, &["labels".to_string()], "https://a.example/browse/");
        assert_eq!(
            serde_json::to_value(issue).unwrap(),
            json!({"key": "OPS-3", "summary": "s", "status": "Done", "url": "https://a.example/browse/OPS-3",
                "fields": {"labels": ["a"]}})
        );
    }
}
