//! `notify.pagerduty`: an event to PagerDuty's Events API v2 (trigger, acknowledge, resolve),
//! keyed by a dedup key so a flow's failure handler can open an incident and its next success
//! resolve the same one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::context::Execution;
use sluice_plugin::http::{Request, Response};
use sluice_plugin::{Capability, Task, TaskError};

use crate::endpoint::{Endpoint, preview};
use crate::message::{self, truncate};
use crate::send::{self, Retry};

/// Where events go unless `eventsUrl` says otherwise.
pub const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// The most characters PagerDuty keeps of a summary.
const SUMMARY_CHARS: usize = 1024;

pub struct PagerDutyTask;

/// What the event does to the incident of its dedup key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Open an incident (or add to the open one with the same dedup key).
    #[default]
    Trigger,
    /// Acknowledge the incident of the dedup key.
    Acknowledge,
    /// Resolve the incident of the dedup key.
    Resolve,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
        }
    }
}

/// How bad it is (PagerDuty's four levels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    #[default]
    Error,
    Warning,
    Info,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A link shown on the incident.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The URL.
    href: String,
    /// What it is.
    #[serde(default)]
    text: Option<String>,
}

/// Config of `notify.pagerduty`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration's routing key (32 characters, from an Events API v2 integration of a
    /// service). Give it as a secret.
    routing_key: String,
    /// `trigger` (default), `acknowledge` or `resolve`.
    #[serde(default)]
    action: Action,
    /// The incident's key: events with the same key act on the same incident. Default:
    /// `sluice/<namespace>/<flowId>`, so a flow's `errors` handler that triggers and a later
    /// success that resolves meet.
    #[serde(default)]
    dedup_key: Option<String>,
    /// The incident's summary (at most 1,024 characters). Default: from the execution (the
    /// flow, its state, the failed task and its error).
    #[serde(default)]
    summary: Option<String>,
    /// What is affected (a host, a service). Default: `sluice/<namespace>/<flowId>`.
    #[serde(default)]
    source: Option<String>,
    /// `critical`, `error` (default), `warning` or `info`.
    #[serde(default)]
    severity: Severity,
    /// The part of the source that is affected.
    #[serde(default)]
    component: Option<String>,
    /// A logical grouping of sources (`prod-checkout`).
    #[serde(default)]
    group: Option<String>,
    /// The class of the event (`deploy`).
    #[serde(default)]
    class: Option<String>,
    /// Any JSON shown with the incident. Default: the execution (flow, state, duration, failed
    /// tasks, URL).
    #[serde(default)]
    custom_details: Option<Value>,
    /// Links on the incident. Default: the execution's URL, when the server knows its public URL.
    #[serde(default)]
    links: Option<Vec<Link>>,
    /// The Events API's URL: `https://events.pagerduty.com/v2/enqueue` when absent (then grant
    /// `https://events.pagerduty.com` in `allow.network`). Its origin is granted when set.
    #[serde(default)]
    events_url: Option<String>,
    /// Sends in all when PagerDuty answers 429 or 5xx (default 5).
    #[serde(default)]
    max_attempts: Option<u32>,
    /// The most seconds to wait between sends in total (default 60).
    #[serde(default)]
    max_retry_wait: Option<u64>,
}

/// Outputs of `notify.pagerduty`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PagerDutyOutput {
    /// The incident's dedup key, as PagerDuty answered it.
    dedup_key: String,
    /// PagerDuty's status (`success`).
    status: String,
    /// PagerDuty's message (`Event processed`).
    message: String,
}

impl Task for PagerDutyTask {
    const NAME: &'static str = "pagerduty";
    const DESCRIPTION: &'static str = "Sends an Events API v2 event to PagerDuty: `trigger` \
        (with `summary`, `source`, `severity`, `customDetails`, all defaulting to the \
        execution's), `acknowledge` or `resolve`, keyed by `dedupKey` (default \
        `sluice/<namespace>/<flowId>`). 429 and 5xx answers are retried after `Retry-After`. \
        Outputs the dedup key.";
    type Config = PagerDutyConfig;
    type Output = PagerDutyOutput;

    fn capabilities() -> Vec<Capability> {
        vec![
            Capability::network_from_config("eventsUrl"),
            Capability::network("https://events.pagerduty.com"),
        ]
    }

    fn run(config: PagerDutyConfig) -> Result<PagerDutyOutput, TaskError> {
        let url = config.events_url.as_deref().unwrap_or(DEFAULT_EVENTS_URL);
        let endpoint = Endpoint::parse(url, "eventsUrl", "PagerDuty")?;
        let retry = Retry::from_config(config.max_attempts, config.max_retry_wait);
        let event = event(&config)?;
        let response = send::send(&endpoint, retry, pagerduty_error, || {
            Request::new("POST", &endpoint.url)
                .header("content-type", "application/json")
                .body(event.to_string())
        })?;
        if !response.is_success() {
            return Err(send::failure(&endpoint, &response, pagerduty_error));
        }
        #[derive(Deserialize)]
        struct Accepted {
            status: Option<String>,
            message: Option<String>,
            dedup_key: Option<String>,
        }
        let accepted: Accepted = serde_json::from_slice(&response.body).map_err(|_| {
            TaskError::failed(format!(
                "PagerDuty ({}) answered HTTP {} with something that is not its JSON: {}",
                endpoint.origin,
                response.status,
                preview(&response.text(), 200)
            ))
        })?;
        let dedup_key = accepted
            .dedup_key
            .or_else(|| event["dedup_key"].as_str().map(str::to_string))
            .unwrap_or_default();
        sluice_plugin::info!("PagerDuty ({}): {} {dedup_key}", endpoint.origin, config.action.as_str());
        Ok(PagerDutyOutput {
            dedup_key,
            status: accepted.status.unwrap_or_default(),
            message: accepted.message.unwrap_or_default(),
        })
    }
}

