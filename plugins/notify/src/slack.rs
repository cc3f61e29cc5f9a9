//! `notify.slack`: a message to Slack through an incoming webhook, or `chat.postMessage` with a
//! bot token.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::http::{Request, Response};
use sluice_plugin::{Capability, Task, TaskError};

use crate::endpoint::{Endpoint, preview};
use crate::message::{self, Summary};
use crate::send::{self, Retry};

/// The Web API's base URL unless `apiUrl` says otherwise.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

pub struct SlackTask;

/// Config of `notify.slack`. Give exactly one of `webhook` and `token`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackConfig {
    /// An incoming-webhook URL (`https://hooks.slack.com/services/...`). The URL is the
    /// credential: give it as a secret (`{{ secret('SLACK_WEBHOOK') }}`). Its origin is granted.
    #[serde(default)]
    webhook: Option<String>,
    /// A bot token (`xoxb-...`) for `chat.postMessage`, with `channel`. Give it as a secret.
    #[serde(default)]
    token: Option<String>,
    /// The Web API's base URL, for `token`: `https://slack.com/api` when absent (then grant
    /// `https://slack.com` in `allow.network`). Its origin is granted when set.
    #[serde(default)]
    api_url: Option<String>,
    /// The channel for `token`: an id (`C0123456789`) or a name (`#deploys`).
    #[serde(default)]
    channel: Option<String>,
    /// Reply in the thread of this message (`ts` of an earlier `notify.slack`).
    #[serde(default)]
    thread_ts: Option<String>,
    /// The message (Slack mrkdwn); with `blocks`, the notification's fallback text. Default:
    /// made from the execution (flow, state, duration, the failed task and its error, link).
    #[serde(default)]
    text: Option<String>,
    /// Block Kit blocks, sent as they are.
    #[serde(default)]
    blocks: Option<Vec<Value>>,
    /// Sends in all when Slack answers 429 or 5xx (default 5).
    #[serde(default)]
    max_attempts: Option<u32>,
    /// The most seconds to wait between sends in total (default 60).
    #[serde(default)]
    max_retry_wait: Option<u64>,
}

/// Outputs of `notify.slack`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackOutput {
    /// The message's timestamp, its id (`chat.postMessage` only; a webhook does not say).
    ts: Option<String>,
    /// The channel id it was posted to (`chat.postMessage` only).
    channel: Option<String>,
}

impl Task for SlackTask {
    const NAME: &'static str = "slack";
    const DESCRIPTION: &'static str = "Posts a message to Slack: to an incoming `webhook`, or with a \
        bot `token` to `channel` through `chat.postMessage` (`threadTs` replies in a thread). \
        `text` (mrkdwn) and Block Kit `blocks` default to a message made from the execution. \
        429 and 5xx answers are retried after `Retry-After`. Outputs the message `ts`.";
    type Config = SlackConfig;
    type Output = SlackOutput;

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::network_from_config("webhook"),
            Capability::network_from_config("apiUrl"),
            Capability::network("https://slack.com"),
        ]
    }

    fn run(config: SlackConfig) -> Result<SlackOutput, TaskError> {
        let retry = Retry::from_config(config.max_attempts, config.max_retry_wait);
        let text = match &config.text {
            Some(text) => text.clone(),
            None => mrkdwn(&message::summary(&message::current("text")?)),
        };
        let mut body = json!({ "text": text });
        if let Some(blocks) = &config.blocks {
            body["blocks"] = Value::Array(blocks.clone());
        }
        if let Some(ts) = &config.thread_ts {
            body["thread_ts"] = json!(ts);
        }
        match (&config.webhook, &config.token) {
            (Some(webhook), None) => {
                if config.channel.is_some() {
                    return Err(TaskError::invalid_config(
                        "`channel` needs `token`: an incoming webhook posts to the channel it was made for",
                    ));
                }
                let endpoint = Endpoint::parse(webhook, "webhook", "Slack")?;
                let response =
                    send::send(&endpoint, retry, webhook_error, || post_json(&endpoint.url, &body))?;
                if !response.is_success() {
                    return Err(send::failure(&endpoint, &response, webhook_error));
                }
                sluice_plugin::info!("posted to Slack through an incoming webhook ({})", endpoint.origin);
                Ok(SlackOutput { ts: None, channel: None })
            }
            (None, Some(token)) => {
                let channel = config.channel.as_deref().ok_or_else(|| {
                    TaskError::invalid_config("`token` needs `channel`: the channel id or #name to post to")
                })?;
                body["channel"] = json!(channel);
                let base = config.api_url.as_deref().unwrap_or(DEFAULT_API_URL).trim_end_matches('/');
                let url = format!("{base}/chat.postMessage");
                let endpoint = Endpoint::parse(&url, "apiUrl", "Slack")?;
                let response = send::send(&endpoint, retry, api_error, || {
                    post_json(&endpoint.url, &body).header("authorization", format!("Bearer {token}"))
                })?;
                post_message_output(&endpoint, &response)
            }
            (Some(_), Some(_)) => Err(TaskError::invalid_config("give `webhook` or `token`, not both")),
            (None, None) => Err(TaskError::invalid_config(
                "give `webhook` (an incoming-webhook URL) or `token` (a bot token, with `channel`)",
            )),
        }
    }
}

