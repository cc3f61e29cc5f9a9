//! The docker plugin end to end, images: `docker.build` (contexts, build args, labels,
//! targets, pulls), `docker.tag`, `docker.push` and `docker.pull` against real registries on
//! 127.0.0.1, through the real `sluice` binary and a real dockerd.

#![allow(clippy::unwrap_used)]

mod common;
use common::doc::run_of;

#[path = "../../sandbox/tests/docker_env/mod.rs"]
mod docker_env;
mod support_docker;

use docker_env::{BUSYBOX, Registry, build_image, closed_port, docker, docker_output};
use serde_json::{Value, json};
use support_docker::{Env, Versions, flow_yaml, prepare, stale_and_fresh, task_lines};

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
