//! Microsoft Teams: a Workflows webhook ("When a Teams webhook request is received") at
//! [`WEBHOOK_PATH`], which takes a `message` with one Adaptive Card attachment and answers
//! `202 Accepted` with no body. A body that does not have that shape is the Workflow's `400`
//! with `{"error": {"code": "TriggerInputSchemaMismatch", "message"}}`; another path (a
//! wrong signature `sig=`) is its `401` with `{"error": {"code": "DirectApiAuthorizationRequired"}}`.

use serde_json::{Value, json};

use super::server::{Received, Reply, Server};

/// The webhook's path and query; `sig=` is the credential.
pub const WEBHOOK_PATH: &str = "/workflows/7f3a/triggers/manual/paths/invoke";
pub const WEBHOOK_QUERY: &str = "api-version=1&sig=teamsSECRETsig0000000001";

pub fn start() -> Server {
    Server::start(answer)
}

fn answer(request: &Received) -> Reply {
    if request.method != "POST" || request.path() != WEBHOOK_PATH || request.query() != WEBHOOK_QUERY {
        return Reply::json(
            401,
            &json!({"error": {"code": "DirectApiAuthorizationRequired", "message": "The request must be authenticated"}}),
        );
    }
    match request.json().filter(|_| request.is_json()) {
        Some(body) if is_card_message(&body) => Reply::new(202),
        _ => Reply::json(
            400,
            &json!({"error": {"code": "TriggerInputSchemaMismatch", "message": "The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}),
        ),
    }
}

fn is_card_message(body: &Value) -> bool {
    let attachment = &body["attachments"][0];
    body["type"] == "message"
        && attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        && attachment["content"]["type"] == "AdaptiveCard"
        && attachment["content"]["body"].is_array()
}
