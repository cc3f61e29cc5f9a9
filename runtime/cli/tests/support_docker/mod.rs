//! What the docker plugin's end-to-end tests share: a data dir per test (holding the docker
//! tests' lock, one at a time on the daemon), `sluice run` of flows written into it, and the
//! flows' pieces.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::docker_env::{self, BUSYBOX, build_image, docker};

/// A temporary data dir and the flows written into it.
pub struct Env {
    pub data: tempfile::TempDir,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Env {
    pub fn new() -> Env {
        let serial = docker_env::serial();
        docker_env::ready();
        Env { data: tempfile::tempdir().unwrap(), _serial: serial }
    }

    pub fn flow(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.data.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    pub fn sluice(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg("--data-dir").arg(self.data.path()).args(args);
        for (key, value) in envs {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    /// `sluice run --json`: the exit code and the document.
    pub fn run_json(&self, flow: &Path, envs: &[(&str, &str)]) -> (i32, Value) {
        let output = self.sluice(&["run", flow.to_str().unwrap(), "--json"], envs);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
        });
        (output.status.code().unwrap(), doc)
    }

    /// `sluice run` with progress lines: the exit code and stdout.
    pub fn run_text(&self, flow: &Path, envs: &[(&str, &str)]) -> (i32, String) {
        let output = self.sluice(&["run", flow.to_str().unwrap()], envs);
        (output.status.code().unwrap(), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    pub fn workspace(&self, doc: &Value) -> PathBuf {
        self.data.path().join("workspaces").join(doc["executionId"].as_str().unwrap())
    }
}

/// The lines of a task in `sluice run`'s progress output, without the task id and level.
pub fn task_lines(stdout: &str, task: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix(task)?.trim_start();
            let (_level, message) = rest.split_once(char::is_whitespace)?;
            Some(message.trim_start().to_string())
        })
        .collect()
}

/// A flow `id` of `tasks` (YAML, with `BUSYBOX` standing for the test image).
pub fn flow_yaml(id: &str, tasks: &str) -> String {
    format!("id: {id}\nnamespace: t\ntasks:\n{}", tasks.replace("BUSYBOX", BUSYBOX))
}

/// A first task that writes `files` (path, content) into the workspace through a container, so
/// later tasks find them there.
pub fn prepare(files: &[(&str, &str)]) -> String {
    let mut commands = String::new();
    let mut outputs = String::new();
    for (path, content) in files {
        if let Some((dir, _)) = path.rsplit_once('/') {
            commands.push_str(&format!("      - mkdir -p '{dir}'\n"));
        }
        let escaped = content.replace('\\', "\\\\").replace('\'', "'\\''").replace('\n', "\\n");
        commands.push_str(&format!("      - printf '{escaped}' > '{path}'\n"));
        outputs.push_str(&format!("      - '{path}'\n"));
    }
    format!(
        "  - id: prepare\n    type: docker.run\n    image: {BUSYBOX}\n    pull: never\n    allow: {{docker: true}}\n    commands:\n{commands}    outputFiles:\n{outputs}"
    )
}

/// The two versions of an image: `new` only in the registry (pushed to `image`, then removed from
/// the daemon), `old` on the daemon under `image` (a stale local copy) and under `keep`.
pub struct Versions {
    pub old: String,
    pub new: String,
    pub keep: String,
}

pub fn stale_and_fresh(image: &str) -> Versions {
    // Named in the image, so no other test's build (or the build cache) makes the same one.
    let new = build_image(
        image,
        &format!("FROM {BUSYBOX}\nRUN echo new > /version && echo {image} > /name\n"),
        &[],
    );
    docker(&["push", image]);
    let old = build_image(
        image,
        &format!("FROM {BUSYBOX}\nRUN echo old > /version && echo {image} > /name\n"),
        &[],
    );
    docker(&["rmi", "-f", &new]);
    let keep = format!("sluice-test/stale:{}", image.replace(['/', ':'], "-"));
    docker(&["tag", &old, &keep]);
    Versions { old, new, keep }
}
