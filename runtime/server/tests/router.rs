//! The router called directly (no socket): every route, its answers and its problems, on a
//! real engine with the core plugin and a SQLite store in a temp dir.

#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use sluice_server::auth::Access;
use support::{HELLO, api, bad_request, conflict, not_found};
use tower::ServiceExt;

const BAD: &str = "id: bad\nnamespace: t\ntasks:\n  - id: a\n    type: core.nope\n  - id: b\n    type: core.log\n    mesage: hi\n";

const PAUSE: &str = "id: gate\nnamespace: t\ntasks:\n  - id: approve\n    type: flow.pause\n    onResume:\n      - id: ok\n        type: bool\n  - id: after\n    type: core.log\n    message: \"approved {{ outputs.approve.ok }}\"\n";

#[tokio::test]
async fn health_unknown_routes_and_methods() {
    let api = api().await;
    let health = api.get("/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (StatusCode::OK, "ok"));
    let ready = api.get("/readyz").await;
    assert_eq!((ready.status, ready.body.as_str()), (StatusCode::OK, "ready"));
    assert_eq!(api.get("/api/v1/nothing").await.problem(404), not_found("no route /api/v1/nothing"));
    assert_eq!(
        api.call("PATCH", "/api/v1/flows", "", None).await.problem(405),
        json!({"type": "https://sluice.dev/problems/method-not-allowed", "title": "Method not allowed",
               "status": 405, "detail": "/api/v1/flows does not answer PATCH"})
    );
}

#[tokio::test]
async fn flows_are_deployed_updated_read_listed_and_deleted() {
    let api = api().await;
    let created = api.post("/api/v1/flows", HELLO).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json(), json!({"namespace": "examples", "id": "hello", "revision": 1}));
    assert_eq!(
        api.post("/api/v1/flows", HELLO).await.problem(409),
        conflict("flow examples.hello already exists; update it with PUT /api/v1/flows/examples/hello")
    );

    let same = api.call("PUT", "/api/v1/flows/examples/hello", HELLO, None).await;
    assert_eq!((same.status, same.json()["revision"].clone()), (StatusCode::OK, json!(1)));
    let changed = format!("{HELLO}labels:\n  team: ci\n");
    let updated = api.call("PUT", "/api/v1/flows/examples/hello", &changed, None).await;
    assert_eq!(updated.json(), json!({"namespace": "examples", "id": "hello", "revision": 2}));
    assert_eq!(
        api.call("PUT", "/api/v1/flows/examples/other", HELLO, None).await.problem(400),
        bad_request("the body is flow examples.hello, but the path names examples.other")
    );

    let doc = api.get("/api/v1/flows/examples/hello").await.json();
    assert_eq!((doc["revision"].clone(), doc["source"].clone()), (json!(2), json!(changed)));
    let yaml =
        api.call("GET", "/api/v1/flows/examples/hello?revision=1", "", Some("application/x-yaml")).await;
    assert_eq!((yaml.content_type.as_str(), yaml.body.as_str()), ("application/x-yaml", HELLO));
    // RFC 9512's `application/yaml`, and the older `text/yaml`, answered as asked.
    for asked in ["application/yaml", "text/yaml", "text/html, application/yaml;q=0.9"] {
        let yaml = api.call("GET", "/api/v1/flows/examples/hello?revision=1", "", Some(asked)).await;
        let answered = if asked == "text/yaml" { "text/yaml" } else { "application/yaml" };
        assert_eq!((yaml.content_type.as_str(), yaml.body.as_str()), (answered, HELLO), "{asked}");
    }
    let json = api.call("GET", "/api/v1/flows/examples/hello", "", Some("application/json")).await;
    assert_eq!(json.content_type, "application/json");
    assert_eq!(
        api.get("/api/v1/flows/examples/hello?revision=9").await.problem(404),
        not_found("flow examples.hello has no revision 9")
    );
    assert_eq!(api.get("/api/v1/flows/examples/hello?revision=x").await.problem(400)["status"], json!(400));

    let revisions = api.get("/api/v1/flows/examples/hello/revisions").await.json();
    let numbers: Vec<Value> = revisions.as_array().unwrap().iter().map(|r| r["revision"].clone()).collect();
    assert_eq!(numbers, vec![json!(1), json!(2)]);

    api.post("/api/v1/flows", PAUSE).await;
    let ids = |doc: Value| -> Vec<String> {
        doc.as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{}.{}", f["namespace"], f["id"]).replace('"', ""))
            .collect()
    };
    assert_eq!(ids(api.get("/api/v1/flows").await.json()), vec!["examples.hello", "t.gate"]);
    assert_eq!(ids(api.get("/api/v1/flows?namespace=t").await.json()), vec!["t.gate"]);
    assert_eq!(ids(api.get("/api/v1/flows?label=team:ci").await.json()), vec!["examples.hello"]);
    assert_eq!(ids(api.get("/api/v1/flows?label=team:cd").await.json()), Vec::<String>::new());
    assert_eq!(
        api.get("/api/v1/flows?label=team").await.problem(400),
        bad_request("label `team` must be `key:value`")
    );

    let deleted = api.call("DELETE", "/api/v1/flows/examples/hello", "", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call("DELETE", "/api/v1/flows/examples/hello", "", None).await.problem(404),
        not_found("no flow examples.hello")
    );
    assert_eq!(
        api.get("/api/v1/flows/examples/hello").await.problem(404),
        not_found("no flow examples.hello")
    );
    assert_eq!(
        api.get("/api/v1/flows/examples/hello/revisions").await.problem(404),
        not_found("no flow examples.hello")
    );
}

