//! The notify plugin end to end: the real `sluice` binary runs flows whose `notify.*` tasks post
//! to recording doubles of Slack, Teams, Discord, PagerDuty and a webhook receiver on 127.0.0.1
//! (`support_notify`). Slack's exact requests, outputs and own errors, retries after 429 and
//! 5xx, signatures verified as a receiver would, the default message of an `errors` handler
//! (through `sluice server --public-url`, so with the execution's URL), a destination that is
//! not granted, and secrets that never show. What Teams, Discord and PagerDuty are sent is in
//! `notify_messages.rs`.

#![allow(clippy::unwrap_used)]

mod common;
mod support_notify;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support_notify::flows::{Env, run_of, task_lines};
use support_notify::server::Reply;
use support_notify::{discord, pagerduty, receiver, slack, teams};

#[test]
fn slack_through_a_webhook_and_chat_post_message() {
    let double = slack::start();
    let env = Env::new();
    let hook = double.url(slack::WEBHOOK_PATH);
    let yaml = format!(
        r##"
id: slack
namespace: tests
tasks:
  - id: hook
    type: notify.slack
    webhook: "{{{{ secret('SLACK_WEBHOOK') }}}}"
    text: "deployed {{{{ flow.id }}}}"
    allow:
      secrets: [SLACK_WEBHOOK]
  - id: bot
    type: notify.slack
    token: "{{{{ secret('SLACK_TOKEN') }}}}"
    apiUrl: "{api}/api"
    channel: "#deploys"
    threadTs: "1733400000.000200"
    text: "fallback"
    blocks:
      - type: section
        text: {{type: mrkdwn, text: "*shipped*"}}
    allow:
      secrets: [SLACK_TOKEN]
"##,
        api = double.origin
    );
    let envs = [("SLUICE_SECRET_SLACK_WEBHOOK", hook.as_str()), ("SLUICE_SECRET_SLACK_TOKEN", slack::TOKEN)];
    let (code, doc) = env.run_json(&yaml, &envs);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["outputs"]["hook"], json!({"ts": null, "channel": null}));
    assert_eq!(doc["outputs"]["bot"], json!({"ts": slack::TS, "channel": slack::CHANNEL_ID}));

    let received = double.received();
    assert_eq!(received.len(), 2);
    let (webhook, post) = (&received[0], &received[1]);
    assert_eq!((webhook.method.as_str(), webhook.target.as_str()), ("POST", slack::WEBHOOK_PATH));
    assert_eq!(webhook.header("content-type"), Some("application/json; charset=utf-8"));
    assert_eq!(webhook.header("authorization"), None);
    assert_eq!(webhook.json(), Some(json!({"text": "deployed slack"})));
    assert_eq!((post.method.as_str(), post.target.as_str()), ("POST", "/api/chat.postMessage"));
    assert_eq!(post.header("authorization"), Some(format!("Bearer {}", slack::TOKEN).as_str()));
    assert_eq!(
        post.json(),
        Some(json!({
            "channel": "#deploys",
            "text": "fallback",
            "thread_ts": "1733400000.000200",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*shipped*"}}],
        }))
    );
    assert!(!env.leaked("hookSECRETpart") && !env.leaked(slack::TOKEN), "a secret showed");
}

#[test]
fn slack_errors_are_slacks_own_words() {
    let double = slack::start();
    let env = Env::new();
    let yaml = |token: &str, channel: &str| {
        format!(
            "id: refused\nnamespace: tests\ntasks:\n  - id: bot\n    type: notify.slack\n    token: \"{token}\"\n    apiUrl: \"{}/api\"\n    channel: \"{channel}\"\n    text: hi\n",
            double.origin
        )
    };
    let (code, doc) = env.run_json(&yaml("xoxb-wrong", "#deploys"), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "bot")["error"],
        format!("failed: Slack ({}) refused chat.postMessage: invalid_auth", double.origin)
    );
    let (_, doc) = env.run_json(&yaml(slack::TOKEN, ""), &[]);
    assert_eq!(
        run_of(&doc, "bot")["error"],
        format!("failed: Slack ({}) refused chat.postMessage: channel_not_found", double.origin)
    );
    // An incoming webhook's errors are text: a path that is no hook is `no_service`.
    let flow = format!(
        "id: gone\nnamespace: tests\ntasks:\n  - id: hook\n    type: notify.slack\n    webhook: \"{}\"\n    text: hi\n",
        double.url("/services/T0001/B0001/revoked")
    );
    let (_, doc) = env.run_json(&flow, &[]);
    assert_eq!(
        run_of(&doc, "hook")["error"],
        format!("failed: Slack ({}) answered HTTP 404: no_service", double.origin)
    );
    assert!(!env.printed("revoked"), "the webhook's path is its credential");
}

