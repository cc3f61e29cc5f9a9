//! Running gate flows through the real `sluice` binary: a data dir per test, report fixtures
//! handed to the flow as `file` inputs (they land at `/workspace/inputs/<id>/<name>`), and
//! `sluice run --json` for the execution document.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "../common/doc.rs"]
mod doc;
pub use doc::run_of;

/// The fixture `name` of this directory.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support_gate").join(name)
}

/// A temporary data dir.
pub struct Env {
    pub data: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env { data: tempfile::tempdir().unwrap() }
    }

    /// Writes `text` as the file `name` in the data dir (a report made by the test).
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.data.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `sluice run --json` of a flow with one `report` file input (when `report` is given) and
    /// the task `gate` of type `task` with `config` (YAML lines, indented by 4): the exit code
    /// and the document.
    pub fn run(&self, task: &str, config: &str, report: Option<&Path>) -> (i32, Value) {
        let inputs = if report.is_some() { "inputs:\n  - {id: report, type: file}\n" } else { "" };
        let yaml =
            format!("id: gate\nnamespace: t\n{inputs}tasks:\n  - id: gate\n    type: {task}\n{config}");
        let report = report.map(|r| format!("report={}", r.display()));
        self.run_flow(&yaml, report.as_slice())
    }

    /// `sluice run --json` of the flow `yaml` with `-i` for each of `inputs` (`id=value`).
    pub fn run_flow(&self, yaml: &str, inputs: &[String]) -> (i32, Value) {
        let flow = self.data.path().join("flow.yaml");
        std::fs::write(&flow, yaml).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg("--data-dir").arg(self.data.path()).arg("run").arg(&flow).arg("--json");
        for input in inputs {
            command.arg("-i").arg(input);
        }
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
        });
        (output.status.code().unwrap(), doc)
    }
}

/// The YAML blocks of a document (```` ```yaml ```` fences) that are whole flows (`id:` first).
pub fn doc_flows(markdown: &str) -> Vec<String> {
    let mut flows = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(block), "```") => {
                if block.starts_with("id:") {
                    flows.push(block.clone());
                }
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    flows
}

/// The outputs of the gate task.
pub fn outputs(doc: &Value) -> Value {
    doc["outputs"]["gate"].clone()
}

/// The error of the gate task's run.
pub fn error(doc: &Value) -> String {
    let run = run_of(doc, "gate");
    run["error"].as_str().unwrap_or_else(|| panic!("the gate has no error: {run:#}")).to_string()
}
