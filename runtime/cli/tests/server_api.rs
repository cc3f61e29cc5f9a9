//! `sluice server` as the real binary on 127.0.0.1:0: deploy, run, list, follow logs over SSE,
//! kill, resume, and a clean stop on SIGTERM.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::server::Server;

use serde_json::{Value, json};

const SLEEPY: &str =
    "id: sleepy\nnamespace: t\ntasks:\n  - id: nap\n    type: flow.sleep\n    duration: 60s\n";
const GATE: &str = "id: gate\nnamespace: t\ntasks:\n  - id: approve\n    type: flow.pause\n    onResume:\n      - id: by\n        type: string\n  - id: after\n    type: core.log\n    message: \"approved by {{ outputs.approve.by }}\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_server_deploys_runs_follows_kills_resumes_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let hello = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows/hello.yaml"),
    )
    .unwrap();

    let (status, saved) = server.post("/api/v1/flows", &hello).await;
    assert_eq!((status, saved), (201, json!({"namespace": "examples", "id": "hello", "revision": 1})));

    let (status, doc) = server.post("/api/v1/executions/examples/hello?wait=true", "{}").await;
    assert_eq!(status, 200);
    assert_eq!(doc["state"], "SUCCESS");
    assert_eq!(doc["flowOutputs"], json!({"greeting": "Hello, world!", "checked": 1}));
    assert_eq!(doc["outputs"], json!({"greet": {}, "check": {"passed": 1}}));
    let id = doc["executionId"].as_str().unwrap().to_owned();

    let (_, flows) = server.get("/api/v1/flows").await;
    assert_eq!(flows.as_array().unwrap().len(), 1);
    assert_eq!(flows[0]["id"], "hello");
    let (_, flow) = server.get("/api/v1/flows/examples/hello").await;
    assert_eq!(flow["source"], json!(hello));
    let (_, listed) = server.get("/api/v1/executions?namespace=examples").await;
    assert_eq!(
        listed.as_array().unwrap().iter().map(|e| e["executionId"].clone()).collect::<Vec<_>>(),
        vec![json!(id)]
    );

    // The stream ends by itself once the execution is terminal.
    let events = server.follow(&format!("/api/v1/executions/{id}/logs/follow"), None).await.rest().await;
    assert!(messages(&events).contains(&"Hello, world!".to_owned()), "{events:?}");
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("end"), "{events:?}");

    // Live: a follower attached to a running execution sees its end.
    server.post("/api/v1/flows", SLEEPY).await;
    let (status, started) = server.post("/api/v1/executions/t/sleepy", "").await;
    assert_eq!(status, 202);
    let sleepy = started["executionId"].as_str().unwrap().to_owned();
    server.wait_for_state(&sleepy, "RUNNING").await;
    let follower = tokio::spawn({
        let http = server.http.clone();
        let url = server.url(&format!("/api/v1/executions/{sleepy}/follow"));
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    });
    let (status, _) = server.post(&format!("/api/v1/executions/{sleepy}/kill"), "").await;
    assert_eq!(status, 202);
    let killed = server.wait_for_state(&sleepy, "KILLED").await;
    assert_eq!(killed["taskRuns"][0]["state"], "KILLED");
    let states = follower.await.unwrap();
    assert!(states.contains("\"state\":\"KILLED\""), "{states}");
    let (status, _) = server.post(&format!("/api/v1/executions/{sleepy}/kill"), "").await;
    assert_eq!(status, 409);

    server.post("/api/v1/flows", GATE).await;
    let (_, started) = server.post("/api/v1/executions/t/gate", "").await;
    let gate = started["executionId"].as_str().unwrap().to_owned();
    server.wait_for_state(&gate, "PAUSED").await;
    let (status, problem) = server.post(&format!("/api/v1/executions/{gate}/resume"), "{}").await;
    assert_eq!(
        (status, problem["errors"].clone()),
        (422, json!(["input `by`: required, but not given (type string)"]))
    );
    let (status, _) = server.post(&format!("/api/v1/executions/{gate}/resume"), r#"{"by": "ana"}"#).await;
    assert_eq!(status, 202);
    server.wait_for_state(&gate, "SUCCESS").await;
    let (_, logs) = server.get(&format!("/api/v1/executions/{gate}/logs?taskRun=after")).await;
    assert_eq!(logs[0]["message"], "approved by ana");

    assert_eq!(server.terminate(), 0);
}

