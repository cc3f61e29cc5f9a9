//! `GET /api/v1/flows/{namespace}/{id}/graph`: the parsed flow as a tree, for the UI.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::{api, not_found};

const PARALLEL: &str = include_str!("../../../examples/flows/parallel.yaml");

const GRANTS: &str = "id: grants\nnamespace: t\ninputs:\n  - id: token\n    type: secret\n    default: s3cr3t\n  - id: env\n    type: select\n    values: [dev, prod]\n    default: dev\ntasks:\n  - id: fetch\n    type: core.http\n    url: https://api.example.com/v1\n    allow:\n      network: [\"https://cdn.example.com\"]\n      secrets: [TOKEN]\n      env: [HTTPS_PROXY]\n  - id: branch\n    type: flow.if\n    condition: \"{{ inputs.env == 'prod' }}\"\n    then:\n      - id: child\n        type: flow.subflow\n        namespace: examples\n        flowId: hello\n    else:\n      - id: nap\n        type: flow.sleep\n        duration: 1s\nfinally:\n  - id: bye\n    type: core.log\n    message: bye\n";

#[tokio::test]
async fn the_graph_of_parallel_yaml() {
    let api = api().await;
    assert_eq!(api.post("/api/v1/flows", PARALLEL).await.status, StatusCode::CREATED);
    let graph = api.get("/api/v1/flows/examples/parallel/graph").await;
    assert_eq!(graph.status, StatusCode::OK, "{}", graph.body);
    let none = json!({"network": [], "docker": false, "env": [], "secrets": []});
    let log = |id: &str, line: usize, depends: &[&str]| {
        json!({"id": id, "type": "core.log", "line": line, "description": null, "dependsOn": depends,
               "runIf": null, "allowFailure": false, "disabled": false, "children": [],
               "allow": none, "impliedNetwork": []})
    };
    assert_eq!(
        graph.json(),
        json!({
            "namespace": "examples", "id": "parallel", "revision": 1,
            "description": "Runs independent checks side by side, then reports.",
            "labels": {},
            "inputs": [],
            "tasks": [
                {"id": "checks", "type": "flow.parallel", "line": 8, "description": null, "dependsOn": [],
                 "runIf": null, "allowFailure": false, "disabled": false, "concurrency": 2,
                 "children": [{"label": "tasks", "parallel": true,
                               "tasks": [log("lint", 12, &[]), log("unit", 15, &[]), log("docs", 18, &[])]}]},
                log("package", 24, &[]),
                log("audit", 27, &["checks"]),
                log("report", 31, &["package", "audit"]),
            ],
            "errors": [],
            "finally": [],
        })
    );
}

#[tokio::test]
async fn the_graph_shows_grants_branches_and_subflows_but_no_secret_default() {
    let api = api().await;
    assert_eq!(api.post("/api/v1/flows", GRANTS).await.status, StatusCode::CREATED);
    let graph = api.get("/api/v1/flows/t/grants/graph").await.json();
    assert_eq!(graph["inputs"][0]["type"], "secret");
    assert_eq!(graph["inputs"][0]["default"], json!(null));
    assert_eq!(graph["inputs"][0]["hasDefault"], true);
    assert_eq!(graph["inputs"][1]["values"], json!(["dev", "prod"]));
    assert_eq!(graph["inputs"][1]["default"], "dev");
    assert!(!graph.to_string().contains("s3cr3t"), "{graph}");
    let fetch = &graph["tasks"][0];
    assert_eq!(
        fetch["allow"],
        json!({"network": ["https://cdn.example.com"], "docker": false, "env": ["HTTPS_PROXY"], "secrets": ["TOKEN"]})
    );
    assert_eq!(fetch["impliedNetwork"], json!([{"field": "url", "value": "https://api.example.com/v1"}]));
    let branch = &graph["tasks"][1];
    assert_eq!(branch["condition"], "{{ inputs.env == 'prod' }}");
    let labels: Vec<&str> =
        branch["children"].as_array().unwrap().iter().map(|g| g["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["then", "else"]);
    assert_eq!(
        branch["children"][0]["tasks"][0]["subflow"],
        json!({"namespace": "examples", "id": "hello", "wait": true})
    );
    assert_eq!(branch["children"][1]["tasks"][0]["type"], "flow.sleep");
    assert_eq!(graph["finally"][0]["id"], "bye");

    assert_eq!(api.get("/api/v1/flows/t/nope/graph").await.problem(404), not_found("no flow t.nope"));

    // A pause's resume inputs, as the run form's inputs (a secret's default withheld).
    let approval = "id: approval\nnamespace: t\ntasks:\n  - id: wait\n    type: flow.pause\n    onResume:\n      - id: approved\n        type: bool\n        default: false\n      - id: pin\n        type: secret\n        default: s3cr3t\n";
    assert_eq!(api.post("/api/v1/flows", approval).await.status, StatusCode::CREATED);
    let graph = api.get("/api/v1/flows/t/approval/graph").await.json();
    let on_resume = &graph["tasks"][0]["onResume"];
    assert_eq!(
        (&on_resume[0]["id"], &on_resume[0]["type"], &on_resume[0]["default"]),
        (&json!("approved"), &json!("bool"), &json!(false))
    );
    assert_eq!(
        (&on_resume[1]["type"], &on_resume[1]["default"], &on_resume[1]["hasDefault"]),
        (&json!("secret"), &json!(null), &json!(true))
    );
    assert!(!graph.to_string().contains("s3cr3t"), "{graph}");
    assert_eq!(
        api.get("/api/v1/flows/t/grants/graph?revision=7").await.problem(404),
        not_found("flow t.grants has no revision 7")
    );
}