#[test]
fn a_429_is_sent_again_after_retry_after_and_a_503_after_a_backoff() {
    let double = slack::start();
    double.answer_next([
        Reply::text(429, "rate_limited").header("Retry-After", "1"),
        Reply::text(503, "service_unavailable"),
    ]);
    let env = Env::new();
    let yaml = format!(
        "id: busy\nnamespace: tests\ntasks:\n  - id: hook\n    type: notify.slack\n    webhook: \"{}\"\n    text: hi\n",
        double.url(slack::WEBHOOK_PATH)
    );
    let started = Instant::now();
    let (code, stdout) = env.run_text(&yaml, &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(started.elapsed() >= Duration::from_secs(2), "1 s asked, then a 1 s backoff");
    let received = double.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.json() == Some(json!({"text": "hi"}))), "the same message each time");
    let origin = &double.origin;
    assert_eq!(
        task_lines(&stdout, "hook"),
        [
            format!(
                "Slack ({origin}) answered HTTP 429: rate_limited; trying again in 1 s, as its Retry-After asks (attempt 2 of 5)"
            ),
            format!(
                "Slack ({origin}) answered HTTP 503: service_unavailable; trying again in 2 s, backing off (attempt 3 of 5)"
            ),
            format!("posted to Slack through an incoming webhook ({origin})"),
        ]
    );
}

#[test]
fn a_retry_after_past_the_budget_fails_at_once_with_the_services_text() {
    let double = pagerduty::start();
    let at = SystemTime::now() + Duration::from_secs(600);
    double.answer_next([Reply::json(
        429,
        &json!({"status": "throttled", "message": "Requests are being throttled"}),
    )
    .header("Retry-After", &http_date(at))]);
    let env = Env::new();
    let yaml = format!(
        "id: throttled\nnamespace: tests\ntasks:\n  - id: page\n    type: notify.pagerduty\n    eventsUrl: \"{}/v2/enqueue\"\n    routingKey: \"{}\"\n    summary: down\n    maxRetryWait: 30\n",
        double.origin,
        pagerduty::ROUTING_KEY
    );
    let started = Instant::now();
    let (code, doc) = env.run_json(&yaml, &[]);
    assert_eq!(code, 1);
    assert!(started.elapsed() < Duration::from_secs(20), "no wait of ten minutes");
    let error = run_of(&doc, "page")["error"].as_str().unwrap().to_string();
    let prefix = format!(
        "failed: PagerDuty ({}) answered HTTP 429: Requests are being throttled; gave up after 1 attempts: the next wait of ",
        double.origin
    );
    assert!(
        error.starts_with(&prefix) && error.ends_with(" s is past what is left of maxRetryWait (30 s)"),
        "{error}"
    );
    assert_eq!(double.received().len(), 1);
}

#[test]
fn a_wait_that_would_pass_the_tasks_timeout_is_not_begun() {
    let double = slack::start();
    double.answer_next([Reply::text(429, "rate_limited").header("Retry-After", "10")]);
    let env = Env::new();
    let yaml = format!(
        "id: hurried\nnamespace: tests\ntasks:\n  - id: hook\n    type: notify.slack\n    webhook: \"{}\"\n    text: hi\n    timeout: 8s\n",
        double.url(slack::WEBHOOK_PATH)
    );
    let started = Instant::now();
    let (code, doc) = env.run_json(&yaml, &[]);
    assert_eq!(code, 1);
    assert!(started.elapsed() < Duration::from_secs(8), "it gave up instead of being stopped");
    assert_eq!(
        run_of(&doc, "hook")["error"],
        format!(
            "failed: Slack ({}) answered HTTP 429: rate_limited; gave up after 1 attempts: the next wait of 10 s would pass the task's timeout",
            double.origin
        )
    );
}

/// An IMF-fixdate, as `Retry-After` carries it.
fn http_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs();
    chrono::DateTime::from_timestamp(secs as i64, 0).unwrap().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[test]
