//! The docker plugin end to end: the real `sluice` binary runs flows whose `docker.*` tasks
//! reach a real dockerd through the host's route, and push to and pull from real registries on
//! 127.0.0.1. Exact outputs, errors, log lines, files and containers.

#![allow(clippy::unwrap_used)]

mod common;
use common::doc::run_of;

#[path = "../../sandbox/tests/docker_env/mod.rs"]
mod docker_env;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use docker_env::{BUSYBOX, Registry, docker, docker_output, labelled_containers};
use serde_json::{Value, json};

/// A temporary data dir and the flows written into it.
struct Env {
    data: tempfile::TempDir,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Env {
    fn new() -> Env {
        let serial = docker_env::serial();
        docker_env::ready();
        Env { data: tempfile::tempdir().unwrap(), _serial: serial }
    }

    fn flow(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.data.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn sluice(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg("--data-dir").arg(self.data.path()).args(args);
        for (key, value) in envs {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    /// `sluice run --json`: the exit code and the document.
    fn run_json(&self, flow: &Path, envs: &[(&str, &str)]) -> (i32, Value) {
        let output = self.sluice(&["run", flow.to_str().unwrap(), "--json"], envs);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
        });
        (output.status.code().unwrap(), doc)
    }

    /// `sluice run` with progress lines: the exit code and stdout.
    fn run_text(&self, flow: &Path, envs: &[(&str, &str)]) -> (i32, String) {
        let output = self.sluice(&["run", flow.to_str().unwrap()], envs);
        (output.status.code().unwrap(), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn workspace(&self, doc: &Value) -> PathBuf {
        self.data.path().join("workspaces").join(doc["executionId"].as_str().unwrap())
    }
}

/// The lines of a task in `sluice run`'s progress output, without the task id and level.
fn task_lines(stdout: &str, task: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix(task)?.trim_start();
            let (_level, message) = rest.split_once(char::is_whitespace)?;
            Some(message.trim_start().to_string())
        })
        .collect()
}

/// A first task that writes `files` (path, content) into the workspace through a container, so
/// later tasks find them there.
fn prepare(files: &[(&str, &str)]) -> String {
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

#[test]
fn run_copies_files_in_and_out_and_turns_output_lines_into_outputs() {
    let env = Env::new();
    let flow = env.flow(
        "files",
        &format!(
            r#"id: files
namespace: t
tasks:
{prepare}  - id: shout
    type: docker.run
    image: {BUSYBOX}
    pull: never
    allow: {{docker: true}}
    inputFiles: [notes]
    env:
      SUFFIX: "!"
    commands:
      - test ! -e other.txt
      - tr a-z A-Z < notes/sub/a.txt | sed "s/$/$SUFFIX/" > shout.txt
      - mkdir -p reports && echo '<ok/>' > reports/one.xml && echo skip > reports/one.log
      - "echo '::{{\"outputs\": {{\"lines\": 2, \"word\": \"hi\"}}}}::'"
      - echo done
    outputFiles: [shout.txt, "reports/*.xml"]
  - id: whole
    type: docker.run
    image: {BUSYBOX}
    pull: never
    allow: {{docker: true}}
    inputFiles: true
    workdir: /src
    commands:
      - cat other.txt shout.txt
"#,
            prepare = prepare(&[("notes/sub/a.txt", "one\ntwo\n"), ("other.txt", "other\n")])
        ),
    );
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["outputs"]["prepare"],
        json!({"exitCode": 0, "outputFiles": ["notes/sub/a.txt", "other.txt"]})
    );
    assert_eq!(
        doc["outputs"]["shout"],
        json!({"exitCode": 0, "outputFiles": ["reports/one.xml", "shout.txt"], "lines": 2, "word": "hi"})
    );
    assert_eq!(doc["outputs"]["whole"], json!({"exitCode": 0, "outputFiles": []}));
    let workspace = env.workspace(&doc);
    assert_eq!(std::fs::read_to_string(workspace.join("shout.txt")).unwrap(), "ONE!\nTWO!\n");
    assert_eq!(std::fs::read_to_string(workspace.join("reports/one.xml")).unwrap(), "<ok/>\n");
    assert!(!workspace.join("reports/one.log").exists());
    assert_eq!(labelled_containers(), Vec::<String>::new());

    // The logs: stdout at INFO, the outputs line consumed, and the whole workspace copied in.
    let (code, stdout) = env.run_text(&flow, &[]);
    assert_eq!(code, 0, "{stdout}");
    let shout = task_lines(&stdout, "shout");
    assert_eq!(
        shout,
        ["copied 1 input files into /workspace", "done", "copied 2 output files into the workspace"]
    );
    let whole = task_lines(&stdout, "whole");
    assert_eq!(whole[1..], ["other", "ONE!", "TWO!"], "{stdout}");
}

#[test]
fn run_fails_on_a_non_zero_exit_with_the_code_and_the_last_lines_and_removes_the_container() {
    let env = Env::new();
    let flow = env.flow(
        "exit",
        &format!(
            r#"id: exit
namespace: t
tasks:
  - id: tests
    type: docker.run
    image: {BUSYBOX}
    pull: never
    allow: {{docker: true}}
    commands:
      - echo compiling
      - echo "3 tests failed"
      - exit 3
      - echo never
"#
        ),
    );
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(run_of(&doc, "tests")["state"], "FAILED");
    assert_eq!(
        run_of(&doc, "tests")["error"],
        "failed: the container exited with code 3; last lines:\ncompiling\n3 tests failed"
    );
    assert_eq!(labelled_containers(), Vec::<String>::new());
}

#[test]
fn a_timed_out_run_leaves_no_container() {
    let env = Env::new();
    let flow = env.flow(
        "slow",
        &format!(
            r#"id: slow
namespace: t
tasks:
  - id: slow
    type: docker.run
    image: {BUSYBOX}
    pull: never
    timeout: 3s
    allow: {{docker: true}}
    commands:
      - sleep 120
"#
        ),
    );
    let started = Instant::now();
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(run_of(&doc, "slow")["state"], "FAILED");
    assert_eq!(run_of(&doc, "slow")["error"], "timed out after 3s");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(labelled_containers(), Vec::<String>::new());
}

#[test]
fn without_the_grant_docker_is_denied() {
    let env = Env::new();
    let flow = env.flow(
        "nogrant",
        &format!("id: nogrant\nnamespace: t\ntasks:\n  - id: run\n    type: docker.run\n    image: {BUSYBOX}\n    commands: [\"true\"]\n"),
    );
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "run")["error"],
        "denied: the Docker Engine API was refused by the host: add `docker: true` to the task's `allow`"
    );
    let (_, stdout) = env.run_text(&flow, &[]);
    assert!(
        task_lines(&stdout, "run").contains(
            &"denied: Docker Engine API (not granted; add `docker: true` to the task's `allow`)".to_string()
        ),
        "{stdout}"
    );
}