/// The event's JSON, the defaults taken from the execution.
fn event(config: &PagerDutyConfig) -> Result<Value, TaskError> {
    let execution = sluice_plugin::context::execution();
    let flow_key = execution.as_ref().map(|e| format!("sluice/{}/{}", e.namespace, e.flow_id));
    let dedup_key = config.dedup_key.clone().or_else(|| flow_key.clone()).ok_or_else(|| {
        TaskError::invalid_config(
            "set `dedupKey`: this run is not part of an execution, so there is no default",
        )
    })?;
    let mut event = json!({
        "routing_key": config.routing_key,
        "event_action": config.action.as_str(),
        "dedup_key": dedup_key,
    });
    if config.action != Action::Trigger {
        return Ok(event);
    }
    let summary = match (&config.summary, &execution) {
        (Some(summary), _) => summary.clone(),
        (None, Some(execution)) => message::summary(execution).headline(),
        (None, None) => return Err(message::no_default("summary")),
    };
    let source = config.source.clone().or(flow_key).unwrap_or_else(|| "sluice".to_string());
    let mut payload = json!({
        "summary": truncate(&summary, SUMMARY_CHARS),
        "source": source,
        "severity": config.severity.as_str(),
    });
    for (name, value) in
        [("component", &config.component), ("group", &config.group), ("class", &config.class)]
    {
        if let Some(value) = value {
            payload[name] = json!(value);
        }
    }
    match (&config.custom_details, &execution) {
        (Some(details), _) => payload["custom_details"] = details.clone(),
        (None, Some(execution)) => payload["custom_details"] = details(execution),
        (None, None) => {}
    }
    event["payload"] = payload;
    let url = execution.as_ref().and_then(|e| e.url.clone());
    let links = match (&config.links, &url) {
        (Some(links), _) => serde_json::to_value(links).unwrap_or(Value::Null),
        (None, Some(url)) => json!([{"href": url, "text": "The sluice execution"}]),
        (None, None) => Value::Null,
    };
    if !links.is_null() {
        event["links"] = links;
    }
    event["client"] = json!("sluice");
    if let Some(url) = url {
        event["client_url"] = json!(url);
    }
    Ok(event)
}

/// The incident's details from the execution.
fn details(execution: &Execution) -> Value {
    let failed: Vec<Value> = execution
        .failed_tasks
        .iter()
        .map(
            |f| json!({"task": f.task_run_id, "type": f.task_type, "attempts": f.attempts, "error": f.error}),
        )
        .collect();
    json!({
        "flow": format!("{}.{}", execution.namespace, execution.flow_id),
        "execution": execution.execution_id,
        "revision": execution.revision,
        "state": execution.outcome,
        "duration": execution.duration_text(),
        "error": execution.error,
        "failedTasks": failed,
        "url": execution.url,
    })
}

/// PagerDuty's `message` and its list of `errors`.
fn pagerduty_error(response: &Response) -> String {
    #[derive(Deserialize)]
    struct Refused {
        message: Option<String>,
        #[serde(default)]
        errors: Vec<String>,
    }
    match serde_json::from_slice::<Refused>(&response.body) {
        Ok(Refused { message: Some(message), errors }) if !errors.is_empty() => {
            format!("{message}: {}", errors.join("; "))
        }
        Ok(Refused { message: Some(message), .. }) => message,
        _ => preview(&response.text(), 300),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_list_what_pagerduty_refused() {
        let response = Response {
            status: 400,
            headers: Vec::new(),
            body: br#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#.to_vec(),
            url: String::new(),
        };
        assert_eq!(
            pagerduty_error(&response),
            "Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)"
        );
    }

    #[test]
    fn a_resolve_is_key_and_action_only() {
        let config: PagerDutyConfig = serde_json::from_value(json!({
            "routingKey": "R0UTINGKEY0000000000000000000000", "action": "resolve", "dedupKey": "k1"
        }))
        .unwrap();
        assert_eq!(
            event(&config).unwrap(),
            json!({"routing_key": "R0UTINGKEY0000000000000000000000", "event_action": "resolve", "dedup_key": "k1"})
        );
    }
}