fn a_signed_webhook_is_verified_as_a_receiver_would() {
    let double = receiver::start();
    let env = Env::new();
    let yaml = |secret: &str| {
        format!(
            r#"
id: signed
namespace: tests
tasks:
  - id: send
    type: notify.webhook
    url: "{}/hooks/deploys"
    secret: "{secret}"
    headers: {{X-Team: web}}
    body: {{event: deployed, version: "1.4.0", checks: [unit, e2e]}}
    allow:
      secrets: [HOOK_SECRET]
"#,
            double.origin
        )
    };
    let from_secret = yaml("{{ secret('HOOK_SECRET') }}");
    let envs = [("SLUICE_SECRET_HOOK_SECRET", receiver::SECRET)];
    let (code, doc) = env.run_json(&from_secret, &envs);
    assert_eq!(code, 0, "{doc:#}");
    let outputs = &doc["outputs"]["send"];
    assert_eq!((outputs["status"].clone(), outputs["body"].clone()), (json!(200), json!("received")));
    let request = &double.received()[0];
    assert_eq!((request.method.as_str(), request.target.as_str()), ("POST", "/hooks/deploys"));
    assert_eq!(request.header("x-team"), Some("web"));
    assert_eq!(request.header("x-sluice-delivery"), outputs["deliveryId"].as_str());
    assert_eq!(
        request.json(),
        Some(json!({"event": "deployed", "version": "1.4.0", "checks": ["unit", "e2e"]}))
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(receiver::verify(request, receiver::SECRET.as_bytes(), now), Ok(()));
    let mut tampered = request.clone();
    tampered.body = br#"{"event":"deployed","version":"6.6.6","checks":["unit","e2e"]}"#.to_vec();
    assert_eq!(receiver::verify(&tampered, receiver::SECRET.as_bytes(), now), Err("signature mismatch"));
    let later = now + receiver::TOLERANCE_SECS + 1;
    assert_eq!(
        receiver::verify(request, receiver::SECRET.as_bytes(), later),
        Err("timestamp outside the tolerance: a replay?")
    );

    // The log says a signed delivery went out, and no more.
    let (code, stdout) = env.run_text(&from_secret, &envs);
    assert_eq!(code, 0, "{stdout}");
    let delivery = double.received()[1].header("x-sluice-delivery").unwrap().to_string();
    assert_eq!(
        task_lines(&stdout, "send"),
        [format!("delivered {delivery} (signed) to {}: HTTP 200", double.origin)]
    );

    // A secret written in the flow (so the host cannot redact it) is refused by the receiver,
    // and the plugin prints it nowhere either.
    let wrong = "not-the-secret-0042";
    let (code, doc) = env.run_json(&yaml(wrong), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "send")["error"],
        format!("failed: the webhook ({}) answered HTTP 401: signature mismatch", double.origin)
    );
    assert_eq!(receiver::verify(&double.received()[2], wrong.as_bytes(), now), Ok(()));
    // The signing secret is in no log line, output or error, nor in the store.
    assert!(!env.leaked(receiver::SECRET), "the signing secret showed");
    assert!(!env.printed(wrong), "the signing secret written in the flow showed");
}

#[test]
fn a_destination_that_is_not_granted_is_denied_before_any_byte() {
    let env = Env::new();
    // No `eventsUrl`: PagerDuty's own origin, which this flow does not grant.
    let yaml = format!(
        "id: denied\nnamespace: tests\ntasks:\n  - id: page\n    type: notify.pagerduty\n    routingKey: \"{}\"\n    summary: x\n",
        pagerduty::ROUTING_KEY
    );
    let (code, doc) = env.run_json(&yaml, &[]);
    assert_eq!(code, 1);
    let run = run_of(&doc, "page");
    assert_eq!(
        run["error"],
        "denied: outbound HTTP to https://events.pagerduty.com was refused by the host: grant it in the task's `allow.network`"
    );
    assert_eq!(run["attemptHistory"].as_array().unwrap().len(), 1, "a denial is not retried");
}

