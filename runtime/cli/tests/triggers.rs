//! Triggers against the real `sluice server`, webhooks: GitHub and GitLab signatures, the
//! request as `trigger.*`, refusals, and flow concurrency over webhook-started executions.
//! Flow triggers and schedules are in `triggers_scheduled.rs`.

#![allow(clippy::unwrap_used)]

mod common;
mod support_triggers;

use common::server::Server;
use serde_json::{Value, json};
use sluice_server::triggers::github_signature;
use support_triggers::{assert_problem, deploy, executions, triggers_of};

const GH_SECRET: &str = "gh-s3cret";
const GL_TOKEN: &str = "gl-t0ken";

fn secrets() -> [(&'static str, &'static str); 3] {
    [
        ("SLUICE_SECRET_GH_HOOK", GH_SECRET),
        ("SLUICE_SECRET_GL_HOOK", GL_TOKEN),
        ("SLUICE_SECRET_HOOK_KEY", "k3y-from-secret"),
    ]
}

const HOOKS: &str = r#"
id: hooks
namespace: t
inputs:
  - id: ref
    type: string
triggers:
  - id: gh
    type: webhook
    key: gh-key_1
    signature:
      type: github
      secret: GH_HOOK
    inputs:
      ref: "{{ trigger.body.ref }}"
  - id: gl
    type: webhook
    key: gl-key
    signature:
      type: gitlab
      secret: GL_HOOK
    inputs:
      ref: "{{ trigger.query.ref }}"
  - id: open
    type: webhook
    key: open
    inputs:
      ref: "{{ trigger.headers['x-ref'] }}"
  - id: templated
    type: webhook
    key: "{{ secret('HOOK_KEY') }}"
    inputs:
      ref: templated
  - id: off
    type: webhook
    key: off
    disabled: true
    inputs:
      ref: never
  - id: unset
    type: webhook
    key: unset
    signature:
      type: github
      secret: NOT_CONFIGURED
    inputs:
      ref: never
tasks:
  - id: log
    type: core.log
    message: "ref {{ inputs.ref }}"
outputs:
  ref: "{{ inputs.ref }}"
  type: "{{ trigger.type }}"
  triggerId: "{{ trigger.id }}"
  body: "{{ trigger.body }}"
  query: "{{ trigger.query }}"
  custom: "{{ trigger.headers['x-custom'] | default('none') }}"
  token: "{{ trigger.headers['x-gitlab-token'] | default('none') }}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn github_webhook_signatures_are_checked_and_the_request_reaches_templates() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[], &secrets());
    deploy(&server, HOOKS).await;
    let url = server.url("/api/v1/webhooks/t/hooks/gh-key_1");
    let body = r#"{"ref":"refs/heads/main","commits":[{"id":"abc"}]}"#;

    // Valid: runs, and the flow sees the body, the query and the headers.
    let response = server
        .http
        .post(format!("{url}?wait=true&tag=a&tag=b"))
        .header("X-Hub-Signature-256", github_signature(GH_SECRET, body.as_bytes()))
        .header("X-Custom", "yes")
        .header("Content-Type", "application/json")
        .body(body);
    let (status, doc) = server.send(response).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["state"], "SUCCESS");
    assert_eq!(
        doc["flowOutputs"],
        json!({
            "ref": "refs/heads/main",
            "type": "webhook",
            "triggerId": "gh",
            "body": {"ref": "refs/heads/main", "commits": [{"id": "abc"}]},
            "query": {"wait": "true", "tag": ["a", "b"]},
            "custom": "yes",
            "token": "none",
        })
    );

    // Invalid: signed with another secret, or the body changed after signing.
    for (signature, sent) in [
        (github_signature("not-the-secret", body.as_bytes()), body.to_owned()),
        (github_signature(GH_SECRET, body.as_bytes()), body.replace("main", "evil")),
    ] {
        let (status, doc) =
            server.send(server.http.post(&url).header("X-Hub-Signature-256", signature).body(sent)).await;
        assert_problem(status, &doc, 401, "`X-Hub-Signature-256` header does not match");
        assert_eq!(doc["type"], "https://sluice.dev/problems/unauthorized");
    }
    let (status, doc) =
        server.send(server.http.post(&url).header("X-Hub-Signature-256", "sha256=nothex").body(body)).await;
    assert_problem(status, &doc, 401, "`X-Hub-Signature-256` header is malformed");
    // Missing; a GitLab token does not stand in for it.
    let (status, doc) =
        server.send(server.http.post(&url).header("X-Gitlab-Token", GH_SECRET).body(body)).await;
    assert_problem(status, &doc, 401, "the `X-Hub-Signature-256` header is missing");

    // Only the valid request started an execution.
    let all = executions(&server, "t", "hooks").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["executionId"], doc_id(&server, &all[0]).await);
    assert_eq!(all[0]["inputs"], json!({"ref": "refs/heads/main"}));
}