fn post_json(url: &str, body: &Value) -> Request {
    Request::new("POST", url).header("content-type", "application/json; charset=utf-8").body(body.to_string())
}

/// `chat.postMessage` answers 200 with `ok: false` and an error code for its own errors.
fn post_message_output(endpoint: &Endpoint, response: &Response) -> Result<SlackOutput, TaskError> {
    #[derive(Deserialize)]
    struct Answer {
        ok: bool,
        ts: Option<String>,
        channel: Option<String>,
    }
    if !response.is_success() {
        return Err(send::failure(endpoint, response, api_error));
    }
    match serde_json::from_slice::<Answer>(&response.body) {
        Ok(Answer { ok: true, ts, channel }) => {
            sluice_plugin::info!(
                "posted to Slack channel {} ({}), ts {}",
                channel.as_deref().unwrap_or("?"),
                endpoint.origin,
                ts.as_deref().unwrap_or("?")
            );
            Ok(SlackOutput { ts, channel })
        }
        Ok(Answer { ok: false, .. }) => Err(TaskError::failed(format!(
            "Slack ({}) refused chat.postMessage: {}",
            endpoint.origin,
            api_error(response)
        ))),
        Err(_) => Err(TaskError::failed(format!(
            "Slack ({}) answered chat.postMessage with something that is not its JSON: {}",
            endpoint.origin,
            preview(&response.text(), 200)
        ))),
    }
}

/// An incoming webhook's errors are plain text (`invalid_payload`, `no_service`, ...).
fn webhook_error(response: &Response) -> String {
    preview(&response.text(), 300)
}

/// The Web API's error code, with the scopes it names for `missing_scope`.
fn api_error(response: &Response) -> String {
    #[derive(Deserialize)]
    struct Failure {
        error: Option<String>,
        needed: Option<String>,
        provided: Option<String>,
    }
    match serde_json::from_slice::<Failure>(&response.body) {
        Ok(Failure { error: Some(error), needed, provided }) => match (needed, provided) {
            (Some(needed), Some(provided)) => format!("{error} (needed: {needed}; provided: {provided})"),
            _ => error,
        },
        _ => preview(&response.text(), 300),
    }
}

/// The default message in Slack's mrkdwn.
pub fn mrkdwn(summary: &Summary) -> String {
    let mut text = format!("*{}*\n{}", escape(&summary.title), escape(&summary.run_line()));
    for failure in &summary.failures {
        text.push_str(&format!("\n• Failed: `{}`: {}", escape(&failure.task), escape(&failure.error)));
    }
    if let Some(url) = &summary.url {
        text.push_str(&format!("\n<{url}|Open the execution>"));
    }
    text
}

/// Slack's three control characters in text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::failed_execution;

    #[test]
    fn the_default_message_in_mrkdwn() {
        let mut execution = failed_execution();
        execution.failed_tasks[0].error = Some("expected <200> & got 500".into());
        assert_eq!(
            mrkdwn(&message::summary(&execution)),
            "*❌ shop.deploy FAILED*\nRan 1 min 5 s (execution 0193-e1)\n\
             • Failed: `build (core.fail, 2 attempts)`: expected &lt;200&gt; &amp; got 500\n\
             <https://sluice.example.com/executions/0193-e1|Open the execution>"
        );
    }

    fn answer(status: u16, body: &str) -> Response {
        Response { status, headers: Vec::new(), body: body.as_bytes().to_vec(), url: String::new() }
    }

    #[test]
    fn api_errors_are_slacks_words() {
        assert_eq!(api_error(&answer(200, r#"{"ok":false,"error":"invalid_auth"}"#)), "invalid_auth");
        assert_eq!(
            api_error(&answer(
                200,
                r#"{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"users:read"}"#
            )),
            "missing_scope (needed: chat:write; provided: users:read)"
        );
        let endpoint = Endpoint::parse("https://slack.com/api/chat.postMessage", "apiUrl", "Slack").unwrap();
        let err = post_message_output(&endpoint, &answer(200, r#"{"ok":false,"error":"invalid_auth"}"#));
        assert_eq!(
            err.err().map(|e| e.to_string()).as_deref(),
            Some("failed: Slack (https://slack.com) refused chat.postMessage: invalid_auth")
        );
    }
}
