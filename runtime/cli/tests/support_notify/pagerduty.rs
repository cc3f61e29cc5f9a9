//! PagerDuty's Events API v2 at `/v2/enqueue`: a JSON `POST` of an event. `routing_key` must
//! be 32 characters, `event_action` one of trigger, acknowledge, resolve; a trigger needs
//! `payload.summary`, `payload.source` and a `payload.severity` of critical, error, warning or
//! info; acknowledge and resolve need `dedup_key`. Accepted events are `202` with
//! `{"status": "success", "message": "Event processed", "dedup_key"}` (a trigger without a key
//! gets one); refused ones `400` with `{"status": "invalid event", "message": "Event object is
//! invalid", "errors": [...]}`.

use serde_json::{Value, json};

use super::server::{Received, Reply, Server};

/// A routing key of the right length, and the key PagerDuty makes up for a trigger without one.
pub const ROUTING_KEY: &str = "R0UTINGKEYpagerdutySECRET0000001";
pub const GENERATED_KEY: &str = "d5f0a7e0c5b34a1e9f4b0d3c2a1b0c9d";

pub fn start() -> Server {
    Server::start(answer)
}

/// [`start`] on 127.0.0.1:`port`.
pub fn start_on(port: u16) -> Server {
    Server::start_on(port, answer)
}

fn answer(request: &Received) -> Reply {
    if request.path() != "/v2/enqueue" {
        return Reply::json(404, &json!({"status": "not found", "message": "Not found"}));
    }
    if request.method != "POST" {
        return Reply::json(405, &json!({"status": "method not allowed", "message": "Method not allowed"}));
    }
    let Some(event) = request.json().filter(|_| request.is_json()) else {
        return invalid(vec!["Event object is not valid JSON".into()]);
    };
    let errors = problems(&event);
    if !errors.is_empty() {
        return invalid(errors);
    }
    let key = event["dedup_key"].as_str().unwrap_or(GENERATED_KEY);
    Reply::json(202, &json!({"status": "success", "message": "Event processed", "dedup_key": key}))
}

fn invalid(errors: Vec<String>) -> Reply {
    Reply::json(
        400,
        &json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

fn problems(event: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    match event["routing_key"].as_str() {
        None => errors.push("'routing_key' is missing or blank".to_string()),
        Some(key) if key.len() != 32 => {
            errors.push("Length of 'routing_key' is incorrect (should be 32 characters)".to_string())
        }
        Some(_) => {}
    }
    let action = event["event_action"].as_str().unwrap_or("");
    match action {
        "trigger" => {
            let payload = &event["payload"];
            for field in ["summary", "source"] {
                if payload[field].as_str().is_none_or(|v| v.is_empty()) {
                    errors.push(format!("'payload.{field}' is missing or blank"));
                }
            }
            if !matches!(payload["severity"].as_str(), Some("critical" | "error" | "warning" | "info")) {
                errors.push("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')".to_string());
            }
        }
        "acknowledge" | "resolve" => {
            if event["dedup_key"].as_str().is_none_or(|k| k.is_empty()) {
                errors.push("'dedup_key' is missing or blank".to_string());
            }
        }
        _ => errors.push(
            "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')"
                .to_string(),
        ),
    }
    errors
}