async fn doc_id(server: &Server, summary: &Value) -> Value {
    let (_, doc) =
        server.get(&format!("/api/v1/executions/{}", summary["executionId"].as_str().unwrap())).await;
    doc["executionId"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_webhook_tokens_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[], &secrets());
    deploy(&server, HOOKS).await;
    let url = server.url("/api/v1/webhooks/t/hooks/gl-key?ref=v1.2.3");

    // Valid: answered at once (202) with the execution id; `trigger.body` is text when not JSON.
    let (status, doc) = server
        .send(server.http.post(&url).header("X-Gitlab-Token", GL_TOKEN).body("plain text, not JSON"))
        .await;
    assert_eq!(status, 202, "{doc}");
    assert_eq!(doc["trigger"], "gl");
    let id = doc["executionId"].as_str().unwrap().to_owned();
    let done = server.wait_for_state(&id, "SUCCESS").await;
    assert_eq!(done["flowOutputs"]["ref"], "v1.2.3");
    assert_eq!(done["flowOutputs"]["body"], "plain text, not JSON");
    assert_eq!(done["flowOutputs"]["query"], json!({"ref": "v1.2.3"}));
    assert_eq!(done["flowOutputs"]["custom"], "none");
    // The token is the secret: redacted in the stored trigger document templates read.
    assert_eq!(done["flowOutputs"]["token"], "******");

    let (status, doc) =
        server.send(server.http.post(&url).header("X-Gitlab-Token", "gl-t0ke").body("x")).await;
    assert_problem(status, &doc, 401, "`X-Gitlab-Token` header does not match");
    let (status, doc) = server.send(server.http.post(&url).header("X-Gitlab-Token", "").body("x")).await;
    assert_problem(status, &doc, 401, "`X-Gitlab-Token` header does not match");
    let (status, doc) = server.send(server.http.post(&url).body("x")).await;
    assert_problem(status, &doc, 401, "the `X-Gitlab-Token` header is missing");
    assert_eq!(executions(&server, "t", "hooks").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_answer_get_and_refuse_unknown_disabled_and_unconfigured_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[], &secrets());
    deploy(&server, HOOKS).await;

    // GET works too; an unsigned webhook needs no header; the body is null without one.
    let (status, doc) = server
        .send(
            server
                .http
                .get(server.url("/api/v1/webhooks/t/hooks/open?wait=true"))
                .header("X-Ref", "from-header"),
        )
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["flowOutputs"]["ref"], "from-header");
    assert_eq!(doc["flowOutputs"]["body"], Value::Null);
    assert_eq!(doc["flowOutputs"]["triggerId"], "open");

    // Unknown key and unknown flow get the same answer.
    let (status, unknown_key) = server.post("/api/v1/webhooks/t/hooks/nope", "{}").await;
    assert_problem(status, &unknown_key, 404, "no webhook at /api/v1/webhooks/t/hooks/");
    let (status, unknown_flow) = server.post("/api/v1/webhooks/t/nothing/open", "{}").await;
    assert_problem(status, &unknown_flow, 404, "no webhook at /api/v1/webhooks/t/nothing/");
    assert!(!unknown_key["detail"].as_str().unwrap().contains("nope"));

    let (status, doc) = server.post("/api/v1/webhooks/t/hooks/off", "{}").await;
    assert_problem(status, &doc, 409, "the webhook trigger `off` of flow t.hooks is disabled");

    // The signing secret is not set on the server: the operator's configuration, named; a 4xx,
    // as nothing failed on the server and no retry helps until the operator acts.
    let (status, doc) = server.post("/api/v1/webhooks/t/hooks/unset", "{}").await;
    assert_eq!(
        (status, doc),
        (
            403,
            json!({
                "type": "https://sluice.dev/problems/forbidden", "title": "Forbidden", "status": 403,
                "detail": "the webhook cannot take requests: its signing secret `NOT_CONFIGURED` is not configured on the server (the operator sets SLUICE_SECRET_NOT_CONFIGURED)",
            })
        )
    );

    // Inputs that the request cannot provide: a 422 naming the trigger, not a 5xx.
    let (status, doc) = server.send(server.http.post(server.url("/api/v1/webhooks/t/hooks/open"))).await;
    assert_problem(status, &doc, 422, "trigger `open`");
    // A body that is neither JSON nor text.
    let (status, doc) = server
        .send(
            server
                .http
                .post(server.url("/api/v1/webhooks/t/hooks/open"))
                .header("X-Ref", "r")
                .body(vec![0xff, 0xfe]),
        )
        .await;
    assert_problem(status, &doc, 400, "neither JSON nor UTF-8 text");

    // A key taken from a secret: the secret's value is the key, the template text is not.
    let (status, doc) = server.post("/api/v1/webhooks/t/hooks/k3y-from-secret?wait=true", "").await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["flowOutputs"]["triggerId"], "templated");
    let (status, _) = server.post("/api/v1/webhooks/t/hooks/%7B%7B%20secret('HOOK_KEY')%20%7D%7D", "").await;
    assert_eq!(status, 404);

    assert_eq!(executions(&server, "t", "hooks").await.len(), 2);
}