const DOCKERFILE: &str = "FROM sluice-test/busybox:latest\nARG GREETING=unset\nCOPY . /ctx\nRUN echo \"$GREETING\" > /greeting\nRUN echo step-output-line\n";

#[test]
fn build_sends_the_context_without_ignored_files_and_uses_build_args_and_labels() {
    let env = Env::new();
    let tag = "sluice-test/built:args";
    let _ = docker_output(&["rmi", "-f", tag]);
    // A fresh value every time, so the steps after the ARG run instead of coming from the cache.
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let greeting = format!("hello-{nonce}");
    let flow = env.flow(
        "build",
        &format!(
            r#"id: build
namespace: t
tasks:
{prepare}  - id: image
    type: docker.build
    context: app
    tags: ["{tag}"]
    buildArgs:
      GREETING: "{greeting}"
    labels:
      org.example.revision: abc123
    allow: {{docker: true}}
"#,
            prepare = prepare(&[
                ("app/Dockerfile", DOCKERFILE),
                ("app/.dockerignore", "*.log\nsecret/\n!secret/public.txt\n"),
                ("app/src/main.txt", "main\n"),
                ("app/debug.log", "noise\n"),
                ("app/secret/key.txt", "k\n"),
                ("app/secret/public.txt", "p\n"),
            ])
        ),
    );
    let (code, stdout) = env.run_text(&flow, &[]);
    assert_eq!(code, 0, "{stdout}");
    let lines = task_lines(&stdout, "image");
    assert!(lines.contains(&"step-output-line".to_string()), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("Step 4/6 : RUN echo \"$GREETING\" > /greeting")),
        "{lines:?}"
    );
    let inspect: Value = serde_json::from_str(&docker(&["image", "inspect", tag])).unwrap();
    let image_id = inspect[0]["Id"].as_str().unwrap().to_string();
    assert_eq!(inspect[0]["Config"]["Labels"]["org.example.revision"], "abc123");
    assert!(lines.contains(&format!("built {image_id}")), "{lines:?}");
    let files = docker(&["run", "--rm", tag, "sh", "-c", "cat /greeting; cd /ctx && find . -type f | sort"]);
    assert_eq!(
        files,
        format!("{greeting}\n./.dockerignore\n./Dockerfile\n./secret/public.txt\n./src/main.txt\n")
    );

    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["outputs"]["image"], json!({"imageId": image_id, "tags": [tag]}));
    docker(&["rmi", "-f", tag]);
}

