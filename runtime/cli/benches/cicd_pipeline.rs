//! `examples/cicd/pipeline.yaml` end to end against the same steps run by hand with the CLIs
//! (wall time per stage and whole, medians over rounds; the orchestration's overhead in %).
//!
//! `cargo bench -p sluice-cli --bench cicd_pipeline [-- ROUNDS]` (default 5). Needs what the
//! `cicd_pipeline` test needs (dockerd, docker-registry, Prometheus, kubectl, git, curl) and the
//! fixed ports of `support_cicd` free: do not run it beside that test.
//!
//! Each round runs both sides, alternating which goes first, each in a fresh `World` of
//! `support_cicd` (git http-backend, `sluice server`, an empty registry on 127.0.0.1:15000, an
//! empty Kubernetes API double whose pods are real containers, Prometheus, the Slack and Jira
//! doubles), started in a child process of this binary: the doubles on fixed ports serve until
//! their process ends, and the process ending frees them. The side's World is dropped and its pod
//! containers checked gone, then the image it built is removed, before the next side starts.
//!
//! - sluice: the signed GitHub push webhook of the first commit, then the execution polled every
//!   25 ms until it ended: the whole is the bench's clock from sending the webhook to seeing the
//!   end (and the document's own `startedAt` → `endedAt`); the stages are the task runs'
//!   `durationMs` (`tellSlack` + `tellJira` as one, `notify`).
//! - by hand: the same steps as a person would type them, each timed: `git init` + `git fetch
//!   --depth 1 <url> <commit>` + `git checkout FETCH_HEAD`; the pipeline's own test and lint
//!   commands (read from pipeline.yaml, run as its docker.run runs them: `/bin/sh -c "set -e
//!   ..."`, `--network none`, in /workspace) in two `docker run --rm` at once over a bind mount
//!   of the checkout; the gates as one `/usr/bin/python3` on the host checking the three
//!   reports against the pipeline's thresholds; `docker build` (the same build arg and revision
//!   label); `docker push` and the digest from `docker inspect`; `kubectl apply --server-side`
//!   of k8s/shop.yaml with the image replaced by the digest, then `kubectl rollout status`; two
//!   `curl` POSTs (Slack's webhook, a Jira comment).
//!
//! Fair: both sides start from the same state (same commit, empty registry, empty cluster, no
//! image of that commit, so no build cache past the base image: each build runs every step of
//! the Dockerfile and each push uploads every layer), on the same daemon, and run the same
//! containers and requests. Both sides check that the Deployment runs the pushed digest and that
//! Slack and Jira got one message each (correctness checks, not timed assertions).

#![allow(clippy::unwrap_used)]
// `common` and `support_git`'s suite both load `common/doc.rs`, each for its own users.
#![allow(clippy::duplicate_mod)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../sandbox/tests/docker_env/mod.rs"]
mod docker_env;
#[allow(dead_code)]
#[path = "../tests/support_tickets/jira.rs"]
mod jira;
#[path = "../tests/support_cicd/mod.rs"]
mod support_cicd;
#[path = "../tests/support_git/mod.rs"]
mod support_git;
#[path = "../tests/support_kube/mod.rs"]
mod support_kube;
#[path = "../tests/support_notify/mod.rs"]
mod support_notify;
/// Only the recording server of the ticket doubles, which the Jira double runs on.
#[path = "../tests/support_tickets"]
mod support_tickets {
    #![allow(dead_code)]
    pub mod http;
}

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use docker_env::docker_output;
use serde_json::{Value, json};
use support_cicd::{IMAGE, JIRA_EMAIL, JIRA_PORT, JIRA_TOKEN, WEBHOOK_SECRET, World, github};

/// Set in the child process: the side it runs.
const SIDE: &str = "SLUICE_CICD_BENCH_SIDE";
const STAGES: [&str; 7] = ["clone", "checks", "gates", "image", "push", "release", "notify"];
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

