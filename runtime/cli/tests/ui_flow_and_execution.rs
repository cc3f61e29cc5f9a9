//! The web UI's flow and execution pages in a real browser (headless chromium through
//! chromedriver) against the real `sluice server`, asserting what a person sees:
//! - a flow's topology (its groups, nodes with their grants, edges, the errors handler), a
//!   mistake typed into the editor underlined at its line and span with the validator's words,
//!   a save making a new revision and the diff between two revisions;
//! - the run form starting an execution, whose page follows it to SUCCESS with a Gantt bar for
//!   each task run and each task of its topology marked SUCCESS;
//! - a running execution: log lines arriving live, its forEach group RUNNING in the topology,
//!   kill from its button, restart from its button, each ending as the API says.
//!
//! Screenshots of each page go to `target/ui-screenshots/` (the README shows two of them).

#![allow(clippy::unwrap_used)]

mod common;
mod support_browser;

use std::time::Duration;

use common::server::Server;
use serde_json::json;
use support_browser::Browser;

fn example(path: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(path),
    )
    .unwrap()
}

async fn deploy(server: &Server, yaml: &str) {
    let (status, doc) = server.post("/api/v1/flows", yaml).await;
    assert_eq!(status, 201, "{doc}");
}

/// A flow that logs a line every 100 ms for as long as it runs (`inputs.lines` of them), so a
/// test watches logs arrive and can kill it while it runs.
const TICKER: &str = r#"
id: ticker
namespace: ui
inputs:
  - id: lines
    type: int
    default: 600