#[test]
fn build_fails_with_the_daemons_message_on_a_failing_step() {
    let env = Env::new();
    let flow = env.flow(
        "badbuild",
        &format!(
            r#"id: badbuild
namespace: t
tasks:
{prepare}  - id: image
    type: docker.build
    allow: {{docker: true}}
"#,
            prepare = prepare(&[(
                "Dockerfile",
                "FROM sluice-test/busybox:latest\nRUN echo before-failing\nRUN exit 7\n"
            )])
        ),
    );
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        run_of(&doc, "image")["error"],
        "failed: the build failed: The command '/bin/sh -c exit 7' returned a non-zero code: 7"
    );
}

#[test]
fn a_missing_dockerfile_is_a_config_error_naming_the_path() {
    let env = Env::new();
    let flow = env.flow(
        "nodockerfile",
        &format!(
            r#"id: nodockerfile
namespace: t
tasks:
{prepare}  - id: image
    type: docker.build
    context: app
    dockerfile: build/Dockerfile.prod
    allow: {{docker: true}}
"#,
            prepare = prepare(&[("app/readme.txt", "no dockerfile here\n")])
        ),
    );
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        run_of(&doc, "image")["error"],
        "invalid config: `dockerfile`: `app/build/Dockerfile.prod` does not exist in the workspace"
    );
}

/// Tags the busybox image into `registry`, pushes it with `docker.push`, removes the local
/// copies and pulls it back by digest with `docker.pull`.
fn push_and_pull(registry: &Registry, credentials: &str, secret: &[(&str, &str)]) {
    let env = Env::new();
    let image = format!("{}/sluice/busybox:v1", registry.address);
    let repo = format!("{}/sluice/busybox", registry.address);
    let flow = env.flow(
        "push",
        &format!(
            r#"id: push
namespace: t
tasks:
  - id: tag
    type: docker.tag
    image: {BUSYBOX}
    tags: ["{image}"]
    allow: {{docker: true}}
  - id: push
    type: docker.push
    image: "{image}"
{credentials}
"#
        ),
    );
    let (code, doc) = env.run_json(&flow, secret);
    assert_eq!(code, 0, "{doc:#}");
    let busybox_id = docker(&["image", "inspect", "-f", "{{.Id}}", BUSYBOX]).trim().to_string();
    assert_eq!(doc["outputs"]["tag"], json!({"imageId": busybox_id, "tags": [image]}));
    let digest = doc["outputs"]["push"]["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    assert_eq!(doc["outputs"]["push"]["image"], format!("{repo}@{digest}"));

    // The registry serves that digest (asked directly, not through sluice).
    let repo_digests = docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &image]);
    assert!(repo_digests.contains(&format!("{repo}@{digest}")), "{repo_digests}");

    docker(&["rmi", &image]);
    let pull_flow = env.flow(
        "pull",
        &format!(
            r#"id: pull
namespace: t
tasks:
  - id: pull
    type: docker.pull
    image: "{repo}@{digest}"
{credentials}
"#
        ),
    );
    let (code, doc) = env.run_json(&pull_flow, secret);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["outputs"]["pull"],
        json!({"imageId": busybox_id, "repoDigests": [format!("{repo}@{digest}")]})
    );
    let _ = docker_output(&["rmi", &format!("{repo}@{digest}")]);
}

#[test]
fn push_then_pull_by_digest_from_a_local_registry() {
    let registry = Registry::start();
    push_and_pull(&registry, "    allow: {docker: true}", &[]);
}

#[test]
fn push_and_pull_with_basic_auth_from_secrets() {
    let registry = Registry::with_basic_auth("ci", "s3cret-pw");
    let credentials = "    username: ci\n    password: \"{{ secret('REGISTRY_PASSWORD') }}\"\n    allow:\n      docker: true\n      secrets: [REGISTRY_PASSWORD]";
    push_and_pull(&registry, credentials, &[("SLUICE_SECRET_REGISTRY_PASSWORD", "s3cret-pw")]);

    // A wrong password fails with the registry's refusal.
    let env = Env::new();
    let image = format!("{}/sluice/busybox:v1", registry.address);
    docker(&["tag", BUSYBOX, &image]);
    let flow = env.flow(
        "badauth",
        &format!("id: badauth\nnamespace: t\ntasks:\n  - id: push\n    type: docker.push\n    image: \"{image}\"\n{credentials}\n"),
    );
    let (code, doc) = env.run_json(&flow, &[("SLUICE_SECRET_REGISTRY_PASSWORD", "wrong")]);
    assert_eq!(code, 1, "{doc:#}");
    let error = run_of(&doc, "push")["error"].as_str().unwrap();
    assert!(error.starts_with(&format!("failed: pushing {image}: ")), "{error}");
    assert!(error.contains("unauthorized") || error.contains("authentication required"), "{error}");
    docker(&["rmi", &image]);
}
