//! GitHub's side of a push: the `push` event's JSON (the fields a receiver reads, in GitHub's
//! shape) and the headers GitHub's webhook deliveries carry, signed with the hook's secret as
//! GitHub signs them (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body, hex>`).

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The event GitHub sends for a push of `after` (over `before`) to `main` of `clone_url`.
pub fn push_event(clone_url: &str, before: &str, after: &str, message: &str) -> Value {
    let author = json!({"name": "Dana Developer", "email": "dana@shop.example", "username": "dana"});
    let commit = json!({
        "id": after,
        "tree_id": "0000000000000000000000000000000000000000",
        "distinct": true,
        "message": message,
        "timestamp": "2026-12-07T09:00:00+01:00",
        "url": format!("https://github.example/acme/shop/commit/{after}"),
        "author": author,
        "committer": author,
        "added": [],
        "removed": [],
        "modified": ["app.py"],
    });
    json!({
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": {
            "id": 424242,
            "node_id": "R_kgDOshop",
            "name": "shop",
            "full_name": "acme/shop",
            "private": true,
            "owner": {"name": "acme", "login": "acme", "id": 1, "type": "Organization"},
            "html_url": "https://github.example/acme/shop",
            "clone_url": clone_url,
            "default_branch": "main",
            "master_branch": "main",
        },
        "pusher": {"name": "dana", "email": "dana@shop.example"},
        "sender": {"login": "dana", "id": 7, "type": "User"},
        "created": false,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": format!("https://github.example/acme/shop/compare/{}...{}", &before[..12], &after[..12]),
        "commits": [commit],
        "head_commit": commit,
    })
}

/// The headers of a delivery of `body`, with its signature.
pub fn delivery_headers(secret: &str, body: &[u8], delivery: &str) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    vec![
        ("User-Agent", "GitHub-Hookshot/5a1b2c3".to_string()),
        ("Content-Type", "application/json".to_string()),
        ("X-GitHub-Event", "push".to_string()),
        ("X-GitHub-Delivery", delivery.to_string()),
        ("X-GitHub-Hook-ID", "123456789".to_string()),
        ("X-Hub-Signature-256", format!("sha256={}", hex::encode(mac.finalize().into_bytes()))),
    ]
}
