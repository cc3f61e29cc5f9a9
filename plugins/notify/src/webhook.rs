//! `notify.webhook`: any JSON to a granted URL, signed with HMAC-SHA256 (see `signature`).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sluice_plugin::http::{Request, Response};
use sluice_plugin::{Capability, Task, TaskError};

use crate::endpoint::{Endpoint, preview};
use crate::message;
use crate::send::{self, Retry};
use crate::signature::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

/// How much of the receiver's answer the output keeps.
const BODY_OUTPUT_BYTES: usize = 4096;

pub struct WebhookTask;

/// Config of `notify.webhook`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// The receiver's URL; its origin is granted.
    url: String,
    /// `POST` (default), `PUT` or `PATCH`.
    #[serde(default)]
    method: Option<String>,
    /// The JSON to send, any value. Default: `{"text": <the default message>, "execution":
    /// <the execution: flow, state, duration, failed tasks, URL>}`.
    #[serde(default)]
    body: Option<Value>,
    /// The signing secret (give it as a secret). With it each request carries
    /// `X-Sluice-Timestamp` and `X-Sluice-Signature-256: sha256=<hex HMAC-SHA256 of
    /// "<timestamp>.<body>">`; without it the request is not signed.
    #[serde(default)]
    secret: Option<String>,
    /// More request headers (a `content-type` replaces `application/json`).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Sends in all when the receiver answers 429 or 5xx (default 5).
    #[serde(default)]
    max_attempts: Option<u32>,
    /// The most seconds to wait between sends in total (default 60).
    #[serde(default)]
    max_retry_wait: Option<u64>,
}

/// Outputs of `notify.webhook`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookOutput {
    /// The receiver's status.
    status: u16,
    /// The delivery's id (`X-Sluice-Delivery`), the same on every retry.
    delivery_id: String,
    /// The receiver's answer as text (its first 4 KiB).
    body: String,
}

impl Task for WebhookTask {
    const NAME: &'static str = "webhook";
    const DESCRIPTION: &'static str = "Sends JSON (`body`, default: the execution's summary) to \
        `url`, signed with `secret`: `X-Sluice-Signature-256: sha256=<hex HMAC-SHA256 of \
        \"<X-Sluice-Timestamp>.<body>\">`. 429 and 5xx answers are retried after \
        `Retry-After`, each retry signed afresh. Outputs the status and the delivery id.";
    type Config = WebhookConfig;
    type Output = WebhookOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("url")]
    }

    fn run(config: WebhookConfig) -> Result<WebhookOutput, TaskError> {
        let endpoint = Endpoint::parse(&config.url, "url", "the webhook")?;
        let retry = Retry::from_config(config.max_attempts, config.max_retry_wait);
        let method = config.method.as_deref().unwrap_or("POST").to_ascii_uppercase();
        if !matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
            return Err(TaskError::invalid_config(format!(
                "`method`: `{method}` carries no body; use POST, PUT or PATCH"
            )));
        }
        let execution = sluice_plugin::context::execution();
        let body = match &config.body {
            Some(body) => body.to_string(),
            None => {
                let execution = execution.as_ref().ok_or_else(|| message::no_default("body"))?;
                let document = sluice_plugin::context::raw()
                    .and_then(|raw| serde_json::from_str::<Value>(&raw).ok())
                    .unwrap_or(Value::Null);
                json!({"text": message::summary(execution).text(), "execution": document}).to_string()
            }
        };
        let delivery_id =
            delivery_id(execution.as_ref().map(|e| (e.execution_id.as_str(), e.task_run_id.as_str())));
        let has_content_type = config.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type"));
        let response = send::send(&endpoint, retry, receiver_text, || {
            let mut request = Request::new(&method, &endpoint.url).header(DELIVERY_HEADER, &delivery_id);
            if !has_content_type {
                request = request.header("content-type", "application/json");
            }
            for (name, value) in &config.headers {
                request = request.header(name, value);
            }
            if let Some(secret) = &config.secret {
                let timestamp = unix_seconds();
                request = request
                    .header(TIMESTAMP_HEADER, timestamp.to_string())
                    .header(SIGNATURE_HEADER, sign(secret.as_bytes(), timestamp, body.as_bytes()));
            }
            request.body(body.as_bytes().to_vec())
        })?;
        if !response.is_success() {
            return Err(send::failure(&endpoint, &response, receiver_text));
        }
        let signed = if config.secret.is_some() { "signed" } else { "unsigned" };
        sluice_plugin::info!(
            "delivered {delivery_id} ({signed}) to {}: HTTP {}",
            endpoint.origin,
            response.status
        );
        Ok(WebhookOutput {
            status: response.status,
            delivery_id,
            body: preview(&response.text(), BODY_OUTPUT_BYTES),
        })
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// 32 hex digits, unique per delivery: the execution, the task run and the time it started.
fn delivery_id(run: Option<(&str, &str)>) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let (execution, task_run) = run.unwrap_or(("", ""));
    let digest = Sha256::digest(format!("{execution}/{task_run}/{nanos}").as_bytes());
    hex::encode(&digest[..16])
}

fn receiver_text(response: &Response) -> String {
    preview(&response.text(), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_hex_and_differ() {
        let a = delivery_id(Some(("e", "t")));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert_ne!(a, delivery_id(Some(("e", "t"))));
    }
}