tasks:
  - id: tick
    type: flow.forEach
    values: "{{ range(inputs.lines) | list }}"
    concurrency: 1
    tasks:
      - id: line
        type: core.log
        message: "tick {{ taskrun.value }}"
      - id: pause
        type: flow.sleep
        duration: 100ms
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_flow_page_shows_the_topology_underlines_mistakes_and_diffs_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, &example("cicd/pipeline.yaml")).await;
    deploy(&server, &example("flows/hello.yaml")).await;
    let browser = Browser::start(&server.base).await;

    // The pipeline's topology: its parallel groups with their tasks, what each may touch, the
    // order, and the errors handler.
    browser.open("/flows/examples.cicd/shop-delivery").await;
    browser.wait_for("g.node[data-task=clone]").await;
    assert_eq!(
        browser.eval("document.querySelector('g.node[data-task=clone]').dataset.type").await,
        json!("git.clone")
    );
    for (group, members) in
        [("checks", ["unitTests", "lint"].as_slice()), ("gates", &["testGate", "coverageGate", "lintGate"])]
    {
        for member in members {
            let inside =
                format!("!!document.querySelector('g.group[data-task={group}] g.node[data-task={member}]')");
            assert_eq!(browser.eval(&inside).await, json!(true), "{member} in {group}");
        }
    }
    let release = browser.text("g.node[data-task=release]").await;
    assert!(release.contains("kubernetes.deploy") && release.contains("secret"), "{release}");
    let unit = browser.text("g.node[data-task=unitTests]").await;
    assert!(unit.contains("docker"), "{unit}");
    assert_eq!(
        browser.eval("!!document.querySelector('path.edge[data-from=clone][data-to=checks]')").await,
        json!(true)
    );
    for handler in ["page", "tellAuthor"] {
        let inside =
            format!("!!document.querySelector('g.handlers[data-list=errors] g.node[data-task={handler}]')");
        assert_eq!(browser.eval(&inside).await, json!(true), "{handler} handles errors");
    }
    browser.screenshot("flow-topology").await;

    // A mistake typed into the editor: underlined where `sluice validate` puts its carets.
    browser.open("/flows/examples/hello").await;
    browser.wait_for_text("#flow-problems-status", "valid").await;
    let typed = "document.getElementById('flow-editor')";
    browser
        .eval(&format!(
            "(() => {{ const e = {typed}; const at = e.value.indexOf('type: core.log') + 'type: core.'.length; e.focus(); e.setSelectionRange(at, at + 3); return true; }})()"
        ))
        .await;
    browser.type_into("#flow-editor", "lgo").await;
    let problem = browser.wait_for_text("#flow-problems .problem", "has no task `lgo`").await;
    assert_eq!(problem.attr("data-line").await.unwrap().as_deref(), Some("17"));
    assert_eq!(problem.attr("data-column").await.unwrap().as_deref(), Some("11"));
    assert!(problem.text().await.unwrap().contains("did you mean `core.log`?"));
    let mark = browser.wait_for(".problem-mark[data-line='17']").await;
    assert_eq!(mark.text().await.unwrap(), "core.lgo");
    assert_eq!(browser.text("#flow-problems-status").await, "1 problem");
    browser.screenshot("flow-editor-problem").await;

    // Fixed and saved: a new revision, and the diff between the two.
    browser
        .eval(&format!(
            "(() => {{ const e = {typed}; const at = e.value.indexOf('core.lgo') + 'core.'.length; e.setSelectionRange(at, at + 3); return true; }})()"
        ))
        .await;
    browser.type_into("#flow-editor", "log").await;
    browser.wait_for_text("#flow-problems-status", "valid").await;
    browser
        .eval(&format!(
            "(() => {{ const e = {typed}; e.setSelectionRange(e.value.length, e.value.length); return true; }})()"
        ))
        .await;
    // The editor indents after a key that opens a mapping, as a person expects.
    browser.type_into("#flow-editor", "labels:\nteam: web").await;
    browser.wait_for_text("#flow-problems-status", "valid").await;
    browser.click("[data-action=save]").await;
    let saved = browser.wait_for_text("#save-result", "Saved revision 2").await;
    assert_eq!(saved.attr("data-revision").await.unwrap().as_deref(), Some("2"));
    let (_, stored) = server.get("/api/v1/flows/examples/hello").await;
    assert_eq!(stored["revision"], 2);
    assert!(stored["source"].as_str().unwrap().ends_with("labels:\n  team: web"), "{stored}");
    browser.click("#flow-revisions input[name=diff-a][value='1']").await;
    browser.click("#flow-revisions input[name=diff-b][value='2']").await;
    browser.wait_for(".diff .diff-add").await;
    // Each added line with its number in the new revision.
    assert_eq!(browser.texts(".diff .diff-add").await, ["29\n+\nlabels:", "30\n+\n  team: web"]);
    let deleted = browser.texts(".diff .diff-del").await;
    assert!(deleted.is_empty(), "{deleted:?}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_from_the_form_is_followed_to_success_with_a_bar_per_task_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, &example("flows/hello.yaml")).await;
    let browser = Browser::start(&server.base).await;

    browser.open("/flows/examples/hello/run").await;
    let name = browser.wait_for("form.run [name=name]").await;
    assert_eq!(name.prop("value").await.unwrap().as_deref(), Some("world"), "the default is filled in");
    name.clear().await.unwrap();
    name.send_keys("browser").await.unwrap();
    browser.click("[data-action=run]").await;
    browser.wait_until("the execution's page opens", "location.pathname.startsWith('/executions/')").await;
    browser.wait_for_text("#execution-state", "SUCCESS").await;
    let id = browser.path().await.trim_start_matches("/executions/").to_string();
    let (_, doc) = server.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(
        (doc["state"].as_str(), &doc["flowOutputs"]["greeting"]),
        (Some("SUCCESS"), &json!("Hello, browser!"))
    );
    // A row and an attempt's bar for each task run, in the state the API gives.
    for run in ["greet", "check"] {
        let row = browser.wait_for(&format!(".gantt-row[data-run={run}]")).await;
        assert_eq!(row.attr("data-state").await.unwrap().as_deref(), Some("SUCCESS"), "{run}");
        let bar = format!("!!document.querySelector('.gantt-row[data-run={run}] .bar[data-attempt=\"1\"]')");
        assert_eq!(browser.eval(&bar).await, json!(true), "{run} has its attempt's bar");
    }
    let line = browser.wait_for_text(".log-line[data-task=greet]", "Hello, browser!").await;
    assert!(line.attr("data-seq").await.unwrap().is_some());
    // The topology of the execution's revision: each task marked with its run's state, in
    // words too; choosing a task filters the logs to it.
    for task in ["greet", "check"] {
        let node = format!("#execution-topology g.node[data-task={task}]");
        browser
            .wait_until(
                &format!("{task} marked SUCCESS in the topology"),
                &format!("document.querySelector('{node}')?.dataset.state === 'SUCCESS'"),
            )
            .await;
        assert!(browser.text(&format!("{node} .node-state")).await.contains("SUCCESS"), "{task}");
    }
    browser.click("#execution-topology g.node[data-task=check]").await;
    browser
        .wait_until(
            "the logs filtered to check",
            "document.querySelector('.logs select[name=task]').value === 'task:check'",
        )
        .await;
    assert_eq!(browser.eval("!!document.querySelector('.log-line[data-task=greet]')").await, json!(false));
    browser.click("#execution-topology g.node[data-task=check]").await;
    browser.wait_for_text(".log-line[data-task=greet]", "Hello, browser!").await;
    browser.screenshot("execution-success").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_execution_shows_logs_live_and_is_killed_then_restarted_from_its_buttons() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, TICKER).await;
    let (status, started) = server.post("/api/v1/executions/ui/ticker", "{}").await;
    assert_eq!(status, 202, "{started}");
    let id = started["executionId"].as_str().unwrap().to_string();
    let browser = Browser::start(&server.base).await;

    browser.open(&format!("/executions/{id}")).await;
    browser.wait_for_text("#execution-state", "RUNNING").await;
    // Lines keep arriving while the page is open: the count grows without a reload.
    browser.wait_for_text(".log-line", "tick 1").await;
    let count = "Number(document.querySelector('.log-count').textContent.match(/\\d+/)[0])";
    let before = browser.eval(count).await.as_u64().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = browser.eval(count).await.as_u64().unwrap();
    assert!(after >= before + 5, "log lines arrived live: {before} then {after}");
    assert_eq!(
        browser.eval("!!document.querySelector('.gantt-row[data-run^=\"line[\"]')").await,
        json!(true)
    );
    // The topology: the forEach group running, its body tasks counting their iterations.
    let tick = "#execution-topology g.group[data-task=tick]";
    browser
        .wait_until(
            "tick RUNNING in the topology",
            &format!("document.querySelector('{tick}')?.dataset.state === 'RUNNING'"),
        )
        .await;
    assert!(browser.text(&format!("{tick} > .node-state")).await.contains("RUNNING"));
    browser.wait_for_text("#execution-topology g.node[data-task=line] .node-state", "✓").await;
    browser.screenshot("execution-running").await;

    // Kill from the button: the page follows the execution to KILLED.
    browser.click("button[data-action=kill]").await;
    browser.wait_for_text("#execution-state", "KILLED").await;
    let (_, doc) = server.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(doc["state"], "KILLED");
    // The group as the API gives its run.
    let run = doc["taskRuns"].as_array().unwrap().iter().find(|r| r["id"] == "tick").unwrap();
    let state = run["state"].as_str().unwrap();
    assert_ne!(state, "RUNNING", "{run}");
    browser
        .wait_until(
            &format!("tick {state} in the topology"),
            &format!("document.querySelector('{tick}')?.dataset.state === '{state}'"),
        )
        .await;

    // Restart from the button: the same execution runs again.
    browser.click("button[data-action=restart]").await;
    browser.wait_for_text("#execution-state", "RUNNING").await;
    let running = server.wait_for_state(&id, "RUNNING").await;
    assert_eq!(running["executionId"], id.as_str());
    browser.click("button[data-action=kill]").await;
    browser.wait_for_text("#execution-state", "KILLED").await;
    browser.close().await;
}

