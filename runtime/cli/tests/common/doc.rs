//! Reading the execution document (`sluice run --json`, `GET /executions/{id}`).

#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;

/// The task run `id` (`task`, `task[2]`) of the document's `taskRuns`.
pub fn run_of<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["taskRuns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no run {id}: {doc:#}"))
}