/// Issue 4's crash test: 20 executions of a flow with sleeps, `kill -9` of the server mid-way,
/// a restart on the same data dir; every execution reaches SUCCESS, and every task's success is
/// recorded exactly once (the attempt cut by the crash is recorded as interrupted, then redone).
#[tokio::test(flavor = "multi_thread")]
async fn executions_survive_kill_9_of_the_server() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, data.path().join("plugins/test.wasm")).unwrap();
    const NAPS: &str = "id: naps\nnamespace: t\ntasks:\n  - id: before\n    type: test.noop\n  - id: nap\n    type: test.sleep\n    ms: 1500\n  - id: pause\n    type: flow.sleep\n    duration: 300ms\n  - id: after\n    type: test.noop\n";
    let mut server = Server::start(data.path());
    let (status, _) = server.post("/api/v1/flows", NAPS).await;
    assert_eq!(status, 201);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (status, doc) = server.post("/api/v1/executions/t/naps", "{}").await;
        assert_eq!(status, 202, "{doc}");
        ids.push(doc["executionId"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();

    let server = Server::start(data.path());
    for id in &ids {
        server.wait_for_state(id, "SUCCESS").await;
    }
    assert_eq!(server.terminate(), 0);

    let store = sluice_store::SqliteStore::open(&data.path().join("sluice.db")).await.unwrap();
    use sluice_engine::Store;
    let mut interrupted = 0;
    for id in &ids {
        let runs = store.task_runs(id).await.unwrap();
        let keys: Vec<String> = runs.iter().map(|r| r.key.to_string()).collect();
        assert_eq!(keys, ["before", "nap", "pause", "after"], "{id}");
        for run in &runs {
            assert_eq!(run.state, sluice_engine::TaskRunState::Success, "{run:?}");
            let successes =
                run.attempts.iter().filter(|a| a.state == sluice_engine::TaskRunState::Success).count();
            if !run.attempts.is_empty() {
                assert_eq!(successes, 1, "{run:?}");
            }
        }
        let nap = &runs[1];
        interrupted += nap
            .attempts
            .iter()
            .filter(|a| a.error.as_deref() == Some("interrupted: its server stopped or lost the execution"))
            .count();
    }
    assert_eq!(interrupted, 20, "every execution was in `nap` when the server was killed");
}

const TALK: &str = r#"id: talk
namespace: t
tasks:
  - id: before
    type: core.log
    message: one
  - id: gate
    type: flow.pause
  - id: after
    type: core.log
    message: "two\nthree"
"#;

fn messages(events: &[common::server::SseEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event == "log")
        .map(|e| e.data["message"].as_str().unwrap().to_owned())
        .collect()
}

/// A follower attached while the execution runs gets each line as it comes, once and in order,
/// then the end; one that reconnects with `Last-Event-ID` continues after that line.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_log_follower_gets_each_line_once_in_order_and_resumes_after_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    assert_eq!(server.post("/api/v1/flows", TALK).await.0, 201);
    let (_, started) = server.post("/api/v1/executions/t/talk", "").await;
    let id = started["executionId"].as_str().unwrap().to_owned();
    server.wait_for_state(&id, "PAUSED").await;

    let follow = format!("/api/v1/executions/{id}/logs/follow");
    let mut live = server.follow(&follow, None).await;
    let first = live.next().await.unwrap();
    assert_eq!((first.event.as_str(), &first.data["message"]), ("log", &json!("one")));
    assert_eq!(first.id, Some(first.data["seq"].to_string()), "the event id is the line's seq");
    // Everything after this comes while the follower is attached.
    let (status, _) = server.post(&format!("/api/v1/executions/{id}/resume"), "").await;
    assert_eq!(status, 202);
    let mut events = vec![first.clone()];
    events.extend(live.rest().await);
    let (end, lines) = events.split_last().unwrap();
    assert_eq!((end.event.as_str(), &end.data), ("end", &json!({"executionId": id})));
    assert_eq!(messages(lines), ["one", "two", "three"]);
    let (_, stored) = server.get(&format!("/api/v1/executions/{id}/logs")).await;
    let stored_seqs: Vec<Value> = stored.as_array().unwrap().iter().map(|l| l["seq"].clone()).collect();
    let sent_seqs: Vec<Value> = lines.iter().map(|e| e.data["seq"].clone()).collect();
    assert_eq!(sent_seqs, stored_seqs, "every stored line, once, in order");

    let mut resumed = server.follow(&follow, first.id.as_deref()).await;
    let rest = resumed.rest().await;
    assert_eq!(messages(&rest), ["two", "three"]);
    assert_eq!(rest.last().unwrap().event, "end");
    let (status, problem) =
        server.send(server.http.get(server.url(&follow)).header("Last-Event-ID", "yesterday")).await;
    assert_eq!(
        (status, problem["detail"].clone()),
        (
            400,
            json!(
                "`Last-Event-ID: yesterday` is not the id of a log event (the `seq` of a line, a whole number)"
            )
        )
    );
    assert_eq!(server.terminate(), 0);
}