fn main() {
    if let Ok(side) = std::env::var(SIDE) {
        println!("RESULT {}", run_side(&side));
        return;
    }
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    let load_start = load_average();
    let (mut sluice, mut hand) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 { ["sluice", "hand"] } else { ["hand", "sluice"] };
        for side in order {
            let result = spawn_side(side);
            let stages: Vec<String> =
                STAGES.iter().zip(numbers(&result["stages"])).map(|(s, ms)| format!("{s} {ms:.0}")).collect();
            println!(
                "round {} {side:<6}: total {:.0} ms ({})",
                round + 1,
                result["total"].as_f64().unwrap(),
                stages.join(", ")
            );
            if side == "sluice" { &mut sluice } else { &mut hand }.push(result);
        }
    }
    let load_end = load_average();

    println!("\nshop-delivery, first release, {rounds} rounds: median ms (min-max)");
    println!("  {:<34} {:>22} {:>22} {:>8}", "stage", "sluice", "by hand", "ratio");
    let column = |side: &[Value], i: usize| side.iter().map(|r| numbers(&r["stages"])[i]).collect::<Vec<_>>();
    for (i, stage) in STAGES.iter().enumerate() {
        row(stage, &column(&sluice, i), &column(&hand, i));
    }
    let sum = |side: &[Value]| side.iter().map(|r| numbers(&r["stages"]).iter().sum()).collect::<Vec<f64>>();
    let field = |side: &[Value], key: &str| side.iter().map(|r| r[key].as_f64().unwrap()).collect::<Vec<_>>();
    row("sum of the stages", &sum(&sluice), &sum(&hand));
    let gaps = |side: &[Value]| {
        side.iter()
            .map(|r| r["total"].as_f64().unwrap() - numbers(&r["stages"]).iter().sum::<f64>())
            .collect::<Vec<f64>>()
    };
    row("between the stages (whole - sum)", &gaps(&sluice), &gaps(&hand));
    let (total_s, total_h) = (field(&sluice, "total"), field(&hand, "total"));
    row("whole pipeline (bench clock)", &total_s, &total_h);
    row("  sluice's own startedAt->endedAt", &field(&sluice, "doc"), &total_h);
    let overhead = |s: &[f64]| (median(s) - median(&total_h)) / median(&total_h) * 100.0;
    println!(
        "orchestration overhead (sluice - by hand) / by hand: {:+.1} % whole (bench clock), {:+.1} % by the execution's own times",
        overhead(&total_s),
        overhead(&field(&sluice, "doc"))
    );
    let paired: Vec<String> =
        total_s.iter().zip(&total_h).map(|(s, h)| format!("{:+.1} %", (s - h) / h * 100.0)).collect();
    println!("  the same per round (sluice vs by hand of that round): {}", paired.join(", "));
    println!("builds: every build of both sides ran without layer cache (no image of the commit was left)");
    println!("load average (1, 5, 15 min): at start {load_start}, at end {load_end}");
}

/// Runs one side in a child process of this binary; its result.
fn spawn_side(side: &str) -> Value {
    let output = Command::new(std::env::current_exe().unwrap())
        .env(SIDE, side)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the {side} side failed: {stdout}");
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).expect("a RESULT line");
    serde_json::from_str(line).unwrap()
}

/// In the child: a fresh World, the side, then the World dropped and the built image removed.
fn run_side(side: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let world = runtime.block_on(World::start());
    let commit = world.push_head();
    let tag = format!("{IMAGE}:{commit}");
    // No image of this commit: no build cache past the base image, for either side.
    let _ = docker_output(&["image", "rm", &tag]);
    assert!(!docker_output(&["image", "inspect", &tag]).status.success(), "{tag} is still there");
    let result = match side {
        "sluice" => runtime.block_on(by_sluice(&world, &commit)),
        "hand" => by_hand(&world, &commit),
        other => panic!("no side {other}"),
    };
    let digest = world.deployed_image("shop").unwrap();
    assert!(digest.starts_with(&format!("{IMAGE}@sha256:")), "{digest}");
    assert_eq!((world.replicas("shop"), world.slack.received().len()), (Some(5), 1));
    assert_eq!(world.jira.issue(1).unwrap().comments.len(), 1);

    let instance = world.kube.runtime_instance().unwrap().to_string();
    drop(world);
    let filter = format!("label={}={instance}", kube_double::runtime::INSTANCE_LABEL);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !docker_env::docker(&["ps", "--all", "--quiet", "--filter", &filter]).trim().is_empty() {
        assert!(Instant::now() < deadline, "the pods' containers of {instance} are still there");
        std::thread::sleep(Duration::from_millis(200));
    }
    docker_env::docker(&["image", "rm", &tag]);
    drop(runtime);
    result
}

