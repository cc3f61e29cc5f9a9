//! Slack: an incoming webhook at [`WEBHOOK_PATH`] and the Web API's `chat.postMessage` under
//! `/api`, checked as Slack checks them and answered as Slack documents.
//!
//! - The webhook takes a JSON `POST` with `text` or `blocks` and answers `200 ok` (text);
//!   a body without either is `400 invalid_payload`, any other path `404 no_service`.
//! - `chat.postMessage` wants `Authorization: Bearer <token>`: none is `not_authed`, another
//!   token `invalid_auth`; a `channel` (else `channel_not_found`) and `text` or `blocks` (else
//!   `no_text`). Slack answers its own errors with HTTP 200 and `{"ok": false, "error"}`.

use serde_json::{Value, json};

use super::server::{Received, Reply, Server};

/// The incoming webhook's path: its last part is the credential.
pub const WEBHOOK_PATH: &str = "/services/T0001/B0001/hookSECRETpart0000000001";
/// The bot token `chat.postMessage` accepts.
pub const TOKEN: &str = "xoxb-1111-2222-tokenSECRET";
/// The channel id every post lands in, and the `ts` it gets.
pub const CHANNEL_ID: &str = "C0123456789";
pub const TS: &str = "1733500000.000100";

pub fn start() -> Server {
    Server::start(answer)
}

fn answer(request: &Received) -> Reply {
    match (request.method.as_str(), request.path()) {
        ("POST", WEBHOOK_PATH) => webhook(request),
        ("POST", "/api/chat.postMessage") => post_message(request),
        (_, path) if path.starts_with("/services/") => Reply::text(404, "no_service"),
        _ => Reply::json(404, &json!({"ok": false, "error": "unknown_method"})),
    }
}

fn has_message(body: &Value) -> bool {
    body["text"].as_str().is_some_and(|t| !t.is_empty())
        || body["blocks"].as_array().is_some_and(|b| !b.is_empty())
}

fn webhook(request: &Received) -> Reply {
    match request.json() {
        Some(body) if request.is_json() && has_message(&body) => Reply::text(200, "ok"),
        _ => Reply::text(400, "invalid_payload"),
    }
}

fn post_message(request: &Received) -> Reply {
    let refuse = |error: &str| Reply::json(200, &json!({"ok": false, "error": error}));
    match request.header("authorization") {
        None => return refuse("not_authed"),
        Some(value) if value != format!("Bearer {TOKEN}") => return refuse("invalid_auth"),
        Some(_) => {}
    }
    let Some(body) = request.json().filter(|_| request.is_json()) else { return refuse("invalid_json") };
    if body["channel"].as_str().is_none_or(|c| c.is_empty()) {
        return refuse("channel_not_found");
    }
    if !has_message(&body) {
        return refuse("no_text");
    }
    let mut message = json!({"type": "message", "text": body["text"], "ts": TS});
    if let Some(thread) = body["thread_ts"].as_str() {
        message["thread_ts"] = json!(thread);
    }
    Reply::json(200, &json!({"ok": true, "channel": CHANNEL_ID, "ts": TS, "message": message}))
}