const LEVELS: &str = r#"id: levels
namespace: t
labels: {team: ci}
tasks:
  - id: quiet
    type: core.log
    level: debug
    message: d
  - id: loud
    type: core.log
    level: info
    message: i
  - id: louder
    type: core.log
    level: warn
    message: w
  - id: loudest
    type: core.log
    level: error
    message: e
  - id: each
    type: flow.forEach
    values: ["x", "y"]
    tasks:
      - id: say
        type: core.log
        message: "say {{ taskrun.value }}"
"#;

const OTHER: &str = "id: other\nnamespace: t\nlabels: {team: cd}\ntasks:\n  - id: log\n    type: core.log\n    message: other\n";

async fn run(server: &Server, flow: &str) -> Value {
    let (status, doc) = server.post(&format!("/api/v1/executions/t/{flow}?wait=true"), "").await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")), "{doc}");
    let (_, summary) =
        server.get(&format!("/api/v1/executions/{}", doc["executionId"].as_str().unwrap())).await;
    summary
}

/// `GET /executions` by label, creation time (exclusive bounds, offsets encoded or not) and
/// page; `GET /logs` by level and by task.
#[tokio::test(flavor = "multi_thread")]
async fn execution_lists_filter_by_label_time_and_page_and_logs_by_level_and_task() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for flow in [LEVELS, OTHER] {
        assert_eq!(server.post("/api/v1/flows", flow).await.0, 201);
    }
    let a1 = run(&server, "levels").await;
    let b1 = run(&server, "other").await;
    let a2 = run(&server, "levels").await;
    let ids = |query: &str| {
        let server = &server;
        let query = query.to_owned();
        async move {
            let (status, list) = server.get(&format!("/api/v1/executions{query}")).await;
            assert_eq!(status, 200, "{query}: {list}");
            list.as_array()
                .unwrap()
                .iter()
                .map(|e| e["executionId"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let id = |doc: &Value| doc["executionId"].as_str().unwrap().to_owned();
    let (a1_id, b1_id, a2_id) = (id(&a1), id(&b1), id(&a2));
    let (a1_id, b1_id, a2_id) = (a1_id.as_str(), b1_id.as_str(), a2_id.as_str());
    assert_eq!(ids("").await, [a2_id, b1_id, a1_id]);
    assert_eq!(ids("?label=team:ci").await, [a2_id, a1_id]);
    assert_eq!(ids("?label=team:cd").await, [b1_id]);
    assert_eq!(ids("?label=team:ci,env:prod").await, Vec::<String>::new());

    let created = |doc: &Value| doc["createdAt"].as_str().unwrap().to_owned();
    let (a1_at, a2_at) = (created(&a1), created(&a2));
    assert!(a1_at.ends_with('Z'), "{a1_at}");
    assert_eq!(ids(&format!("?after={a1_at}")).await, [a2_id, b1_id], "after is exclusive");
    assert_eq!(ids(&format!("?before={a2_at}")).await, [b1_id, a1_id], "before is exclusive");
    assert_eq!(ids(&format!("?after={a1_at}&before={a2_at}")).await, [b1_id]);
    // The same instant with an offset: encoded as %2B, or left as `+` (which arrives as a space).
    let plus = a1_at.replace('Z', "+00:00");
    assert_eq!(ids(&format!("?after={}", plus.replace('+', "%2B"))).await, [a2_id, b1_id]);
    assert_eq!(ids(&format!("?after={plus}")).await, [a2_id, b1_id]);
    let (status, problem) = server.get("/api/v1/executions?after=yesterday").await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["detail"],
        "`after=yesterday` is not an RFC 3339 time: write it like 2026-05-01T10:00:00Z, or with an offset encoded as %2B (`+` in a query string means a space): 2026-05-01T12:00:00%2B02:00"
    );

    assert_eq!(ids("?limit=2").await, [a2_id, b1_id]);
    assert_eq!(ids("?limit=2&offset=2").await, [a1_id]);
    assert_eq!(ids("?offset=3").await, Vec::<String>::new());
    assert_eq!(ids("?limit=1000").await.len(), 3);
    for bad in ["0", "1001"] {
        let (status, problem) = server.get(&format!("/api/v1/executions?limit={bad}")).await;
        assert_eq!((status, problem["detail"].clone()), (400, json!("limit must be between 1 and 1000")));
    }
    let (status, _) = server.get("/api/v1/executions?limit=-1").await;
    assert_eq!(status, 400);

    let logs = |query: &str| {
        let server = &server;
        let path = format!("/api/v1/executions/{a1_id}/logs{query}");
        async move {
            let (status, list) = server.get(&path).await;
            assert_eq!(status, 200, "{path}: {list}");
            list.as_array()
                .unwrap()
                .iter()
                .map(|l| format!("{} {}", l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
                .collect::<Vec<_>>()
        }
    };
    let plugin_lines =
        |lines: Vec<String>| lines.into_iter().filter(|l| !l.contains("say")).collect::<Vec<_>>();
    assert_eq!(plugin_lines(logs("?level=DEBUG").await), ["DEBUG d", "INFO i", "WARN w", "ERROR e"]);
    assert_eq!(logs("?level=INFO&taskRun=quiet").await, Vec::<String>::new(), "DEBUG is below INFO");
    assert_eq!(plugin_lines(logs("?level=info").await), ["INFO i", "WARN w", "ERROR e"]);
    assert_eq!(logs("?level=WARN").await, ["WARN w", "ERROR e"]);
    // Every iteration of the forEach body, by task id; one of them by its run.
    assert_eq!(logs("?task=say").await, ["INFO say x", "INFO say y"]);
    assert_eq!(logs("?taskRun=say[1]").await, ["INFO say y"]);
    assert_eq!(logs("?task=say&level=WARN").await, Vec::<String>::new());

    // Pages: `limit` lines after `afterSeq`, together every line once and in order.
    let (_, whole) = server.get(&format!("/api/v1/executions/{a1_id}/logs")).await;
    let whole = whole.as_array().unwrap().clone();
    assert!(whole.len() > 4, "{whole:?}");
    let (mut paged, mut after) = (Vec::new(), None::<i64>);
    loop {
        let query = after.map_or(String::new(), |seq| format!("&afterSeq={seq}"));
        let (status, page) = server.get(&format!("/api/v1/executions/{a1_id}/logs?limit=2{query}")).await;
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().unwrap().clone();
        assert!(page.len() <= 2, "{page:?}");
        let Some(last) = page.last() else { break };
        after = last["seq"].as_i64();
        paged.extend(page);
    }
    assert_eq!(paged, whole);
    let filtered = format!("/api/v1/executions/{a1_id}/logs?level=WARN&limit=1&afterSeq=");
    let first = server.get(&format!("{filtered}0")).await.1;
    assert_eq!(first.as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first[0]["message"], "w");
    let next = server.get(&format!("{filtered}{}", first[0]["seq"])).await.1;
    assert_eq!(next[0]["message"], "e");
    for bad in ["0", "100001"] {
        let (status, problem) = server.get(&format!("/api/v1/executions/{a1_id}/logs?limit={bad}")).await;
        assert_eq!(
            (status, problem["detail"].clone()),
            (
                400,
                json!(format!(
                    "`limit={bad}` is out of range: a page holds 1 to 100000 lines (leave it out for every line)"
                ))
            )
        );
    }
    let (status, problem) = server.get(&format!("/api/v1/executions/{a1_id}/logs/follow?limit=5")).await;
    assert_eq!(
        (status, problem["detail"].clone()),
        (400, json!("`limit` pages a read of the logs; a follow sends every line (leave it out)"))
    );
    // A follow from `afterSeq` sends only the lines after it, then the end.
    let from = whole[whole.len() - 2]["seq"].to_string();
    let mut tail =
        server.follow(&format!("/api/v1/executions/{a1_id}/logs/follow?afterSeq={from}"), None).await;
    let tail = tail.rest().await;
    assert_eq!(tail.len(), 2, "the last line and the end: {tail:?}");
    assert_eq!(tail[0].data, whole[whole.len() - 1]);
    assert_eq!(tail[1].event, "end");
    assert_eq!(server.terminate(), 0);
}