#[tokio::test]
async fn invalid_flows_are_422_with_positioned_errors_as_validate_prints_them() {
    let api = api().await;
    assert_eq!(api.post("/api/v1/flows/validate", HELLO).await.json(), json!({"valid": true}));
    let expected = json!({
        "type": "https://sluice.dev/problems/invalid-flow",
        "title": "Invalid flow",
        "status": 422,
        "detail": "the flow has 3 errors",
        "errors": [
            {"line": 5, "column": 11, "endColumn": 20, "message": "plugin `core` has no task `nope`; its tasks are `log`, `http`, `fail`, `assert`", "hint": null},
            {"line": 6, "column": 5, "endColumn": 6, "message": "missing key `message`, required by `core.log`", "hint": null},
            {"line": 8, "column": 5, "endColumn": 11, "message": "unknown key `mesage` in task `b` (`core.log`)", "hint": "did you mean `message`?"},
        ],
        "rendered": "flow.yaml:5:11: error: plugin `core` has no task `nope`; its tasks are `log`, `http`, `fail`, `assert`\n  |\n5 |     type: core.nope\n  |           ^^^^^^^^^\n\nflow.yaml:6:5: error: missing key `message`, required by `core.log`\n  |\n6 |   - id: b\n  |     ^\n\nflow.yaml:8:5: error: unknown key `mesage` in task `b` (`core.log`)\n  |\n8 |     mesage: hi\n  |     ^^^^^^\n  = hint: did you mean `message`?\n\n3 errors\n",
    });
    assert_eq!(api.post("/api/v1/flows/validate", BAD).await.problem(422), expected);
    assert_eq!(api.post("/api/v1/flows", BAD).await.problem(422), expected);
    let syntax = api.post("/api/v1/flows", "id: x\n  bad: [\n").await.problem(422);
    assert_eq!(
        syntax["errors"],
        json!([{"line": 2, "column": 6, "endColumn": 7, "message": "invalid YAML: mapping values are not allowed in this context", "hint": null}])
    );
    let not_utf8 =
        api.app.clone().oneshot(Request::post("/api/v1/flows").body(Body::from(vec![0xff, 0xfe])).unwrap());
    assert_eq!(not_utf8.await.unwrap().status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn executions_start_wait_list_get_and_log() {
    let api = api().await;
    api.post("/api/v1/flows", HELLO).await;
    let done = api.post("/api/v1/executions/examples/hello?wait=true", r#"{"name": "sluice"}"#).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let doc = done.json();
    assert_eq!(doc["state"], "SUCCESS");
    assert_eq!(doc["flowOutputs"], json!({"greeting": "Hello, sluice!", "checked": 1}));
    assert_eq!(doc["outputs"]["check"], json!({"passed": 1}));
    let runs: Vec<(Value, Value)> =
        doc["taskRuns"].as_array().unwrap().iter().map(|r| (r["id"].clone(), r["state"].clone())).collect();
    assert_eq!(runs, vec![(json!("greet"), json!("SUCCESS")), (json!("check"), json!("SUCCESS"))]);
    let id = doc["executionId"].as_str().unwrap().to_owned();

    let started = api.post("/api/v1/executions/examples/hello", "").await;
    assert_eq!(started.status, StatusCode::ACCEPTED);
    let second = started.json()["executionId"].as_str().unwrap().to_owned();
    // The answer's id reads at once: the record is stored before the 202 goes out.
    assert_eq!(api.get(&format!("/api/v1/executions/{second}")).await.status, StatusCode::OK);
    api.wait_for_state(&second, "SUCCESS").await;

    let listed = api.get("/api/v1/executions?flowId=hello&state=success").await.json();
    let listed: Vec<&str> =
        listed.as_array().unwrap().iter().map(|e| e["executionId"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![second.as_str(), id.as_str()], "newest first");
    assert_eq!(api.get("/api/v1/executions?state=FAILED").await.json(), json!([]));
    assert_eq!(
        api.get("/api/v1/executions?state=DONE").await.problem(400),
        bad_request("`DONE` is not an execution state")
    );
    assert_eq!(api.get("/api/v1/executions?limit=1").await.json().as_array().unwrap().len(), 1);

    let got = api.get(&format!("/api/v1/executions/{id}")).await.json();
    assert_eq!(got["inputs"], json!({"name": "sluice"}));
    assert_eq!(got["outputs"]["greet"], doc["outputs"]["greet"]);
    assert_eq!(got["taskRuns"].as_array().unwrap().len(), 2);

    let logs = api.get(&format!("/api/v1/executions/{id}/logs?taskRun=greet")).await.json();
    let messages: Vec<&str> =
        logs.as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(messages, vec!["Hello, sluice!"]);
    assert!(logs[0]["seq"].as_i64().unwrap() > 0);
    assert_eq!(
        api.get(&format!("/api/v1/executions/{id}/logs?level=LOUD")).await.problem(400),
        bad_request("`LOUD` is not a log level (one of TRACE, DEBUG, INFO, WARN, ERROR)")
    );
    assert_eq!(api.get(&format!("/api/v1/executions/{id}/logs?level=error")).await.json(), json!([]));

    // The followed log of a finished execution: every stored line, then the end.
    let follow = api.get(&format!("/api/v1/executions/{id}/logs/follow?taskRun=greet")).await;
    assert_eq!(follow.content_type, "text/event-stream");
    assert!(follow.body.contains("\"message\":\"Hello, sluice!\""), "{}", follow.body);
    assert!(
        follow.body.ends_with(&format!("event: end\ndata: {{\"executionId\":\"{id}\"}}\n\n")),
        "{}",
        follow.body
    );
    let states = api.get(&format!("/api/v1/executions/{id}/follow")).await.body;
    assert_eq!(states.matches("event: taskRun").count(), 2, "{states}");
    assert!(states.contains("event: execution\ndata: {"), "{states}");
    assert!(states.contains("\"state\":\"SUCCESS\""), "{states}");

    let metrics = api.get("/metrics").await.body;
    assert!(metrics.contains("sluice_executions{state=\"SUCCESS\"} 2\n"), "{metrics}");
    assert!(metrics.contains("sluice_executions{state=\"FAILED\"} 0\n"), "{metrics}");
    assert!(metrics.contains("sluice_task_duration_seconds_count 4\n"), "{metrics}");
    // Every task ran in the sandbox: one instantiation each, none waiting, none queued.
    assert!(metrics.contains("sluice_sandbox_instantiation_seconds_count 4\n"), "{metrics}");
    assert!(metrics.contains("sluice_queue_depth{queue=\"executions\"} 0\n"), "{metrics}");
    assert!(metrics.contains("sluice_queue_depth{queue=\"sandbox_slots\"} 0\n"), "{metrics}");
    assert!(metrics.contains("sluice_running_attempts 0\n"), "{metrics}");
    // Both ended here: no lease held; no keeper runs in this test, so no node reported.
    assert!(metrics.contains("sluice_leases_held 0\n"), "{metrics}");
    assert!(metrics.contains("sluice_cluster_nodes_alive 0\n"), "{metrics}");
    assert!(metrics.contains("sluice_cluster_leases 0\n"), "{metrics}");
    assert!(metrics.contains("sluice_cluster_awaiting_takeover 0\n"), "{metrics}");
    assert!(metrics.contains(&format!("sluice_build_info{{version=\"{}\"}} 1\n", env!("CARGO_PKG_VERSION"))));
}

#[tokio::test]
async fn execution_errors_are_4xx_problems() {
    let api = api().await;
    api.post("/api/v1/flows", HELLO).await;
    assert_eq!(
        api.post("/api/v1/executions/examples/nope", "{}").await.problem(404),
        not_found("no flow examples.nope")
    );
    assert_eq!(
        api.post("/api/v1/executions/examples/hello", r#"{"name": 3, "extra": true}"#).await.problem(422),
        json!({
            "type": "https://sluice.dev/problems/invalid-inputs", "title": "Invalid inputs", "status": 422,
            "detail": "input `extra`: unknown input; the flow declares: name\ninput `name`: expected a string, got a number",
            "errors": ["input `extra`: unknown input; the flow declares: name", "input `name`: expected a string, got a number"],
        })
    );
    assert_eq!(
        api.post("/api/v1/executions/examples/hello", "[1]").await.problem(400)["detail"],
        json!("the body must be a JSON object of inputs")
    );
    assert_eq!(
        api.post("/api/v1/executions/examples/hello", "{").await.problem(400)["title"],
        json!("Bad request")
    );
    assert_eq!(
        api.post("/api/v1/executions/examples/hello?wait=maybe", "{}").await.problem(400)["status"],
        json!(400)
    );
    assert_eq!(api.get("/api/v1/executions/nope").await.problem(404), not_found("no execution nope"));
    assert_eq!(
        api.post("/api/v1/executions/nope/kill", "").await.problem(404),
        not_found("no execution nope")
    );
    assert_eq!(
        api.post("/api/v1/executions/nope/resume", "{}").await.problem(404),
        not_found("no execution nope")
    );
    assert_eq!(api.get("/api/v1/executions/nope/logs").await.problem(404), not_found("no execution nope"));
    assert_eq!(
        api.get("/api/v1/executions/nope/logs/follow").await.problem(404),
        not_found("no execution nope")
    );
    assert_eq!(api.get("/api/v1/executions/nope/follow").await.problem(404), not_found("no execution nope"));

    let done = api.post("/api/v1/executions/examples/hello?wait=true", "").await.json();
    let id = done["executionId"].as_str().unwrap();
    assert_eq!(
        api.post(&format!("/api/v1/executions/{id}/kill"), "").await.problem(409),
        conflict(&format!("execution {id} is not running (it is SUCCESS)"))
    );
    assert_eq!(
        api.post(&format!("/api/v1/executions/{id}/resume"), "{}").await.problem(409),
        conflict(&format!("execution {id} is not running"))
    );
    assert_eq!(
        api.post(&format!("/api/v1/executions/{id}/resume?taskRun=[1]"), "{}").await.problem(400)["status"],
        json!(400)
    );
}

#[tokio::test]
async fn a_pause_is_resumed_and_a_running_execution_killed() {
    let api = api().await;
    api.post("/api/v1/flows", PAUSE).await;
    let id =
        api.post("/api/v1/executions/t/gate", "").await.json()["executionId"].as_str().unwrap().to_owned();
    api.wait_for_state(&id, "PAUSED").await;
    let resume = format!("/api/v1/executions/{id}/resume");
    assert_eq!(
        api.post(&resume, r#"{"ok": "yes"}"#).await.problem(422)["errors"],
        json!(["input `ok`: expected true or false, got a string"])
    );
    assert_eq!(
        api.post(&format!("{resume}?taskRun=after"), r#"{"ok": true}"#).await.problem(409),
        conflict("task run `after` is not paused")
    );
    assert_eq!(api.post(&resume, r#"{"ok": true}"#).await.status, StatusCode::ACCEPTED);
    let done = api.wait_for_state(&id, "SUCCESS").await;
    assert_eq!(done["outputs"]["approve"], json!({"ok": true}));

    let second =
        api.post("/api/v1/executions/t/gate", "").await.json()["executionId"].as_str().unwrap().to_owned();
    api.wait_for_state(&second, "PAUSED").await;
    let killed = api.post(&format!("/api/v1/executions/{second}/kill"), "").await;
    assert_eq!(killed.status, StatusCode::ACCEPTED);
    let record = api.wait_for_state(&second, "KILLED").await;
    assert_eq!(record["taskRuns"][0]["state"], "KILLED");
}

#[tokio::test]
async fn plugins_are_listed_with_schemas() {
    let api = api().await;
    let list = api.get("/api/v1/plugins").await.json();
    // The document `sluice plugin list --json` prints (the CLI's tests compare the two): the
    // digest as OCI writes it, and where the plugin came from.
    use sha2::Digest as _;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(sluice_builtin_plugins::CORE.wasm)));
    let description = list[0]["description"].clone();
    assert!(description.as_str().is_some_and(|d| !d.is_empty()), "{list}");
    assert_eq!(
        list,
        json!([{
            "name": "core", "version": "0.1.0", "description": description, "digest": digest,
            "source": "built-in", "tasks": ["core.log", "core.http", "core.fail", "core.assert"],
        }])
    );
    let core = api.get("/api/v1/plugins/core").await.json();
    let mut summary = core.clone();
    summary["tasks"] = list[0]["tasks"].clone();
    assert_eq!(summary, list[0], "described like listed, but with every task in full");
    let log = core["tasks"].as_array().unwrap().iter().find(|t| t["name"] == "log").unwrap();
    assert_eq!(log["configSchema"]["required"], json!(["message"]));
    assert_eq!(api.get("/api/v1/plugins/nope").await.problem(404), not_found("no plugin `nope`"));
}

#[tokio::test]
async fn the_openapi_document_describes_exactly_the_routes() {
    let api = api().await;
    let doc = api.get("/api/v1/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut described: Vec<String> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            described.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut routed: Vec<String> =
        sluice_server::routes().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    described.sort();
    routed.sort();
    assert_eq!(described, routed);

    let start = &doc["paths"]["/api/v1/executions/{namespace}/{flowId}"]["post"];
    let bodies: Vec<&String> = start["requestBody"]["content"].as_object().unwrap().keys().collect();
    assert_eq!(bodies, ["application/json", "multipart/form-data"]);
    let answers: Vec<&String> = start["responses"].as_object().unwrap().keys().collect();
    assert_eq!(answers, ["200", "202", "400", "401", "403", "404", "409", "413", "422", "503"]);
    // Every route that needs a token says so, with its 401 and 403; the open ones need none.
    for route in sluice_server::routes() {
        let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        if !matches!(route.access, Access::Open | Access::Metrics) {
            assert!(op["responses"]["401"].is_object(), "{} {}", route.method, route.path);
            assert!(op["responses"]["403"].is_object(), "{} {}", route.method, route.path);
        }
        assert_eq!(
            op["security"] == json!([]),
            route.access == Access::Open,
            "{} {}",
            route.method,
            route.path
        );
    }
    for (path, method) in [("/api/v1/flows", "post"), ("/api/v1/webhooks/{namespace}/{flowId}/{key}", "post")]
    {
        assert!(doc["paths"][path][method]["responses"]["413"].is_object(), "{method} {path}");
    }
}

/// While the engine drains for a shutdown: readiness is 503, starts, restarts and replays are
/// refused with 503 (try again once it is back), reads go on.
#[tokio::test]
async fn draining_is_not_ready_and_refuses_what_would_run_but_answers_reads() {
    let api = api().await;
    api.post("/api/v1/flows", HELLO).await;
    let done = api.post("/api/v1/executions/examples/hello?wait=true", "").await.json();
    let id = done["executionId"].as_str().unwrap();
    api.state.engine.drain(std::time::Duration::ZERO).await;

    let unavailable = |detail: &str| {
        json!({"type": "https://sluice.dev/problems/unavailable", "title": "Service unavailable",
               "status": 503, "detail": detail})
    };
    assert_eq!(
        api.get("/readyz").await.problem(503),
        unavailable("draining for a shutdown: no new executions start here")
    );
    assert_eq!(
        api.post("/api/v1/executions/examples/hello", "").await.problem(503),
        unavailable("sluice is shutting down and starts no new executions; try again once it is back")
    );
    let rerun =
        unavailable("sluice is shutting down and restarts or replays nothing; try again once it is back");
    assert_eq!(api.post(&format!("/api/v1/executions/{id}/restart"), "").await.problem(503), rerun);
    assert_eq!(api.post(&format!("/api/v1/executions/{id}/replay"), "").await.problem(503), rerun);
    assert_eq!(api.get(&format!("/api/v1/executions/{id}")).await.json()["state"], "SUCCESS");
    assert_eq!(api.get("/api/v1/flows").await.json().as_array().unwrap().len(), 1);
    assert_eq!(api.get("/healthz").await.body, "ok");
}

/// The web UI: every page URL answers the one `index.html` (its script routes on the path, so a
/// shared link works), assets come with their type and an ETag to revalidate against, and an
/// unknown asset is a problem document like any other 404.
#[tokio::test]
async fn the_ui_pages_answer_index_html_whose_versioned_assets_are_kept_for_good() {
    let api = api().await;
    let get = |path: &str, etag: Option<&str>| {
        let mut request = Request::get(path);
        if let Some(tag) = etag {
            request = request.header("if-none-match", tag);
        }
        api.app.clone().oneshot(request.body(Body::empty()).unwrap())
    };
    for path in
        ["/", "/flows", "/flows/a.b/c", "/flows/a/c/run", "/executions", "/executions/0193", "/plugins/core"]
    {
        let response = get(path, None).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8", "{path}");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let version = sluice_server::ui_version();
        let body = String::from_utf8_lossy(&body).into_owned();
        assert!(
            body.contains(&format!(r#"<script type="module" src="/ui/v-{version}/app.js">"#)),
            "{path}: {body}"
        );
        assert!(
            body.contains(&format!(r#"<link rel="stylesheet" href="/ui/v-{version}/style.css">"#)),
            "{path}"
        );
    }
    // What the pages load: under the version, kept for good.
    let version = sluice_server::ui_version();
    assert_eq!(version.len(), 12);
    let script = get(&format!("/ui/v-{version}/pages/flow/editor.js"), None).await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(script.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    // Without a version, or with another binary's: today's file, revalidated.
    for path in ["/ui/app.js".to_owned(), "/ui/v-0123456789ab/app.js".to_owned()] {
        let script = get(&path, None).await.unwrap();
        assert_eq!(script.status(), StatusCode::OK, "{path}");
        assert_eq!(script.headers()["cache-control"], "no-cache", "{path}");
        let etag = script.headers()["etag"].to_str().unwrap().to_string();
        let again = get(&path, Some(&etag)).await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let index = get("/", None).await.unwrap();
    assert_eq!(index.headers()["cache-control"], "no-cache", "a new binary's index is seen at once");
    // A browser asking for a page that does not exist gets the UI (which says so) with a 404;
    // anything else, a problem document.
    let page = Request::get("/nowhere").header("accept", "text/html,application/xhtml+xml;q=0.9");
    let page = api.app.clone().oneshot(page.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let missing = get("/nowhere", None).await.unwrap();
    assert_eq!(missing.headers()["content-type"], "application/problem+json");
    for path in ["/ui/nope.js".to_owned(), format!("/ui/v-{version}/nope.js")] {
        let missing = get(&path, None).await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(missing.headers()["content-type"], "application/problem+json", "{path}");
    }
}