/// The webhook, then the execution polled until it ended.
async fn by_sluice(world: &World, commit: &str) -> Value {
    let event = github::push_event(&world.clone_url, NO_COMMIT, commit, "shop: the first version");
    let body = serde_json::to_vec(&event).unwrap();
    let url = world.server.url("/api/v1/webhooks/examples.cicd/shop-delivery/shop-push");
    let started = Instant::now();
    let mut request = world.server.http.post(url).body(body.clone());
    for (name, value) in github::delivery_headers(WEBHOOK_SECRET, &body, "delivery-bench") {
        request = request.header(name, value);
    }
    let (status, accepted) = world.server.send(request).await;
    assert_eq!(status, 202, "{accepted:#}");
    let path = format!("/api/v1/executions/{}", accepted["executionId"].as_str().unwrap());
    let doc = loop {
        let (status, doc) = world.server.get(&path).await;
        assert_eq!(status, 200, "{doc:#}");
        if matches!(doc["state"].as_str(), Some("SUCCESS" | "FAILED" | "WARNING" | "KILLED" | "CANCELLED")) {
            break doc;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the execution did not end: {doc:#}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let total = ms(started.elapsed());
    assert_eq!(doc["state"], "SUCCESS", "{doc:#}");
    let run = |id: &str| {
        let runs = doc["taskRuns"].as_array().unwrap();
        let run = runs.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no run of {id}: {doc:#}"));
        run["durationMs"].as_f64().unwrap()
    };
    let stages: Vec<f64> =
        STAGES[..6].iter().map(|s| run(s)).chain([run("tellSlack") + run("tellJira")]).collect();
    let time = |key: &str| chrono::DateTime::parse_from_rfc3339(doc[key].as_str().unwrap()).unwrap();
    let own = (time("endedAt") - time("startedAt")).num_microseconds().unwrap() as f64 / 1000.0;
    json!({"stages": stages, "total": total, "doc": own})
}

/// The same steps with git, docker, python3, kubectl and curl, one after the other as a person
/// would run them (the two containers at once, as the pipeline does).
fn by_hand(world: &World, commit: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let checkout = dir.path().join("shop");
    let (tests, lint) = pipeline_commands();
    let tag = format!("{IMAGE}:{commit}");
    let kubeconfig = dir.path().join("kubeconfig");
    world.kube.write_kubeconfig(&kubeconfig).unwrap();
    let kubectl =
        |args: &[&str]| run(Command::new("kubectl").arg("--kubeconfig").arg(&kubeconfig).args(args));
    let started = Instant::now();
    let mut mark = started;
    let mut stages = Vec::new();

    run(Command::new("git").args(["init", "-q"]).arg(&checkout));
    run(Command::new("git").current_dir(&checkout).args([
        "fetch",
        "-q",
        "--depth",
        "1",
        &world.clone_url,
        commit,
    ]));
    run(Command::new("git").current_dir(&checkout).args(["checkout", "-q", "FETCH_HEAD"]));
    stages.push(lap(&mut mark));

    let mount = format!("{}:/workspace", checkout.display());
    let container = |script: &str| {
        run(Command::new("docker").args(["run", "--rm", "--network", "none", "-v", &mount]).args([
            "-w",
            "/workspace",
            "sluice-cicd/python:bookworm",
            "/bin/sh",
            "-c",
            &format!("set -e\n{script}"),
        ]))
    };
    std::thread::scope(|scope| {
        let tests = scope.spawn(|| container(&tests));
        container(&lint);
        tests.join().unwrap();
    });
    stages.push(lap(&mut mark));

    run(Command::new(PYTHON).current_dir(&checkout).args(["-c", GATES]));
    stages.push(lap(&mut mark));

    let revision = format!("org.opencontainers.image.revision={commit}");
    let version = format!("VERSION={}", &commit[..7]);
    let built = run(Command::new("docker")
        .args(["build", "-t", &tag, "--build-arg", &version, "--label", &revision])
        .arg(&checkout));
    assert!(!built.contains("Using cache"), "the build was meant to be uncached: {built}");
    stages.push(lap(&mut mark));

    run(Command::new("docker").args(["push", "-q", &tag]));
    let reference =
        run(Command::new("docker").args(["inspect", "--format", "{{index .RepoDigests 0}}", &tag]));
    let reference = reference.trim();
    stages.push(lap(&mut mark));

    let manifest = std::fs::read_to_string(checkout.join("k8s/shop.yaml")).unwrap();
    let placeholder = format!("{IMAGE}:latest");
    assert!(manifest.contains(&placeholder));
    let released = dir.path().join("shop.yaml");
    std::fs::write(&released, manifest.replace(&placeholder, reference)).unwrap();
    kubectl(&["apply", "--server-side", "-f", released.to_str().unwrap()]);
    kubectl(&["rollout", "status", "deployment/shop", "-n", "shop", "--timeout=120s"]);
    stages.push(lap(&mut mark));

    let short = &commit[..7];
    let slack = json!({"text": format!("shop {short} is live on 100% of the pods")});
    let text = format!("Released shop `{short}` ({reference}) by hand.");
    let paragraph = json!([{"type": "paragraph", "content": [{"type": "text", "text": text}]}]);
    let jira = json!({"body": {"type": "doc", "version": 1, "content": paragraph}});
    let slack_url = world.slack.url(support_notify::slack::WEBHOOK_PATH);
    let jira_url = format!("http://127.0.0.1:{JIRA_PORT}/rest/api/3/issue/OPS-1/comment");
    let credentials = format!("{JIRA_EMAIL}:{JIRA_TOKEN}");
    let json = ["-fsS", "-o", "/dev/null", "-H", "Content-Type: application/json"];
    run(Command::new("curl").args(json).args(["-d", &slack.to_string(), &slack_url]));
    run(Command::new("curl").args(json).args(["-u", &credentials, "-d", &jira.to_string(), &jira_url]));
    stages.push(lap(&mut mark));

    json!({"stages": stages, "total": ms(started.elapsed())})
}

/// Debian's python3, not a version manager's shim in PATH (pyenv's adds ~130 ms a call here).
const PYTHON: &str = "/usr/bin/python3";

/// The gates by hand: the three reports against the pipeline's thresholds (at least 5 tests and
/// none failed; 85 % of lines and 60 % of branches covered; no lint finding), in one python3.
const GATES: &str = r#"
import json, sys, xml.etree.ElementTree as ET
suite = ET.parse("reports/junit.xml").getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
tests, bad = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
coverage = ET.parse("reports/coverage.xml").getroot()
line, branch = float(coverage.get("line-rate")) * 100, float(coverage.get("branch-rate")) * 100
findings = sum(len(r.get("results", [])) for r in json.load(open("reports/lint.sarif"))["runs"])
sys.exit(0 if tests >= 5 and bad == 0 and line >= 85 and branch >= 60 and findings == 0 else 1)
"#;

/// The commands of the unitTests and lint tasks of pipeline.yaml, each joined as docker.run
/// joins them.
fn pipeline_commands() -> (String, String) {
    let text = std::fs::read_to_string(support_cicd::example_dir().join("pipeline.yaml")).unwrap();
    let flow: Value = yaml_serde::from_str(&text).unwrap();
    let checks = flow["tasks"].as_array().unwrap().iter().find(|t| t["id"] == "checks").unwrap();
    let commands = |id: &str| {
        let task = checks["tasks"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap();
        let lines: Vec<&str> =
            task["commands"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        lines.join("\n")
    };
    (commands("unitTests"), commands("lint"))
}

/// Runs the command; its stdout (panics with its output when it fails).
fn run(command: &mut Command) -> String {
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Milliseconds since `mark`, which moves to now.
fn lap(mark: &mut Instant) -> f64 {
    let now = Instant::now();
    let elapsed = ms(now - *mark);
    *mark = now;
    elapsed
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn numbers(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 }
}

fn row(what: &str, sluice: &[f64], hand: &[f64]) {
    let cell = |v: &[f64]| {
        let (min, max) =
            (v.iter().copied().fold(f64::MAX, f64::min), v.iter().copied().fold(f64::MIN, f64::max));
        format!("{:.0} ({:.0}-{:.0})", median(v), min, max)
    };
    // A ratio to a near-zero time (the by-hand side has no gaps between its steps) says nothing.
    let ratio =
        if median(hand) < 1.0 { "-".into() } else { format!("{:.2}x", median(sluice) / median(hand)) };
    println!("  {what:<34} {:>22} {:>22} {ratio:>8}", cell(sluice), cell(hand));
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
