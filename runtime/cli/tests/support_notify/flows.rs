//! Flows through the real `sluice` binary: a data dir per test, `sluice run --json` for the
//! execution document, `sluice run` for the log lines, and a search of everything a run left
//! (its stdout and stderr, the store's files) for a value that must not be there.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

pub struct Env {
    pub data: tempfile::TempDir,
    /// Every stdout and stderr so far.
    printed: std::cell::RefCell<String>,
}

impl Env {
    pub fn new() -> Env {
        Env { data: tempfile::tempdir().unwrap(), printed: String::new().into() }
    }

    fn flow(&self, yaml: &str) -> PathBuf {
        let path = self.data.path().join("flow.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// Runs `sluice run <flow> [extra]`: the exit code, stdout and stderr.
    fn sluice_run(&self, yaml: &str, extra: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
        let flow = self.flow(yaml);
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--data-dir")
            .arg(self.data.path())
            .arg("run")
            .arg(&flow)
            .args(extra)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        self.printed.borrow_mut().push_str(&format!("{stdout}\n{stderr}\n"));
        (output.status.code().unwrap(), stdout, stderr)
    }

    /// `sluice run --json`: the exit code and the execution document.
    pub fn run_json(&self, yaml: &str, envs: &[(&str, &str)]) -> (i32, Value) {
        let (code, stdout, stderr) = self.sluice_run(yaml, &["--json"], envs);
        let doc = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));
        (code, doc)
    }

    /// `sluice run` with its progress and log lines: the exit code and stdout.
    pub fn run_text(&self, yaml: &str, envs: &[(&str, &str)]) -> (i32, String) {
        let (code, stdout, _) = self.sluice_run(yaml, &[], envs);
        (code, stdout)
    }

    /// Whether `value` is in anything the runs printed (logs, outputs, errors).
    pub fn printed(&self, value: &str) -> bool {
        self.printed.borrow().contains(value)
    }

    /// Whether `value` is in anything the runs printed or stored (the store's files too: for
    /// values given as secrets, which the stored flow does not hold).
    pub fn leaked(&self, value: &str) -> bool {
        if self.printed(value) {
            return true;
        }
        let entries = std::fs::read_dir(self.data.path()).unwrap();
        entries.filter_map(Result::ok).any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("sluice.db")
                && std::fs::read(entry.path())
                    .is_ok_and(|bytes| bytes.windows(value.len()).any(|w| w == value.as_bytes()))
        })
    }
}

/// The task run `id` of an execution document.
pub fn run_of<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["taskRuns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no run {id}: {doc:#}"))
}

/// The lines a task logged in `sluice run`'s output, without the task id and level.
pub fn task_lines(stdout: &str, task: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix(task)?.strip_prefix(' ')?.trim_start();
            let (_level, message) = rest.split_once(char::is_whitespace)?;
            Some(message.trim_start().to_string())
        })
        .collect()
}
