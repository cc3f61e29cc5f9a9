//! Discord: a webhook at [`WEBHOOK_PATH`] (`/api/webhooks/<id>/<token>`). A JSON `POST` with
//! `content` (at most 2,000 characters) or `embeds`; with `?wait=true` the answer is `200` and
//! the created message, without it `204`. A wrong token is `401` `Invalid Webhook Token`
//! (code 50027), another webhook id `404` `Unknown Webhook` (10015), an empty message `400`
//! `Cannot send an empty message` (50006), a long one `400` with the field's error (50035).

use serde_json::json;

use super::server::{Received, Reply, Server};

pub const WEBHOOK_ID: &str = "1180000000000000000";
pub const WEBHOOK_TOKEN: &str = "discordSECRETtoken0000000001";
pub const WEBHOOK_PATH: &str = "/api/webhooks/1180000000000000000/discordSECRETtoken0000000001";
/// The id of the message a post creates, and its channel.
pub const MESSAGE_ID: &str = "1190000000000000042";
pub const CHANNEL_ID: &str = "1170000000000000007";

pub fn start() -> Server {
    Server::start(answer)
}

fn answer(request: &Received) -> Reply {
    let Some(rest) = request.path().strip_prefix("/api/webhooks/") else {
        return Reply::json(404, &json!({"message": "404: Not Found", "code": 0}));
    };
    let (id, token) = rest.split_once('/').unwrap_or((rest, ""));
    if id != WEBHOOK_ID {
        return Reply::json(404, &json!({"message": "Unknown Webhook", "code": 10015}));
    }
    if token != WEBHOOK_TOKEN {
        return Reply::json(401, &json!({"message": "Invalid Webhook Token", "code": 50027}));
    }
    if request.method != "POST" {
        return Reply::json(405, &json!({"message": "405: Method Not Allowed", "code": 0}));
    }
    let Some(body) = request.json().filter(|_| request.is_json()) else {
        return Reply::json(400, &json!({"message": "Cannot send an empty message", "code": 50006}));
    };
    let content = body["content"].as_str().unwrap_or("");
    let embeds = body["embeds"].as_array().map_or(0, Vec::len);
    if content.is_empty() && embeds == 0 {
        return Reply::json(400, &json!({"message": "Cannot send an empty message", "code": 50006}));
    }
    if content.chars().count() > 2000 {
        return Reply::json(
            400,
            &json!({"message": "Invalid Form Body", "code": 50035, "errors": {"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}),
        );
    }
    if !request.query().split('&').any(|p| p == "wait=true") {
        return Reply::new(204);
    }
    Reply::json(
        200,
        &json!({"id": MESSAGE_ID, "type": 0, "content": content, "channel_id": CHANNEL_ID,
                "webhook_id": WEBHOOK_ID, "embeds": body["embeds"].as_array().cloned().unwrap_or_default()}),
    )
}
