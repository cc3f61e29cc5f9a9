//! What the trigger tests share: deploying flows to the real `sluice server`, and waiting on
//! their executions and triggers over the API.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::server::Server;

pub async fn deploy(server: &Server, yaml: &str) {
    let (status, doc) = server.post("/api/v1/flows", yaml).await;
    assert_eq!(status, 201, "{doc}");
}

/// Every execution of one flow, oldest first.
pub async fn executions(server: &Server, namespace: &str, flow: &str) -> Vec<Value> {
    let (status, list) = server.get(&format!("/api/v1/executions?namespace={namespace}&flowId={flow}")).await;
    assert_eq!(status, 200);
    let mut list = list.as_array().unwrap().clone();
    list.reverse();
    list
}

pub fn is_terminal(doc: &Value) -> bool {
    ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"].contains(&doc["state"].as_str().unwrap_or(""))
}

/// Polls (generously) until `done` holds for the flow's executions; returns them.
pub async fn wait_executions(
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

pub async fn triggers_of(server: &Server, namespace: &str, flow: &str) -> Vec<Value> {
    let (status, doc) = server.get(&format!("/api/v1/flows/{namespace}/{flow}/triggers")).await;
    assert_eq!(status, 200, "{doc}");
    doc.as_array().unwrap().clone()
}

pub async fn wait_trigger(
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

pub fn assert_problem(status: u16, doc: &Value, expected_status: u16, detail_contains: &str) {
    assert_eq!(status, expected_status, "{doc}");
    assert_eq!(doc["status"], expected_status);
    let detail = doc["detail"].as_str().unwrap();
    assert!(detail.contains(detail_contains), "`{detail}` should contain `{detail_contains}`");
}
