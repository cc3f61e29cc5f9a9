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
