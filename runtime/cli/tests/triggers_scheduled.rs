//! Triggers against the real `sluice server`: flow triggers (`trigger.outputs`, the states
//! filter, the chain cap) and schedules (firing, no overlap, changes over the API,
//! `recoverMissed` after a restart).

#![allow(clippy::unwrap_used)]

mod common;
mod support_triggers;

use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use common::server::Server;
use serde_json::{Value, json};
use sluice_engine::{Store, TriggerKey};
use sluice_server::triggers::MAX_CHAIN_DEPTH;
use sluice_store::SqliteStore;
use support_triggers::{deploy, executions, is_terminal, wait_executions, wait_trigger};

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
