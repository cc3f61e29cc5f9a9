//! `notify.teams`: an Adaptive Card to a Microsoft Teams channel through a Workflows webhook
//! (or a classic incoming webhook, which takes the same message).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::http::{Request, Response};
use sluice_plugin::{Capability, Task, TaskError};

use crate::endpoint::{Endpoint, preview};
use crate::message;
use crate::send::{self, Retry};

pub struct TeamsTask;

/// Config of `notify.teams`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamsConfig {
    /// The webhook URL a Teams Workflow ("When a Teams webhook request is received") or an
    /// incoming-webhook connector gives. The URL is the credential: give it as a secret. Its
    /// origin is granted.
    webhook: String,
    /// The card's title. Default: from the execution (`❌ shop.deploy FAILED`).
    #[serde(default)]
    title: Option<String>,
    /// The card's text (Adaptive Card markdown). Default: from the execution (duration, the
    /// failed task and its error).
    #[serde(default)]
    text: Option<String>,
    /// Facts shown as a table, name to value. Default: flow, namespace, state, duration,
    /// execution, failed task.
    #[serde(default)]
    facts: Option<BTreeMap<String, String>>,
    /// A button's link. Default: the execution's URL when the server knows its public URL.
    #[serde(default)]
    link_url: Option<String>,
    /// The button's title (default `Open the execution`).
    #[serde(default)]
    link_title: Option<String>,
    /// A whole Adaptive Card (its `content`), sent in place of the one built from the fields
    /// above.
    #[serde(default)]
    card: Option<Value>,
    /// Sends in all when Teams answers 429 or 5xx (default 5).
    #[serde(default)]
    max_attempts: Option<u32>,
    /// The most seconds to wait between sends in total (default 60).
    #[serde(default)]
    max_retry_wait: Option<u64>,
}

/// Outputs of `notify.teams`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamsOutput {
    /// The HTTP status Teams answered (202 from a Workflow, 200 from a connector).
    status: u16,
}

impl Task for TeamsTask {
    const NAME: &'static str = "teams";
    const DESCRIPTION: &'static str = "Posts an Adaptive Card to Microsoft Teams through a \
        Workflows or incoming `webhook`: `title`, `text`, `facts` and a link button, all \
        defaulting to the execution's summary, or a whole `card`. 429 and 5xx answers are \
        retried after `Retry-After`.";
    type Config = TeamsConfig;
    type Output = TeamsOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("webhook")]
    }

    fn run(config: TeamsConfig) -> Result<TeamsOutput, TaskError> {
        let endpoint = Endpoint::parse(&config.webhook, "webhook", "Teams")?;
        let retry = Retry::from_config(config.max_attempts, config.max_retry_wait);
        let content = match &config.card {
            Some(card) => card.clone(),
            None => card(&config)?,
        };
        let body = json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": content,
            }],
        });
        let response = send::send(&endpoint, retry, teams_error, || {
            Request::new("POST", &endpoint.url)
                .header("content-type", "application/json")
                .body(body.to_string())
        })?;
        if !response.is_success() {
            return Err(send::failure(&endpoint, &response, teams_error));
        }
        sluice_plugin::info!("posted a card to Teams ({}), HTTP {}", endpoint.origin, response.status);
        Ok(TeamsOutput { status: response.status })
    }
}

/// The card from the fields, each one missing taken from the execution's summary.
fn card(config: &TeamsConfig) -> Result<Value, TaskError> {
    let needs_default = config.title.is_none() || config.text.is_none() || config.facts.is_none();
    let summary = if needs_default { Some(message::summary(&message::current("text")?)) } else { None };
    let title =
        config.title.clone().or_else(|| summary.as_ref().map(|s| s.title.clone())).unwrap_or_default();
    let text = config.text.clone().or_else(|| summary.as_ref().map(default_text)).unwrap_or_default();
    let facts: Vec<(String, String)> = match (&config.facts, &summary) {
        (Some(facts), _) => facts.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        (None, Some(summary)) => summary.facts.clone(),
        (None, None) => Vec::new(),
    };
    let link = match (&config.link_url, &summary) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(summary)) => summary.url.clone(),
        (None, None) => sluice_plugin::context::execution().and_then(|e| e.url),
    };
    Ok(adaptive_card(&title, &text, &facts, link.as_deref(), config.link_title.as_deref()))
}

fn default_text(summary: &message::Summary) -> String {
    let mut text = summary.run_line();
    for failure in &summary.failures {
        text.push_str(&format!("\n\n**Failed:** {}: {}", failure.task, failure.error));
    }
    text
}

/// An Adaptive Card 1.4: a bold title, the text, a fact set and an "open" button.
pub fn adaptive_card(
    title: &str,
    text: &str,
    facts: &[(String, String)],
    link: Option<&str>,
    link_title: Option<&str>,
) -> Value {
    let mut body =
        vec![json!({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true})];
    if !text.is_empty() {
        body.push(json!({"type": "TextBlock", "text": text, "wrap": true}));
    }
    if !facts.is_empty() {
        let facts: Vec<Value> =
            facts.iter().map(|(title, value)| json!({"title": title, "value": value})).collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(url) = link {
        card["actions"] = json!([{
            "type": "Action.OpenUrl",
            "title": link_title.unwrap_or("Open the execution"),
            "url": url,
        }]);
    }
    card
}

/// A Workflow's errors are JSON (`{"error": {"code", "message"}}`); a connector's are text.
fn teams_error(response: &Response) -> String {
    let value: Option<Value> = serde_json::from_slice(&response.body).ok();
    let error = value.as_ref().and_then(|v| v.get("error"));
    match (error.and_then(|e| e.get("code")).and_then(Value::as_str), error.and_then(|e| e.get("message"))) {
        (Some(code), Some(Value::String(message))) => format!("{code}: {message}"),
        (None, Some(Value::String(message))) => message.clone(),
        _ => preview(&response.text(), 300),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_with_facts_and_a_link() {
        let facts = vec![("Flow".to_string(), "deploy".to_string())];
        let card = adaptive_card("Title", "Body", &facts, Some("https://x/e/1"), None);
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["body"][2]["facts"][0], json!({"title": "Flow", "value": "deploy"}));
        assert_eq!(card["actions"][0]["url"], "https://x/e/1");
        assert_eq!(card["actions"][0]["title"], "Open the execution");
        assert!(adaptive_card("T", "", &[], None, None).get("actions").is_none());
    }

    #[test]
    fn workflow_errors_are_read() {
        let response = Response {
            status: 400,
            headers: Vec::new(),
            body: br#"{"error":{"code":"TriggerInputSchemaMismatch","message":"The input body does not match"}}"#
                .to_vec(),
            url: String::new(),
        };
        assert_eq!(teams_error(&response), "TriggerInputSchemaMismatch: The input body does not match");
    }
}
