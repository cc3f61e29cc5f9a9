//! `notify.discord`: a message through a Discord webhook, `?wait=true` so Discord answers with
//! the message it created.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::http::{Request, Response};
use sluice_plugin::{Capability, Task, TaskError};

use crate::endpoint::{Endpoint, preview};
use crate::message::{self, Summary, truncate};
use crate::send::{self, Retry};

/// The most characters Discord takes in `content`.
const CONTENT_CHARS: usize = 2000;

pub struct DiscordTask;

/// Config of `notify.discord`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiscordConfig {
    /// The webhook URL (`https://discord.com/api/webhooks/<id>/<token>`). The URL is the
    /// credential: give it as a secret. Its origin is granted.
    webhook: String,
    /// The message (Discord markdown, at most 2,000 characters). Default: made from the
    /// execution, unless `embeds` are given.
    #[serde(default)]
    content: Option<String>,
    /// Embeds, sent as they are (Discord's embed objects: `title`, `description`, `url`,
    /// `color`, `fields`, ...).
    #[serde(default)]
    embeds: Option<Vec<Value>>,
    /// Overrides the webhook's user name.
    #[serde(default)]
    username: Option<String>,
    /// Overrides the webhook's avatar (an image URL).
    #[serde(default)]
    avatar_url: Option<String>,
    /// Post in this thread of a forum or text channel.
    #[serde(default)]
    thread_id: Option<String>,
    /// Sends in all when Discord answers 429 or 5xx (default 5).
    #[serde(default)]
    max_attempts: Option<u32>,
    /// The most seconds to wait between sends in total (default 60).
    #[serde(default)]
    max_retry_wait: Option<u64>,
}

/// Outputs of `notify.discord`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscordOutput {
    /// The message's id.
    message_id: Option<String>,
    /// The channel's id.
    channel_id: Option<String>,
}

impl Task for DiscordTask {
    const NAME: &'static str = "discord";
    const DESCRIPTION: &'static str = "Posts a message through a Discord `webhook`: `content` \
        (default: made from the execution) and `embeds`, optionally as `username` with \
        `avatarUrl`, in `threadId`. 429 and 5xx answers are retried after `Retry-After`. \
        Outputs the message id.";
    type Config = DiscordConfig;
    type Output = DiscordOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("webhook")]
    }

    fn run(config: DiscordConfig) -> Result<DiscordOutput, TaskError> {
        let endpoint = Endpoint::parse(&config.webhook, "webhook", "Discord")?;
        let retry = Retry::from_config(config.max_attempts, config.max_retry_wait);
        let mut body = json!({});
        match (&config.content, &config.embeds) {
            (Some(content), _) => body["content"] = json!(content),
            (None, None) => {
                body["content"] = json!(markdown(&message::summary(&message::current("content")?)))
            }
            (None, Some(_)) => {}
        }
        if let Some(embeds) = &config.embeds {
            body["embeds"] = Value::Array(embeds.clone());
        }
        if let Some(username) = &config.username {
            body["username"] = json!(username);
        }
        if let Some(avatar) = &config.avatar_url {
            body["avatar_url"] = json!(avatar);
        }
        let separator = if endpoint.url.contains('?') { '&' } else { '?' };
        let mut url = format!("{}{separator}wait=true", endpoint.url);
        if let Some(thread) = &config.thread_id {
            url.push_str(&format!("&thread_id={}", encode(thread)));
        }
        let response = send::send(&endpoint, retry, discord_error, || {
            Request::new("POST", &url).header("content-type", "application/json").body(body.to_string())
        })?;
        if !response.is_success() {
            return Err(send::failure(&endpoint, &response, discord_error));
        }
        #[derive(Deserialize)]
        struct Message {
            id: Option<String>,
            channel_id: Option<String>,
        }
        let message: Option<Message> = serde_json::from_slice(&response.body).ok();
        let (message_id, channel_id) = message.map_or((None, None), |m| (m.id, m.channel_id));
        sluice_plugin::info!(
            "posted to Discord ({}), message {}",
            endpoint.origin,
            message_id.as_deref().unwrap_or("?")
        );
        Ok(DiscordOutput { message_id, channel_id })
    }
}

/// The default message in Discord's markdown, within its 2,000 characters.
pub fn markdown(summary: &Summary) -> String {
    let mut text = format!("**{}**\n{}", summary.title, summary.run_line());
    for failure in &summary.failures {
        text.push_str(&format!("\n- Failed: `{}`: {}", failure.task, failure.error));
    }
    if let Some(url) = &summary.url {
        text.push_str(&format!("\n[Open the execution]({url})"));
    }
    truncate(&text, CONTENT_CHARS)
}

/// Discord's JSON error: `message` and `code`, with the fields it names for a 400.
fn discord_error(response: &Response) -> String {
    let value: Option<Value> = serde_json::from_slice(&response.body).ok();
    let message = value.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str);
    let code = value.as_ref().and_then(|v| v.get("code")).and_then(Value::as_i64);
    let errors = value.as_ref().and_then(|v| v.get("errors")).map(Value::to_string);
    match (message, code) {
        (Some(message), Some(code)) => match errors {
            Some(errors) => format!("{message} (code {code}): {}", preview(&errors, 300)),
            None => format!("{message} (code {code})"),
        },
        (Some(message), None) => message.to_string(),
        _ => preview(&response.text(), 300),
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::failed_execution;

    #[test]
    fn the_default_message_in_markdown() {
        assert_eq!(
            markdown(&message::summary(&failed_execution())),
            "**❌ shop.deploy FAILED**\nRan 1 min 5 s (execution 0193-e1)\n\
             - Failed: `build (core.fail, 2 attempts)`: exit 2\n\
             [Open the execution](https://sluice.example.com/executions/0193-e1)"
        );
    }

    #[test]
    fn errors_are_discords_words() {
        let response = Response {
            status: 404,
            headers: Vec::new(),
            body: br#"{"message": "Unknown Webhook", "code": 10015}"#.to_vec(),
            url: String::new(),
        };
        assert_eq!(discord_error(&response), "Unknown Webhook (code 10015)");
        assert_eq!(encode("a b/1"), "a%20b%2F1");
    }
}
