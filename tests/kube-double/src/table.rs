//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for when it prints for people
//! (`kubectl get pods`), with the columns the real server gives the served kinds.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// Whether the client asked for a Table first.
pub fn wanted(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| first.contains("as=Table"))
}

/// `5s`, `3m20s`, `4h`, as `kubectl` ages read.
fn human(seconds: i64) -> String {
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 { format!("{m}m") } else { format!("{m}m{}s", s % 60) }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 { format!("{h}h") } else { format!("{h}h{}m", m % 60) }
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        if h % 24 == 0 { format!("{d}d") } else { format!("{d}d{}h", h % 24) }
    } else {
        format!("{d}d")
    }
}

fn age(object: &Value) -> String {
    object["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| human(chrono::Utc::now().signed_duration_since(t).num_seconds()))
        .unwrap_or_else(|| "<unknown>".into())
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn pod_status(pod: &Value) -> String {
    if pod["metadata"]["deletionTimestamp"].is_string() {
        return "Terminating".into();
    }
    let waiting = pod["status"]["containerStatuses"].as_array().into_iter().flatten().find_map(|c| {
        c["state"]["waiting"]["reason"].as_str().or(c["state"]["terminated"]["reason"].as_str())
    });
    match waiting {
        Some(reason) => reason.to_string(),
        None => pod["status"]["phase"].as_str().unwrap_or("Pending").to_string(),
    }
}

/// The columns (name, type) and the cells of one object.
fn columns(rt: &ResourceType, o: &Value) -> (Vec<(&'static str, &'static str)>, Vec<Value>) {
    let (spec, status) = (&o["spec"], &o["status"]);
    let count = |v: &Value| v.as_object().map(|m| m.len()).unwrap_or(0);
    match rt.kind {
        "Pod" => {
            let statuses = status["containerStatuses"].as_array().cloned().unwrap_or_default();
            let total = spec["containers"].as_array().map(Vec::len).unwrap_or(0);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses.iter().map(|c| int(&c["restartCount"])).sum();
            (
                vec![("Ready", "string"), ("Status", "string"), ("Restarts", "string")],
                vec![json!(format!("{ready}/{total}")), json!(pod_status(o)), json!(restarts.to_string())],
            )
        }
        "Deployment" => (
            vec![("Ready", "string"), ("Up-to-date", "integer"), ("Available", "integer")],
            vec![
                json!(format!("{}/{}", int(&status["readyReplicas"]), int(&spec["replicas"]))),
                json!(int(&status["updatedReplicas"])),
                json!(int(&status["availableReplicas"])),
            ],
        ),
        "ReplicaSet" => (
            vec![("Desired", "integer"), ("Current", "integer"), ("Ready", "integer")],
            vec![
                json!(int(&spec["replicas"])),
                json!(int(&status["replicas"])),
                json!(int(&status["readyReplicas"])),
            ],
        ),
        "StatefulSet" => (
            vec![("Ready", "string")],
            vec![json!(format!("{}/{}", int(&status["readyReplicas"]), int(&spec["replicas"])))],
        ),
        "DaemonSet" => (
            vec![
                ("Desired", "integer"),
                ("Current", "integer"),
                ("Ready", "integer"),
                ("Up-to-date", "integer"),
                ("Available", "integer"),
            ],
            vec![
                json!(int(&status["desiredNumberScheduled"])),
                json!(int(&status["currentNumberScheduled"])),
                json!(int(&status["numberReady"])),
                json!(int(&status["updatedNumberScheduled"])),
                json!(int(&status["numberAvailable"])),
            ],
        ),
        "Service" => {
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{}/{}", int(&p["port"]), p["protocol"].as_str().unwrap_or("TCP")))
                .collect();
            (
                vec![
                    ("Type", "string"),
                    ("Cluster-IP", "string"),
                    ("External-IP", "string"),
                    ("Port(s)", "string"),
                ],
                vec![
                    spec["type"].clone(),
                    json!(spec["clusterIP"].as_str().unwrap_or("<none>")),
                    json!("<none>"),
                    json!(if ports.is_empty() { "<none>".to_string() } else { ports.join(",") }),
                ],
            )
        }
        "Namespace" => (vec![("Status", "string")], vec![status["phase"].clone()]),
        "ConfigMap" => (vec![("Data", "integer")], vec![json!(count(&o["data"]) + count(&o["binaryData"]))]),
        "Secret" => {
            (vec![("Type", "string"), ("Data", "integer")], vec![o["type"].clone(), json!(count(&o["data"]))])
        }
        _ => (Vec::new(), Vec::new()),
    }
}

/// The Table of `items` (one for a get, all for a list).
pub fn of(rt: &ResourceType, items: &[Value], resource_version: &Value) -> Value {
    let sample = items.first().cloned().unwrap_or(json!({}));
    let (names, _) = columns(rt, &sample);
    let mut definitions =
        vec![json!({"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0})];
    definitions.extend(
        names
            .iter()
            .map(|(n, t)| json!({"name": n, "type": t, "format": "", "description": "", "priority": 0})),
    );
    definitions
        .push(json!({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0}));
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            cells.extend(columns(rt, o).1);
            cells.push(json!(age(o)));
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        assert_eq!(human(5), "5s");
        assert_eq!(human(119), "119s");
        assert_eq!(human(200), "3m20s");
        assert_eq!(human(3600), "60m");
        assert_eq!(human(4 * 3600 + 60), "4h1m");
        assert_eq!(human(30 * 3600), "30h");
        assert_eq!(human(3 * 86400), "3d");
    }
}
