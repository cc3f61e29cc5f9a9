//! The web UI in a real browser (headless chromium through chromedriver) against the real
//! `sluice server`: the flows page by namespace with its search and last states, the executions
//! list and its filters, the plugins and a plugin's config reference, a page that does not
//! exist, and an API error shown as a message.

#![allow(clippy::unwrap_used)]

mod common;
mod support_browser;

use common::server::Server;
use serde_json::json;
use support_browser::Browser;

const FLOWS: [&str; 3] = ["hello.yaml", "parallel.yaml", "branching.yaml"];

async fn server_with_examples() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows");
    for file in FLOWS {
        let yaml = std::fs::read_to_string(examples.join(file)).unwrap();
        let (status, doc) = server.post("/api/v1/flows", &yaml).await;
        assert_eq!(status, 201, "{doc}");
    }
    (dir, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_flows_executions_and_plugins_pages_show_what_the_api_holds() {
    let (_dir, server) = server_with_examples().await;
    let (status, done) = server.post("/api/v1/executions/examples/parallel?wait=true", "{}").await;
    assert_eq!((status, done["state"].as_str()), (200, Some("SUCCESS")), "{done}");
    let browser = Browser::start(&server.base).await;

    // Flows: by namespace, each with its last execution's state.
    browser.open("/").await;
    browser.wait_for_text("details.namespace summary", "examples").await;
    assert_eq!(browser.texts("tr[data-flow] td:first-child").await, ["branching", "hello", "parallel"]);
    assert_eq!(browser.text("tr[data-flow='examples.parallel'] .state").await, "✓ SUCCESS");
    assert_eq!(browser.text("tr[data-flow='examples.hello'] td:nth-child(4)").await, "never run");
    browser.screenshot("flows").await;
    // The search filters as one types, and the URL keeps it.
    browser.type_into("input[type=search]", "par").await;
    browser.wait_until("one flow left", "document.querySelectorAll('tr[data-flow]').length === 1").await;
    assert_eq!(browser.texts("tr[data-flow] td:first-child").await, ["parallel"]);
    assert_eq!(browser.path().await, "/flows?q=par");

    // Executions: the run is listed; a state filter that matches nothing says so.
    browser.click("header nav a[data-section=executions]").await;
    let id = done["executionId"].as_str().unwrap();
    let row = browser.wait_for(&format!("tr[data-execution='{id}']")).await;
    assert!(row.text().await.unwrap().contains("examples.parallel"));
    assert_eq!(browser.path().await, "/executions");
    browser.open("/executions?state=FAILED").await;
    browser.wait_for_text("table.executions, p.muted", "No execution matches.").await;
    assert_eq!(browser.eval("document.querySelector('select[name=state]').value").await, json!("FAILED"));

    // Plugins, and a plugin's config as a reference: keys, types (enums spelled out), required.
    browser.open("/plugins").await;
    browser.wait_for_text("table.plugins td", "core").await;
    browser.click("table.plugins a[href='/plugins/core']").await;
    let level = browser.wait_for_text("section#log table.schema tr", "level").await;
    assert!(level.text().await.unwrap().contains(r#""trace" | "debug" | "info" | "warn" | "error""#));
    assert!(browser.text("section#log table.schema tbody tr:nth-child(2)").await.starts_with("message *"));
    browser.screenshot("plugin").await;

    // A page that does not exist, and an API error, are messages, not blank pages.
    browser.open("/nowhere").await;
    assert_eq!(browser.text(".error").await, "Not found no page /nowhere");
    browser.open("/plugins/nope").await;
    assert_eq!(browser.text(".error").await, "Not found no plugin `nope`");
    browser.close().await;
}

/// One task that logs 12,000 lines: more than one page of the stored log (200, then 5,000 a
/// page), so the page reads several and shows each line once, in order. Another logs markup and
/// a terminal's escape sequences, which the page shows as text.
const LOUD: &str = r#"id: loud
namespace: ui
tasks:
  - id: markup
    type: core.log
    message: "<img src=x onerror=\"document.title='owned'\"><b>bold</b> \e[2J\e]0;title\a"
  - id: flood
    type: test.log-flood
    lines: 12000
    size: 40
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_execution_with_a_long_log_shows_every_line_once_reading_it_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, dir.path().join("plugins/test.wasm")).unwrap();
    let server = Server::start(dir.path());
    let (status, doc) = server.post("/api/v1/flows", LOUD).await;
    assert_eq!(status, 201, "{doc}");
    let (status, done) = server.post("/api/v1/executions/ui/loud?wait=true", "{}").await;
    assert_eq!((status, done["state"].as_str()), (200, Some("SUCCESS")), "{done}");
    let id = done["executionId"].as_str().unwrap();
    let (_, stored) = server.get(&format!("/api/v1/executions/{id}/logs")).await;
    let stored = stored.as_array().unwrap();
    assert!(stored.len() >= 12_000, "{}", stored.len());
    let browser = Browser::start(&server.base).await;

    browser.open(&format!("/executions/{id}")).await;
    // Markup from a plugin is text on the page, never elements; escape sequences are inert.
    let markup = browser.wait_for(".log-line[data-task=markup] .log-msg").await;
    assert_eq!(
        markup.prop("textContent").await.unwrap().as_deref(),
        Some("<img src=x onerror=\"document.title='owned'\"><b>bold</b> \u{1b}[2J\u{1b}]0;title\u{7}")
    );
    let children =
        browser.eval("document.querySelector('.log-line[data-task=markup] .log-msg').children.length").await;
    assert_eq!(children, json!(0), "no element made from a plugin's text");
    assert_ne!(browser.eval("document.title").await, json!("owned"));
    browser.wait_for_text(".log-line[data-task=flood]", "line 0 ").await;
    let total = format!("{} lines", with_commas(stored.len()));
    browser.wait_for_text(".log-count", &total).await;
    assert_eq!(browser.text(".log-count").await, total, "every page read, nothing more to come");
    // Only the lines in view (and a margin) are in the page, not 12,000 elements.
    let in_dom = browser.eval("document.querySelectorAll('.log-line').length").await.as_u64().unwrap();
    assert!((20..200).contains(&in_dom), "{in_dom} line elements");
    // The end of the log, after the last page: the last line, once.
    browser.eval("(() => { const b = document.querySelector('.log-body'); b.scrollTop = b.scrollHeight; return true; })()").await;
    let last = stored.last().unwrap();
    let last_line =
        browser.wait_for(&format!(".log-line[data-seq='{}']", last["seq"])).await.text().await.unwrap();
    assert!(last_line.contains(last["message"].as_str().unwrap()), "{last_line}");
    let seqs =
        browser.eval("[...document.querySelectorAll('.log-line')].map((l) => Number(l.dataset.seq))").await;
    let seqs: Vec<i64> = seqs.as_array().unwrap().iter().map(|s| s.as_i64().unwrap()).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seqs.len(), "no line twice: {seqs:?}");
    // The page's first reads were asked for by the router before the page's module loaded,
    // and each once: the page took those answers instead of asking again.
    let requests = browser
        .eval(
            "(() => { const all = performance.getEntriesByType('resource'); \
             const at = (end) => all.filter((e) => e.name.endsWith(end)); \
             return {module: at('/pages/execution.js').map((e) => e.startTime), \
             document: at(`/api/v1/executions/${location.pathname.split('/')[2]}`).map((e) => e.startTime), \
             logs: at(`/api/v1/executions/${location.pathname.split('/')[2]}/logs?limit=200`).map((e) => e.startTime)}; })()",
        )
        .await;
    let starts = |name: &str| -> Vec<f64> {
        requests[name].as_array().unwrap().iter().map(|t| t.as_f64().unwrap()).collect()
    };
    let (module, document, logs) = (starts("module"), starts("document"), starts("logs"));
    assert_eq!((module.len(), document.len(), logs.len()), (1, 1, 1), "each asked for once: {requests}");
    assert!(
        document[0] <= module[0] && logs[0] <= module[0],
        "asked for before the page's module: {requests}"
    );
    browser.screenshot("execution-long-log").await;
    browser.close().await;
}