/// A release that waits for an approval with typed inputs, then runs a subflow.
const APPROVAL: &str = r#"
id: approval
namespace: ui
tasks:
  - id: approve
    type: flow.pause
    onResume:
      - id: approved
        type: bool
        default: false
      - id: env
        type: select
        values: [staging, prod]
        default: staging
      - id: replicas
        type: int
  - id: child
    type: flow.subflow
    namespace: examples
    flowId: hello
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_execution_resumes_from_its_form_and_its_subflow_links_to_the_child_execution() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    deploy(&server, &example("flows/hello.yaml")).await;
    deploy(&server, APPROVAL).await;
    let (status, started) = server.post("/api/v1/executions/ui/approval", "{}").await;
    assert_eq!(status, 202, "{started}");
    let id = started["executionId"].as_str().unwrap().to_string();
    server.wait_for_state(&id, "PAUSED").await;
    let browser = Browser::start(&server.base).await;

    browser.open(&format!("/executions/{id}")).await;
    browser.wait_for_text("#execution-state", "PAUSED").await;
    // The form has the pause's declared inputs, with their defaults.
    let form = "form.resume-form[data-run=approve]";
    browser.wait_for(&format!("{form} #resume-replicas")).await;
    assert_eq!(browser.eval("document.getElementById('resume-approved').checked").await, json!(false));
    assert_eq!(browser.eval("document.getElementById('resume-env').value").await, json!("staging"));
    assert_eq!(
        browser.eval("document.getElementById('resume-replicas').getAttribute('aria-required')").await,
        json!("true")
    );
    browser.click("#resume-approved").await;
    browser.eval("(() => { document.getElementById('resume-env').value = 'prod'; return true; })()").await;
    browser.type_into("#resume-replicas", "3").await;
    browser.screenshot("execution-paused").await;
    browser.click(&format!("{form} button[data-action=resume]")).await;
    browser.wait_for_text("#execution-state", "SUCCESS").await;
    let (_, doc) = server.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(doc["outputs"]["approve"], json!({"approved": true, "env": "prod", "replicas": 3}));

    // The subflow's node links to the execution it started, not to the flow.
    let (_, children) = server.get(&format!("/api/v1/executions?parent={id}")).await;
    let children = children.as_array().unwrap();
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(children[0]["parent"], json!({"executionId": id, "taskRun": "child"}));
    assert_eq!(children[0]["flowId"], "hello");
    let child = children[0]["executionId"].as_str().unwrap().to_string();
    browser.open(&format!("/executions/{id}")).await;
    let link = browser.wait_for("#execution-topology g.node[data-task=child] a.subflow-link").await;
    assert_eq!(link.attr("href").await.unwrap(), Some(format!("/executions/{child}")));
    link.click().await.unwrap();
    browser
        .wait_until("the child's page opens", &format!("location.pathname === '/executions/{child}'"))
        .await;
    browser.wait_for_text("#execution-state", "SUCCESS").await;
    browser.close().await;
}
