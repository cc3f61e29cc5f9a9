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

use docker_env::{BUSYBOX, Registry, build_image, closed_port, docker, docker_output, labelled_containers};
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

/// A flow `id` of `tasks` (YAML, with `BUSYBOX` standing for the test image).
fn flow_yaml(id: &str, tasks: &str) -> String {
    format!("id: {id}\nnamespace: t\ntasks:\n{}", tasks.replace("BUSYBOX", BUSYBOX))
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

/// Builds an image of its own (one layer, no other tag: nothing of it is on the daemon once it is
/// removed), tags it into `registry` with `docker.tag`, pushes it with `docker.push`, removes it
/// from the daemon and pulls it back by digest with `docker.pull`, so its layer comes from the
/// registry.
fn push_and_pull(registry: &Registry, credentials: &str, secret: &[(&str, &str)]) {
    let env = Env::new();
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let local = format!("sluice-test/pushed:{nonce}");
    let image_id = build_image(
        &local,
        "FROM scratch\nCOPY nonce.txt /nonce.txt\n",
        &[("nonce.txt", &nonce.to_string())],
    );
    let image = format!("{}/sluice/pushed:v1", registry.address);
    let repo = format!("{}/sluice/pushed", registry.address);
    let flow = env.flow(
        "push",
        &format!(
            r#"id: push
namespace: t
tasks:
  - id: tag
    type: docker.tag
    image: {local}
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
    assert_eq!(doc["outputs"]["tag"], json!({"imageId": image_id, "tags": [image]}));
    let digest = doc["outputs"]["push"]["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    assert_eq!(doc["outputs"]["push"]["image"], format!("{repo}@{digest}"));

    // The registry serves that digest (asked directly, not through sluice).
    let repo_digests = docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &image]);
    assert!(repo_digests.contains(&format!("{repo}@{digest}")), "{repo_digests}");

    // Gone from the daemon, layer and all: the pull must fetch it.
    docker(&["rmi", &image, &local]);
    assert!(!docker_output(&["image", "inspect", &image_id]).status.success(), "{image_id} is still there");
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
        json!({"imageId": image_id, "repoDigests": [format!("{repo}@{digest}")]})
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

#[test]
fn files_keep_their_executable_bit_into_and_out_of_containers_and_build_contexts() {
    let env = Env::new();
    let tag = "sluice-test/built:modes";
    let _ = docker_output(&["rmi", "-f", tag]);
    // `tool` is executable without a `#!` line, `script.sh` has one but is not executable: the
    // bit, not the content, decides.
    let tasks = r#"  - id: prepare
    type: docker.run
    image: BUSYBOX
    pull: never
    allow: {docker: true}
    commands:
      - mkdir app
      - printf 'echo tool-ran\n' > app/tool
      - chmod 755 app/tool
      - printf '#!/bin/sh\necho script-ran\n' > app/script.sh
      - chmod 644 app/script.sh
      - printf 'FROM BUSYBOX\nCOPY tool script.sh /ctx/\n' > app/Dockerfile
    outputFiles: [app]
  - id: check
    type: docker.run
    image: BUSYBOX
    pull: never
    allow: {docker: true}
    inputFiles: [app]
    commands:
      - cd app
      - 'echo "::{\"outputs\": {\"modes\": \"$(stat -c %a tool script.sh | xargs)\", \"ran\": \"$(./tool)\"}}::"'
  - id: image
    type: docker.build
    context: app
    tags: [TAG]
    allow: {docker: true}
"#;
    let flow = env.flow("modes", &flow_yaml("modes", &tasks.replace("TAG", tag)));
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["outputs"]["prepare"],
        json!({"exitCode": 0, "outputFiles": ["app/Dockerfile", "app/script.sh", "app/tool"]})
    );
    assert_eq!(
        doc["outputs"]["check"],
        json!({"exitCode": 0, "outputFiles": [], "modes": "755 644", "ran": "tool-ran"})
    );
    // Copied out of the container, the workspace files kept the bit too.
    use std::os::unix::fs::PermissionsExt;
    let workspace = env.workspace(&doc);
    let mode = |path: &str| std::fs::metadata(workspace.join(path)).unwrap().permissions().mode();
    assert_eq!(mode("app/tool") & 0o111, 0o111);
    assert_eq!(mode("app/script.sh") & 0o111, 0);
    assert_eq!(
        docker(&["run", "--rm", tag, "stat", "-c", "%a %n", "/ctx/tool", "/ctx/script.sh"]),
        "755 /ctx/tool\n644 /ctx/script.sh\n"
    );
    docker(&["rmi", "-f", tag]);
}

#[test]
fn run_options_user_limits_network_workdir_interpreter_and_entrypoint() {
    let env = Env::new();
    let task = |id: &str, options: &str, commands: &[&str]| {
        let commands: String = commands.iter().map(|c| format!("      - {c}\n")).collect();
        format!(
            "  - id: {id}\n    type: docker.run\n    image: BUSYBOX\n    pull: never\n    allow: {{docker: true}}\n{options}    commands:\n{commands}"
        )
    };
    let tasks = [
        task(
            "user",
            "    user: \"1234:2345\"\n",
            &[r#"'echo "::{\"outputs\": {\"ids\": \"$(id -u):$(id -g)\"}}::"'"#],
        ),
        // cgroup v2 names the limits memory.max and cpu.max, v1 spreads them over controllers.
        task(
            "limits",
            "    memory: 64m\n    cpus: 1.5\n",
            &[
                r#"'if [ -f /sys/fs/cgroup/memory.max ]; then m=$(cat /sys/fs/cgroup/memory.max); c=$(cat /sys/fs/cgroup/cpu.max); else m=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); c="$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"; fi'"#,
                r#"'echo "::{\"outputs\": {\"memory\": \"$m\", \"cpu\": \"$c\"}}::"'"#,
            ],
        ),
        task(
            "nonet",
            "",
            &[r#"'echo "::{\"outputs\": {\"interfaces\": \"$(ls /sys/class/net | xargs)\"}}::"'"#],
        ),
        task(
            "bridge",
            "    network: bridge\n",
            &[r#"'echo "::{\"outputs\": {\"interfaces\": \"$(ls /sys/class/net | xargs)\"}}::"'"#],
        ),
        task(
            "workdir",
            "    workdir: /work/dir\n",
            &[r#"'echo "::{\"outputs\": {\"pwd\": \"$(pwd)\"}}::"'"#],
        ),
        // The script is the interpreter's last argument, without the `set -e` line that only the
        // default interpreter gets (awk would not parse it; sh would stop at `false`).
        task(
            "awk",
            "    interpreter: [/bin/awk]\n",
            &[r#"'BEGIN { print "::{\"outputs\": {\"from\": \"awk\"}}::" }'"#],
        ),
        task(
            "noexit",
            "    interpreter: [sh, -c]\n",
            &["'false'", r#"'echo "::{\"outputs\": {\"after\": \"false\"}}::"'"#],
        ),
        // The entrypoint replaces the image's, and gets the interpreter and script as arguments.
        task("entrypoint", "    entrypoint: [/bin/echo, \"entrypoint got:\"]\n", &["one", "two"]),
    ];
    let flow = env.flow("options", &flow_yaml("options", &tasks.concat()));
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let outputs = &doc["outputs"];
    let ok = |extra: Value| {
        let mut expected = json!({"exitCode": 0, "outputFiles": []});
        expected.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        expected
    };
    assert_eq!(outputs["user"], ok(json!({"ids": "1234:2345"})));
    assert_eq!(outputs["limits"], ok(json!({"memory": "67108864", "cpu": "150000 100000"})));
    assert_eq!(outputs["nonet"], ok(json!({"interfaces": "lo"})));
    assert_eq!(outputs["bridge"], ok(json!({"interfaces": "eth0 lo"})));
    assert_eq!(outputs["workdir"], ok(json!({"pwd": "/work/dir"})));
    assert_eq!(outputs["awk"], ok(json!({"from": "awk"})));
    assert_eq!(outputs["noexit"], ok(json!({"after": "false"})));
    assert_eq!(outputs["entrypoint"], ok(json!({})));

    let (code, stdout) = env.run_text(&flow, &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(task_lines(&stdout, "entrypoint"), ["entrypoint got: /bin/sh -c set -e", "one", "two"]);
    assert_eq!(labelled_containers(), Vec::<String>::new());
}

/// The two versions of an image: `new` only in the registry (pushed to `image`, then removed from
/// the daemon), `old` on the daemon under `image` (a stale local copy) and under `keep`.
struct Versions {
    old: String,
    new: String,
    keep: String,
}

fn stale_and_fresh(image: &str) -> Versions {
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

#[test]
fn run_pulls_as_the_pull_policy_says() {
    let registry = Registry::start();
    let env = Env::new();
    let image = format!("{}/sluice/versioned:v1", registry.address);
    let Versions { old, new, keep } = stale_and_fresh(&image);
    let run = |pull: &str| {
        let flow = env.flow(
            "policy",
            &flow_yaml(
                "policy",
                &format!(
                    "  - id: run\n    type: docker.run\n    image: \"{image}\"\n{pull}    allow: {{docker: true}}\n    commands: [cat /version]\n"
                ),
            ),
        );
        let (code, stdout) = env.run_text(&flow, &[]);
        assert_eq!(code, 0, "{stdout}");
        task_lines(&stdout, "run")
    };
    let pulled = |lines: &[String]| {
        assert_eq!(lines.first(), Some(&format!("pulling {image}")), "{lines:?}");
        assert!(lines.contains(&format!("Status: Downloaded newer image for {image}")), "{lines:?}");
        assert_eq!(lines.last().map(String::as_str), Some("new"), "{lines:?}");
    };

    // `ifNotPresent` (the default) pulls a missing image from the registry...
    docker(&["rmi", &image]);
    pulled(&run(""));
    // ...and leaves one that is there alone, stale or not.
    docker(&["tag", &old, &image]);
    assert_eq!(run("    pull: ifNotPresent\n"), ["old"]);
    // `always` pulls even then.
    pulled(&run("    pull: always\n"));
    assert_eq!(docker(&["image", "inspect", "-f", "{{.Id}}", &image]).trim(), new);

    // `never` fails on a missing image, naming it.
    let flow = env.flow(
        "never",
        &flow_yaml(
            "never",
            "  - id: run\n    type: docker.run\n    image: sluice-test/never-pulled:v0\n    pull: never\n    allow: {docker: true}\n    commands: [\"true\"]\n",
        ),
    );
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        run_of(&doc, "run")["error"],
        "failed: image sluice-test/never-pulled:v0 is not present on the Docker daemon and `pull` is `never`"
    );
    let _ = docker_output(&["rmi", "-f", &image, &keep, &old, &new]);
}

const MULTI_STAGE: &str = "FROM sluice-test/busybox:latest AS base\nRUN echo base > /stages\nFROM base AS test\nRUN echo test >> /stages\nFROM base AS release\nRUN echo release >> /stages\n";

#[test]
fn build_stops_at_the_target_stage_and_reads_a_dockerfile_from_another_path() {
    let env = Env::new();
    let (staged, custom) = ("sluice-test/built:target", "sluice-test/built:custom");
    let _ = docker_output(&["rmi", "-f", staged, custom]);
    let tasks = format!(
        r#"{prepare}  - id: staged
    type: docker.build
    context: app
    target: test
    tags: ["{staged}"]
    allow: {{docker: true}}
  - id: custom
    type: docker.build
    context: app
    dockerfile: build/Dockerfile.prod
    tags: ["{custom}"]
    allow: {{docker: true}}
"#,
        prepare = prepare(&[
            ("app/Dockerfile", MULTI_STAGE),
            ("app/build/Dockerfile.prod", "FROM sluice-test/busybox:latest\nCOPY src/main.txt /main.txt\n"),
            // The Dockerfile is sent even though it is ignored.
            ("app/.dockerignore", "build/\n"),
            ("app/src/main.txt", "main\n"),
        ])
    );
    let flow = env.flow("stages", &flow_yaml("stages", &tasks));
    let (code, stdout) = env.run_text(&flow, &[]);
    assert_eq!(code, 0, "{stdout}");
    let lines = task_lines(&stdout, "staged");
    assert!(lines.iter().any(|l| l.ends_with(": RUN echo test >> /stages")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("echo release")), "{lines:?}");
    assert_eq!(docker(&["run", "--rm", staged, "cat", "/stages"]), "base\ntest\n");
    assert_eq!(docker(&["run", "--rm", custom, "cat", "/main.txt"]), "main\n");

    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 0, "{doc:#}");
    for (task, tag) in [("staged", staged), ("custom", custom)] {
        let id = docker(&["image", "inspect", "-f", "{{.Id}}", tag]).trim().to_string();
        assert_eq!(doc["outputs"][task], json!({"imageId": id, "tags": [tag]}));
    }
    docker(&["rmi", "-f", staged, custom]);
}

#[test]
fn build_with_pull_takes_the_base_image_from_the_registry() {
    let registry = Registry::start();
    let env = Env::new();
    let base = format!("{}/sluice/base:v1", registry.address);
    let Versions { old, new, keep } = stale_and_fresh(&base);
    let (stale, fresh) = ("sluice-test/built:stale", "sluice-test/built:fresh");
    let tasks = format!(
        r#"{prepare}  - id: stale
    type: docker.build
    tags: ["{stale}"]
    allow: {{docker: true}}
  - id: fresh
    type: docker.build
    pull: true
    tags: ["{fresh}"]
    allow: {{docker: true}}
"#,
        prepare = prepare(&[("Dockerfile", &format!("FROM {base}\nRUN cat /version > /seen\n"))])
    );
    let flow = env.flow("pull", &flow_yaml("pull", &tasks));
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 0, "{doc:#}");
    // Without `pull` the stale local base is used, with it the registry's.
    assert_eq!(docker(&["run", "--rm", stale, "cat", "/seen"]), "old\n");
    assert_eq!(docker(&["run", "--rm", fresh, "cat", "/seen"]), "new\n");
    assert_eq!(docker(&["image", "inspect", "-f", "{{.Id}}", &base]).trim(), new);

    // The classic builder fails a build whose base cannot be pulled, even with a local copy.
    let port = closed_port();
    let unreachable = format!("127.0.0.1:{port}/sluice/base:v1");
    docker(&["tag", BUSYBOX, &unreachable]);
    let tasks = format!(
        "{prepare}  - id: image\n    type: docker.build\n    pull: true\n    allow: {{docker: true}}\n",
        prepare = prepare(&[("Dockerfile", &format!("FROM {unreachable}\nRUN true\n"))])
    );
    let flow = env.flow("nopull", &flow_yaml("nopull", &tasks));
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        run_of(&doc, "image")["error"],
        format!(
            "failed: the build failed: Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        )
    );
    let _ = docker_output(&["rmi", "-f", stale, fresh, &unreachable, &base, &keep, &old, &new]);
}