/// A test report that passes and a coverage report under its `minLine`: one card each, the
/// failed gate's from its error (it has no outputs), found as a gate by the flow's graph.
const GATED: &str = r#"id: gated
namespace: ui
tasks:
  - id: junit
    type: test.write-file
    path: report.xml
    content: '<testsuite name="s" tests="2" failures="0" errors="0" skipped="0"><testcase classname="c" name="a" time="0.1"/><testcase classname="c" name="b" time="0.2"/></testsuite>'
  - id: lcov
    type: test.write-file
    path: lcov.info
    content: "SF:app.py\nDA:1,1\nDA:2,0\nend_of_record\n"
  - id: testGate
    type: gate.tests
    reports: report.xml
  - id: coverageGate
    type: gate.coverage
    reports: lcov.info
    minLine: 80
"#;

#[tokio::test(flavor = "multi_thread")]
async fn gate_cards_show_the_numbers_of_a_passed_and_a_failed_gate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, dir.path().join("plugins/test.wasm")).unwrap();
    let server = Server::start(dir.path());
    let (status, doc) = server.post("/api/v1/flows", GATED).await;
    assert_eq!(status, 201, "{doc}");
    let (status, done) = server.post("/api/v1/executions/ui/gated?wait=true", "{}").await;
    assert_eq!((status, done["state"].as_str()), (200, Some("FAILED")), "{done}");
    let id = done["executionId"].as_str().unwrap();
    let error =
        done["taskRuns"].as_array().unwrap().iter().find(|r| r["id"] == "coverageGate").unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string();
    let browser = Browser::start(&server.base).await;

    browser.open(&format!("/executions/{id}")).await;
    // The failed gate's card comes once the graph says it is a gate; the cards are drawn again
    // then, so they are read after it, from the page as it is.
    browser.wait_for(".gate-card[data-task=coverageGate].gate-bad").await;
    let card =
        |task: &str, what: &str| format!("document.querySelector('.gate-card[data-task={task}]').{what}");
    assert_eq!(browser.eval(&card("testGate", "dataset.kind")).await, json!("tests"));
    assert_eq!(
        browser.eval(&card("testGate", "querySelector('.gate-text').textContent")).await,
        json!("tests 2 · 2 passed")
    );
    assert_eq!(browser.eval(&card("coverageGate", "dataset.kind")).await, json!("coverage"));
    assert_eq!(
        browser.eval(&card("coverageGate", "querySelector('.gate-error').textContent")).await,
        json!(error)
    );
    assert!(error.contains("minLine"), "{error}");
    browser.screenshot("execution-gates").await;
    browser.close().await;
}

