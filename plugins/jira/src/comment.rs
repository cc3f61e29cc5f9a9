//! `jira.comment`: `POST /rest/api/3/issue/{key}/comment`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sluice_plugin::{Capability, Task, TaskError};

use crate::adf::{self, Format};
use crate::client::{Connection, issue_path};

pub struct CommentTask;

/// Config of `jira.comment`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct CommentConfig {
    #[serde(flatten)]
    connection: Connection,
    /// The issue's key (`OPS-12`).
    issue: String,
    /// The comment, converted to Atlassian Document Format as `format` says.
    body: String,
    /// `markdown` (default) or `text`.
    #[serde(default)]
    format: Format,
}

/// Outputs of `jira.comment`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentOutput {
    /// The issue's key.
    key: String,
    /// The issue's page, `<baseUrl>/browse/KEY`.
    url: String,
    /// The new comment's id.
    comment_id: String,
}

impl Task for CommentTask {
    const NAME: &'static str = "comment";
    const DESCRIPTION: &'static str = "Adds a comment to `issue`; `body` is Markdown-ish or plain \
        text, sent as Atlassian Document Format. Outputs the issue `key`, its `url` and the \
        `commentId`.";
    type Config = CommentConfig;
    type Output = CommentOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("baseUrl")]
    }

    fn run(config: CommentConfig) -> Result<CommentOutput, TaskError> {
        let client = config.connection.client()?;
        let key = issue_path(&config.issue)?;
        let body = json!({"body": adf::document(&config.body, config.format)});
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let path = format!("/rest/api/3/issue/{key}/comment");
        let created: Created =
            client.send_json("POST", &path, Some(&body), &format!("commenting on {key}"))?;
        sluice_plugin::info!("commented on {key} (comment {})", created.id);
        Ok(CommentOutput { url: client.browse_url(&key), key, comment_id: created.id })
    }
}