/// The `errors` handler of a failed execution under `sluice server --public-url`: every
/// notifier's default message names the flow, the failed task with its error, and the link.
#[tokio::test(flavor = "multi_thread")]
async fn the_default_messages_of_an_errors_handler_name_the_failed_task() {
    let (slack_double, teams_double, discord_double) = (slack::start(), teams::start(), discord::start());
    let (pd_double, hook_double) = (pagerduty::start(), receiver::start());
    let data = tempfile::tempdir().unwrap();
    let hook = slack_double.url(slack::WEBHOOK_PATH);
    let server = common::server::Server::start_with(
        data.path(),
        &["--public-url", "https://sluice.example.com/"],
        &[("SLUICE_SECRET_SLACK_WEBHOOK", hook.as_str())],
    );
    let yaml = format!(
        r#"
id: deploy
namespace: tests
tasks:
  - id: build
    type: flow.fail
    message: "compiler exited 2"
errors:
  - id: slack
    type: notify.slack
    webhook: "{{{{ secret('SLACK_WEBHOOK') }}}}"
    allow: {{secrets: [SLACK_WEBHOOK]}}
  - id: teams
    type: notify.teams
    webhook: "{teams}?{query}"
  - id: discord
    type: notify.discord
    webhook: "{discord}"
  - id: page
    type: notify.pagerduty
    eventsUrl: "{pd}/v2/enqueue"
    routingKey: "{key}"
  - id: hook
    type: notify.webhook
    url: "{receiver}/hooks"
    secret: "{secret}"
"#,
        teams = teams_double.url(teams::WEBHOOK_PATH),
        query = teams::WEBHOOK_QUERY,
        discord = discord_double.url(discord::WEBHOOK_PATH),
        pd = pd_double.origin,
        key = pagerduty::ROUTING_KEY,
        receiver = hook_double.origin,
        secret = receiver::SECRET,
    );
    let (status, _) = server.post("/api/v1/flows", &yaml).await;
    assert!(status == 200 || status == 201, "{status}");
    let (status, doc) = server.post("/api/v1/executions/tests/deploy?wait=true", "{}").await;
    assert_eq!(status, 200, "{doc:#}");
    assert_eq!(doc["state"], "FAILED", "{doc:#}");
    for handler in ["slack", "teams", "discord", "page", "hook"] {
        assert_eq!(run_of(&doc, handler)["state"], "SUCCESS", "{handler}: {doc:#}");
    }
    let id = doc["executionId"].as_str().unwrap();
    let error = run_of(&doc, "build")["error"].as_str().unwrap().to_string();
    let url = format!("https://sluice.example.com/executions/{id}");

    // Slack: mrkdwn, the duration being whatever it was.
    let text = slack_double.received()[0].json().unwrap()["text"].as_str().unwrap().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "*❌ tests.deploy FAILED*");
    assert!(lines[1].starts_with("Ran ") && lines[1].ends_with(&format!(" (execution {id})")), "{text}");
    assert_eq!(
        lines[2..],
        [format!("• Failed: `build (flow.fail)`: {error}"), format!("<{url}|Open the execution>")]
    );

    let card = teams_double.received()[0].json().unwrap();
    let content = &card["attachments"][0]["content"];
    assert_eq!(content["body"][0]["text"], "❌ tests.deploy FAILED");
    assert!(
        content["body"][1]["text"]
            .as_str()
            .unwrap()
            .ends_with(&format!("**Failed:** build (flow.fail): {error}"))
    );
    let facts = &content["body"][2]["facts"];
    assert_eq!(facts[0], json!({"title": "Flow", "value": "deploy"}));
    assert_eq!(facts[5], json!({"title": "Failed task", "value": "build (flow.fail)"}));
    assert_eq!(content["actions"][0]["url"], url);

    let content = discord_double.received()[0].json().unwrap()["content"].as_str().unwrap().to_string();
    assert!(content.starts_with("**❌ tests.deploy FAILED**\nRan "), "{content}");
    assert!(
        content.ends_with(&format!("- Failed: `build (flow.fail)`: {error}\n[Open the execution]({url})"))
    );

    let event = pd_double.received()[0].json().unwrap();
    assert_eq!(event["dedup_key"], "sluice/tests/deploy");
    assert_eq!(
        event["payload"]["summary"],
        format!("❌ tests.deploy FAILED: build (flow.fail) failed: {error}")
    );
    assert_eq!(event["payload"]["source"], "sluice/tests/deploy");
    assert_eq!(event["payload"]["severity"], "error");
    assert_eq!(event["payload"]["custom_details"]["failedTasks"][0]["error"], json!(error));
    assert_eq!(event["links"], json!([{"href": url, "text": "The sluice execution"}]));
    assert_eq!(event["client_url"], json!(url));

    let delivery = &hook_double.received()[0];
    let body = delivery.json().unwrap();
    assert!(body["text"].as_str().unwrap().ends_with(&format!("Failed: build (flow.fail): {error}\n{url}")));
    assert_eq!(body["execution"]["executionId"], id);
    assert_eq!(body["execution"]["failedTasks"][0]["taskRunId"], "build");
    assert_eq!(body["execution"]["url"], json!(url));
    assert_eq!(body["execution"]["taskRunId"], "hook");
    let value: Value = body["execution"]["outcome"].clone();
    assert_eq!(value, "FAILED");
    server.terminate();
}