/// `12003` → `12,003`, as the page's `toLocaleString()` writes it in chromium's en-US.
fn with_commas(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A server that needs a token: every page asks for one, the token goes to the server once and
/// comes back as a cookie that no script on the page can read, and that cookie carries the API
/// reads and the live streams of the pages after it.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_needs_a_token_asks_for_it_once_and_keeps_it_where_scripts_cannot_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let token = "sluice_ui-test-token-0123456789abcdefghijklmnopq";
    let server = Server::start_with(dir.path(), &[], &[("SLUICE_ADMIN_TOKEN", token)]);
    let hello = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows/hello.yaml"),
    )
    .unwrap();
    let api = |method: reqwest::Method, path: &str| {
        server.http.request(method, server.url(path)).bearer_auth(token)
    };
    let deployed = api(reqwest::Method::POST, "/api/v1/flows").body(hello).send().await.unwrap();
    assert_eq!(deployed.status().as_u16(), 201);
    let done: serde_json::Value = api(reqwest::Method::POST, "/api/v1/executions/examples/hello?wait=true")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = done["executionId"].as_str().unwrap();

    let browser = Browser::start(&server.base).await;
    browser.open(&format!("/executions/{id}")).await;
    browser.wait_for("form.login").await;
    assert!(browser.text("main").await.contains("this server needs a token"));
    browser.type_into("#token", "sluice_wrong").await;
    browser.click("form.login button").await;
    browser.wait_for_text("main .error", "the token is not one this server knows").await;
    browser.eval("document.querySelector('#token').value = ''").await;
    browser.type_into("#token", token).await;
    browser.click("form.login button").await;
    // The page it was asked for, live state and all.
    browser.wait_for_text("#execution-state", "SUCCESS").await;
    assert_eq!(browser.path().await, format!("/executions/{id}"));
    browser.wait_for_text("#session", "admin").await;
    assert_eq!(browser.eval("return document.cookie").await, json!(""), "the cookie is HttpOnly");
    browser.open("/flows").await;
    browser.wait_for_text("tr[data-flow] td:first-child", "hello").await;

    browser.click("#session button").await;
    browser.open("/flows").await;
    browser.wait_for("form.login").await;
    browser.close().await;
}
