//! The docker plugin end to end, `docker.run`: the real `sluice` binary runs flows whose
//! `docker.*` tasks reach a real dockerd through the host's route. Exact outputs, errors, log
//! lines, files and containers. Builds, pushes and pulls are in `docker_images.rs`.

#![allow(clippy::unwrap_used)]

mod common;
use common::doc::run_of;

#[path = "../../sandbox/tests/docker_env/mod.rs"]
mod docker_env;
mod support_docker;

use std::time::{Duration, Instant};

use docker_env::{BUSYBOX, Registry, docker, docker_output, labelled_containers};
use serde_json::{Value, json};
use support_docker::{Env, Versions, flow_yaml, prepare, stale_and_fresh, task_lines};

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