const LIMITED: &str = r#"
id: limited
namespace: t
concurrency:
  limit: 1
  behavior: cancel
triggers:
  - id: hook
    type: webhook
    key: go
tasks:
  - id: gate
    type: flow.pause
"#;

#[tokio::test(flavor = "multi_thread")]
async fn flow_concurrency_applies_to_triggered_executions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, LIMITED).await;
    let (status, first) = server.post("/api/v1/webhooks/t/limited/go", "").await;
    assert_eq!(status, 202, "{first}");
    let first = first["executionId"].as_str().unwrap().to_owned();
    server.wait_for_state(&first, "PAUSED").await;

    // The limit is taken: `behavior: cancel` cancels the second webhook's execution.
    let (status, second) = server.post("/api/v1/webhooks/t/limited/go", "").await;
    assert_eq!(status, 202, "{second}");
    server.wait_for_state(second["executionId"].as_str().unwrap(), "CANCELLED").await;
    let (_, still) = server.get(&format!("/api/v1/executions/{first}")).await;
    assert_eq!(still["state"], "PAUSED");

    // The trigger listing says what is served where.
    let listed = triggers_of(&server, "t", "limited").await;
    assert_eq!(
        listed,
        vec![
            json!({"id": "hook", "type": "webhook", "disabled": false, "path": "/api/v1/webhooks/t/limited/go", "signature": null})
        ]
    );
    let (status, doc) = server.get("/api/v1/flows/t/nothing/triggers").await;
    assert_problem(status, &doc, 404, "no flow t.nothing");
}

const HOOK_QUEUE: &str = r#"
id: hook-queue
namespace: t
concurrency: {limit: 1, behavior: queue}
triggers:
  - id: hook
    type: webhook
    key: go
tasks:
  - id: gate
    type: flow.pause
"#;

const HOOK_FAIL: &str = r#"
id: hook-fail
namespace: t
concurrency: {limit: 1, behavior: fail}
triggers:
  - id: hook
    type: webhook
    key: go
tasks:
  - id: gate
    type: flow.pause
"#;

/// `queue` and `fail` for webhook-started executions: the second waits QUEUED and starts when
/// the first ends; with `fail` it ends FAILED with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn flow_concurrency_queues_or_fails_webhook_executions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, HOOK_QUEUE).await;
    deploy(&server, HOOK_FAIL).await;
    let fire = |flow: &'static str| {
        let server = &server;
        async move {
            let (status, doc) = server.post(&format!("/api/v1/webhooks/t/{flow}/go"), "").await;
            assert_eq!(status, 202, "{doc}");
            doc["executionId"].as_str().unwrap().to_owned()
        }
    };
    let first = fire("hook-queue").await;
    server.wait_for_state(&first, "PAUSED").await;
    let second = fire("hook-queue").await;
    let queued = server.wait_for_state(&second, "QUEUED").await;
    assert_eq!(
        (queued["startedAt"].clone(), queued["trigger"]["type"].clone()),
        (Value::Null, json!("webhook"))
    );
    assert_eq!(server.post(&format!("/api/v1/executions/{first}/resume"), "").await.0, 202);
    server.wait_for_state(&first, "SUCCESS").await;
    server.wait_for_state(&second, "PAUSED").await;
    assert_eq!(server.post(&format!("/api/v1/executions/{second}/kill"), "").await.0, 202);
    server.wait_for_state(&second, "KILLED").await;

    let holder = fire("hook-fail").await;
    server.wait_for_state(&holder, "PAUSED").await;
    let refused = fire("hook-fail").await;
    let failed = server.wait_for_state(&refused, "FAILED").await;
    assert_eq!(
        failed["error"],
        "failed (`concurrency.behavior: fail`): flow t.hook-fail already has 1 running execution(s), its `concurrency.limit` is 1"
    );
    assert_eq!(failed["taskRuns"], json!([]));
    let (_, still) = server.get(&format!("/api/v1/executions/{holder}")).await;
    assert_eq!(still["state"], "PAUSED");
    assert_eq!(server.terminate(), 0);
}
