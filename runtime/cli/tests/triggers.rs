//! Triggers against the real `sluice server`: webhooks (GitHub and GitLab signatures, the
//! request as `trigger.*`), flow triggers (`trigger.outputs`, the states filter, the chain cap),
//! and schedules (firing, no overlap, changes over the API, `recoverMissed` after a restart).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use common::server::Server;
use serde_json::{Value, json};
use sluice_engine::{Store, TriggerKey};
use sluice_server::triggers::{MAX_CHAIN_DEPTH, github_signature};
use sluice_store::SqliteStore;

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

async fn deploy(server: &Server, yaml: &str) {
    let (status, doc) = server.post("/api/v1/flows", yaml).await;
    assert_eq!(status, 201, "{doc}");
}

/// Every execution of one flow, oldest first.
async fn executions(server: &Server, namespace: &str, flow: &str) -> Vec<Value> {
    let (status, list) = server.get(&format!("/api/v1/executions?namespace={namespace}&flowId={flow}")).await;
    assert_eq!(status, 200);
    let mut list = list.as_array().unwrap().clone();
    list.reverse();
    list
}

fn is_terminal(doc: &Value) -> bool {
    ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"].contains(&doc["state"].as_str().unwrap_or(""))
}

/// Polls (generously) until `done` holds for the flow's executions; returns them.
async fn wait_executions(
    server: &Server,
    namespace: &str,
    flow: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    for _ in 0..1200 {
        let list = executions(server, namespace, flow).await;
        if done(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{namespace}.{flow}: gave up waiting; executions: {:#}",
        json!(executions(server, namespace, flow).await)
    );
}

async fn triggers_of(server: &Server, namespace: &str, flow: &str) -> Vec<Value> {
    let (status, doc) = server.get(&format!("/api/v1/flows/{namespace}/{flow}/triggers")).await;
    assert_eq!(status, 200, "{doc}");
    doc.as_array().unwrap().clone()
}

async fn wait_trigger(
    server: &Server,
    namespace: &str,
    flow: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..1200 {
        let all = triggers_of(server, namespace, flow).await;
        let trigger = all.into_iter().find(|t| t["id"] == id).unwrap();
        if done(&trigger) {
            return trigger;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("trigger {namespace}.{flow}/{id} never reached the expected state");
}

fn assert_problem(status: u16, doc: &Value, expected_status: u16, detail_contains: &str) {
    assert_eq!(status, expected_status, "{doc}");
    assert_eq!(doc["status"], expected_status);
    let detail = doc["detail"].as_str().unwrap();
    assert!(detail.contains(detail_contains), "`{detail}` should contain `{detail_contains}`");
}

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

const UPSTREAM: &str = r#"
id: up
namespace: t
inputs:
  - id: word
    type: string
  - id: fail
    type: bool
    default: false
tasks:
  - id: maybe
    type: flow.if
    condition: "{{ inputs.fail }}"
    then:
      - id: boom
        type: flow.fail
        message: asked to fail
outputs:
  word: "{{ inputs.word }}"
"#;

const ON_SUCCESS: &str = r#"
id: on-success
namespace: t
inputs:
  - id: word
    type: string
triggers:
  - id: after-up
    type: flow
    namespace: t
    flowId: up
    states: [SUCCESS]
    inputs:
      word: "{{ trigger.outputs.word }}"
tasks:
  - id: log
    type: core.log
    message: "{{ inputs.word }}"
outputs:
  word: "{{ inputs.word }}"
  upstream: "{{ trigger.executionId }}"
  state: "{{ trigger.state }}"
  from: "{{ trigger.namespace }}.{{ trigger.flowId }}"
"#;

const ON_FAILURE: &str = r#"
id: on-failure
namespace: t
triggers:
  - id: after-up-failed
    type: flow
    namespace: t
    flowId: up
    states: [FAILED, KILLED]
tasks:
  - id: log
    type: core.log
    message: "up failed"
outputs:
  upstream: "{{ trigger.executionId }}"
  state: "{{ trigger.state }}"
  outputs: "{{ trigger.outputs }}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn flow_triggers_follow_the_end_state_and_see_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for flow in [UPSTREAM, ON_SUCCESS, ON_FAILURE] {
        deploy(&server, flow).await;
    }

    let (status, up) = server.post("/api/v1/executions/t/up?wait=true", r#"{"word": "hello"}"#).await;
    assert_eq!((status, &up["state"]), (200, &json!("SUCCESS")));
    let ok = wait_executions(&server, "t", "on-success", |l| l.len() == 1 && is_terminal(&l[0])).await;
    assert_eq!(ok[0]["state"], "SUCCESS");
    assert_eq!(
        ok[0]["flowOutputs"],
        json!({"word": "hello", "upstream": up["executionId"], "state": "SUCCESS", "from": "t.up"})
    );
    // Both triggers were considered for that end before either started anything.
    assert_eq!(executions(&server, "t", "on-failure").await.len(), 0);

    let (status, failed) =
        server.post("/api/v1/executions/t/up?wait=true", r#"{"word": "x", "fail": true}"#).await;
    assert_eq!((status, &failed["state"]), (200, &json!("FAILED")));
    let bad = wait_executions(&server, "t", "on-failure", |l| l.len() == 1 && is_terminal(&l[0])).await;
    assert_eq!(bad[0]["state"], "SUCCESS");
    assert_eq!(bad[0]["flowOutputs"]["upstream"], failed["executionId"]);
    assert_eq!(bad[0]["flowOutputs"]["state"], "FAILED");
    assert_eq!(bad[0]["flowOutputs"]["outputs"], json!({}), "a failed flow has no outputs");
    assert_eq!(executions(&server, "t", "on-success").await.len(), 1);
}

const SELF_LOOP: &str = r#"
id: again
namespace: t
triggers:
  - id: myself
    type: flow
    namespace: t
    flowId: again
    states: [SUCCESS]
tasks:
  - id: log
    type: core.log
    message: "once more"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_that_triggers_itself_stops_at_the_chain_cap() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, SELF_LOOP).await;
    let (status, _) = server.post("/api/v1/executions/t/again", "{}").await;
    assert_eq!(status, 202);
    let expected = usize::try_from(MAX_CHAIN_DEPTH).unwrap() + 1;
    wait_executions(&server, "t", "again", |l| l.len() >= expected && l.iter().all(is_terminal)).await;
    // The last one's end was refused; give a wrong implementation time to show itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = executions(&server, "t", "again").await;
    assert_eq!(all.len(), expected);
    assert!(all.iter().all(|e| e["state"] == "SUCCESS"));
}

fn scheduled(id: &str, cron: &str, extra: &str, tasks: &str) -> String {
    format!(
        "id: {id}\nnamespace: s\ntriggers:\n  - id: tick\n    type: schedule\n    cron: \"{cron}\"\n{extra}\
         tasks:\n{tasks}outputs:\n  date: \"{{{{ trigger.date }}}}\"\n  recovered: \"{{{{ trigger.recovered }}}}\"\n"
    )
}

const LOG_TASK: &str = "  - id: log\n    type: core.log\n    message: tick\n";

fn date(doc: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(doc["flowOutputs"]["date"].as_str().unwrap()).unwrap().with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_with_seconds_fires_and_follows_api_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, &scheduled("every-second", "* * * * * *", "", LOG_TASK)).await;

    let fired = wait_executions(&server, "s", "every-second", |l| {
        l.iter().filter(|e| e["state"] == "SUCCESS").count() >= 3
    })
    .await;
    let dates: Vec<DateTime<Utc>> = fired.iter().filter(|e| e["state"] == "SUCCESS").map(date).collect();
    for pair in dates.windows(2) {
        assert!(pair[1] > pair[0], "fire times increase: {dates:?}");
    }
    for d in &dates {
        assert_eq!(d.timestamp_subsec_nanos(), 0, "fire times are whole seconds: {d}");
    }
    assert!(fired.iter().all(|e| e["flowOutputs"].is_null() || e["flowOutputs"]["recovered"] == false));

    // Disabled over the API: the schedule's time passes, nothing more runs.
    let disabled = scheduled("every-second", "* * * * * *", "    disabled: true\n", LOG_TASK);
    let (status, _) =
        server.send(server.http.put(server.url("/api/v1/flows/s/every-second")).body(disabled)).await;
    assert_eq!(status, 200);
    let since = Utc::now() + chrono::Duration::seconds(2);
    wait_trigger(&server, "s", "every-second", "tick", |t| covered(t) > since).await;
    let count = wait_executions(&server, "s", "every-second", |l| l.iter().all(is_terminal)).await.len();
    let later = Utc::now() + chrono::Duration::seconds(2);
    wait_trigger(&server, "s", "every-second", "tick", |t| covered(t) > later).await;
    assert_eq!(executions(&server, "s", "every-second").await.len(), count);

    // Deleted: its trigger is gone; a new flow with a schedule starts firing without a restart.
    let (status, _) = server.send(server.http.delete(server.url("/api/v1/flows/s/every-second"))).await;
    assert_eq!(status, 204);
    deploy(&server, &scheduled("every-2s", "*/2 * * * * *", "", LOG_TASK)).await;
    let two = wait_executions(&server, "s", "every-2s", |l| {
        l.iter().filter(|e| e["state"] == "SUCCESS").count() >= 2
    })
    .await;
    for e in two.iter().filter(|e| e["state"] == "SUCCESS") {
        assert_eq!(date(e).timestamp() % 2, 0);
    }
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

fn covered(trigger: &Value) -> DateTime<Utc> {
    trigger["coveredUntil"]
        .as_str()
        .map(|t| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

const PAUSE_TASK: &str = "  - id: gate\n    type: flow.pause\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_never_overlaps_its_own_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, &scheduled("slow", "* * * * * *", "", PAUSE_TASK)).await;

    // The first run waits on a pause; the following ticks are skipped, not started.
    let first = wait_executions(&server, "s", "slow", |l| l.len() == 1 && l[0]["state"] == "PAUSED").await;
    let trigger = wait_trigger(&server, "s", "slow", "tick", |t| t["skipped"].as_u64().unwrap() >= 3).await;
    assert_eq!(trigger["executionId"], first[0]["executionId"]);
    assert_eq!(executions(&server, "s", "slow").await.len(), 1);

    // Once it ends, the next tick runs again.
    let id = first[0]["executionId"].as_str().unwrap();
    let (status, _) = server.post(&format!("/api/v1/executions/{id}/resume"), "{}").await;
    assert_eq!(status, 202);
    server.wait_for_state(id, "SUCCESS").await;
    let two = wait_executions(&server, "s", "slow", |l| l.len() >= 2).await;
    assert_eq!(two[0]["executionId"], first[0]["executionId"]);
    let (_, done) = server.get(&format!("/api/v1/executions/{id}")).await;
    let (_, second) =
        server.get(&format!("/api/v1/executions/{}", two[1]["executionId"].as_str().unwrap())).await;
    assert!(
        time(&second["createdAt"]) >= time(&done["endedAt"]),
        "the second run started after the first ended: {} < {}",
        second["createdAt"],
        done["endedAt"]
    );
}

/// Yearly on January 1st at midnight UTC: far from any moment a test runs, so exactly the
/// seeded fire times are missed.
const YEARLY: &str = "0 0 0 1 1 *";

#[tokio::test(flavor = "multi_thread")]
async fn missed_fire_times_are_recovered_all_last_or_none_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let policies = ["all", "last", "none"];
    {
        let server = Server::start(dir.path());
        for policy in policies {
            let extra = format!("    recoverMissed: {policy}\n");
            deploy(&server, &scheduled(&format!("recover-{policy}"), YEARLY, &extra, LOG_TASK)).await;
        }
        for policy in policies {
            wait_trigger(&server, "s", &format!("recover-{policy}"), "tick", |t| {
                !t["coveredUntil"].is_null()
            })
            .await;
        }
        assert_eq!(server.terminate(), 0);
    }

    // While no server runs, pretend the schedules were last handled three New Years ago.
    let year = Utc::now().year();
    let new_year = |y: i32| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
    let store = SqliteStore::open(&dir.path().join("sluice.db")).await.unwrap();
    for policy in policies {
        let flow_id = format!("recover-{policy}");
        let key = TriggerKey { namespace: "s", flow_id: &flow_id, trigger_id: "tick" };
        let now = store.schedule_state(key).await.unwrap().unwrap().covered_until;
        assert!(store.claim_schedule(key, Some(now), new_year(year - 3), 0).await.unwrap());
    }
    store.close().await;

    let server = Server::start(dir.path());
    let missed = [new_year(year - 2), new_year(year - 1), new_year(year)];

    // all: every missed fire time, oldest first, one after another.
    let all =
        wait_executions(&server, "s", "recover-all", |l| l.len() == 3 && l.iter().all(is_terminal)).await;
    assert_eq!(all.iter().map(date).collect::<Vec<_>>(), missed);
    assert!(all.iter().all(|e| e["state"] == "SUCCESS" && e["flowOutputs"]["recovered"] == true));
    for pair in all.windows(2) {
        assert!(time(&pair[1]["createdAt"]) >= time(&pair[0]["endedAt"]), "no overlap: {pair:#?}");
    }
    // last: only the newest.
    let last = wait_executions(&server, "s", "recover-last", |l| l.len() == 1 && is_terminal(&l[0])).await;
    assert_eq!(date(&last[0]), new_year(year));
    // none: the missed times are marked handled, nothing runs.
    wait_trigger(&server, "s", "recover-none", "tick", |t| covered(t) >= new_year(year)).await;
    for policy in policies {
        let trigger = wait_trigger(&server, "s", &format!("recover-{policy}"), "tick", |t| {
            covered(t) >= new_year(year)
        })
        .await;
        assert_eq!(trigger["nextDate"], json!(format!("{}-01-01T00:00:00Z", year + 1)));
    }
    assert_eq!(executions(&server, "s", "recover-none").await.len(), 0);
    assert_eq!(executions(&server, "s", "recover-last").await.len(), 1);
    assert_eq!(executions(&server, "s", "recover-all").await.len(), 3);
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
