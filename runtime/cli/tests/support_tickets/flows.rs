//! Running flows through the real `sluice` binary for the ticket and CI plugin tests: a data
//! dir per test, `sluice run --json` for the document, `sluice run` for the log lines, and a
//! check that a secret is nowhere in what the run left (stdout, stderr, the store, workspaces).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

#[path = "../common/doc.rs"]
mod doc;
pub use doc::run_of;

/// A temporary data dir and the flows written into it.
pub struct Env {
    pub data: tempfile::TempDir,
    runs: std::cell::Cell<usize>,
    seen: std::cell::RefCell<Vec<String>>,
}

impl Env {
    pub fn new() -> Env {
        Env { data: tempfile::tempdir().unwrap(), runs: 0.into(), seen: Vec::new().into() }
    }

    fn write(&self, yaml: &str) -> PathBuf {
        let n = self.runs.get();
        self.runs.set(n + 1);
        let path = self.data.path().join(format!("flow{n}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn sluice(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg("--data-dir").arg(self.data.path()).args(args);
        command.envs(envs.iter().copied());
        let output = command.output().unwrap();
        let mut seen = self.seen.borrow_mut();
        seen.push(String::from_utf8_lossy(&output.stdout).into_owned());
        seen.push(String::from_utf8_lossy(&output.stderr).into_owned());
        output
    }

    /// `sluice run --json`: the exit code and the execution document.
    pub fn run_json(&self, yaml: &str, envs: &[(&str, &str)]) -> (i32, Value) {
        self.run_json_args(yaml, &[], envs)
    }

    /// `sluice run --json` with more arguments (`--input id=value`).
    pub fn run_json_args(&self, yaml: &str, args: &[&str], envs: &[(&str, &str)]) -> (i32, Value) {
        let flow = self.write(yaml);
        let mut all = vec!["run", flow.to_str().unwrap(), "--json"];
        all.extend_from_slice(args);
        let output = self.sluice(&all, envs);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
        });
        (output.status.code().unwrap(), doc)
    }

    /// `sluice run` with progress lines: the exit code and stdout.
    pub fn run_text(&self, yaml: &str, envs: &[(&str, &str)]) -> (i32, String) {
        let flow = self.write(yaml);
        let output = self.sluice(&["run", flow.to_str().unwrap()], envs);
        (output.status.code().unwrap(), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Fails if `secret` is in any run's stdout or stderr, or in any file of the data dir (the
    /// store, the workspaces).
    pub fn assert_secret_nowhere(&self, secret: &str) {
        for text in self.seen.borrow().iter() {
            assert!(!text.contains(secret), "the secret is in the output:\n{text}");
        }
        let mut dirs = vec![self.data.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if !path.to_string_lossy().contains("/cache/") {
                    let bytes = std::fs::read(&path).unwrap();
                    let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                    assert!(!found, "the secret is in {}", path.display());
                }
            }
        }
    }
}

/// The lines of `task` in `sluice run`'s progress output, without the task id and level.
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

/// `Basic base64(user:password)`, as a client sends it.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
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
                    flows.push(std::mem::take(block));
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
