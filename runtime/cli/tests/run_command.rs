//! `sluice run`, as the real binary, on the example flows and on bad input: exact states,
//! outputs, task runs and exit codes.

#![allow(clippy::unwrap_used)]

mod common;
use common::doc::run_of;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows")
}

fn sluice(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

/// Runs a flow with `--json` and returns the exit code and the document.
fn run_json(data_dir: &Path, flow: &Path, inputs: &[&str]) -> (i32, Value) {
    let mut args = vec!["run", flow.to_str().unwrap(), "--json"];
    for input in inputs {
        args.extend(["--input", input]);
    }
    let output = sluice(data_dir, &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&output.stderr))
    });
    (output.status.code().unwrap(), doc)
}

/// A data dir with the test component installed as `<data-dir>/plugins/test.wasm`.
fn data_dir_with_test_plugin() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, data.path().join("plugins/test.wasm")).unwrap();
    data
}

fn example(name: &str) -> PathBuf {
    examples().join(name)
}

/// `(task run id, state)` pairs in creation order.
fn states(doc: &Value) -> Vec<(String, String)> {
    doc["taskRuns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["state"].as_str().unwrap().to_owned()))
        .collect()
}

fn state_of(doc: &Value, id: &str) -> String {
    let runs = states(doc);
    runs.iter()
        .find(|(k, _)| k == id)
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| panic!("no run {id} in {runs:?}"))
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[test]
fn hello_runs_with_default_and_given_inputs() {
    let data = tempfile::tempdir().unwrap();
    let (code, doc) = run_json(data.path(), &example("hello.yaml"), &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["state"], "SUCCESS");
    assert_eq!(doc["flowOutputs"], json!({"greeting": "Hello, world!", "checked": 1}));
    assert_eq!(doc["outputs"]["check"], json!({"passed": 1}));
    assert_eq!(sorted(states(&doc)), pairs(&[("greet", "SUCCESS"), ("check", "SUCCESS")]));
    assert_eq!(doc["revision"], 1);

    let (code, doc) = run_json(data.path(), &example("hello.yaml"), &["name=sluice"]);
    assert_eq!(code, 0);
    assert_eq!(doc["flowOutputs"]["greeting"], "Hello, sluice!");
    // Same YAML, same data dir: the flow keeps its revision.
    assert_eq!(doc["revision"], 1);
}

#[test]
fn hello_shows_progress_logs_and_summary() {
    let data = tempfile::tempdir().unwrap();
    let output = sluice(data.path(), &["run", example("hello.yaml").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("greet INFO  Hello, world!"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("  ✓ greet") && l.contains("SUCCESS")), "{text}");
    assert!(text.contains("examples.hello SUCCESS in "), "{text}");
    assert!(text.contains(": 2 task runs (2 success)"), "{text}");
    assert!(text.contains("\"greeting\": \"Hello, world!\""), "{text}");
}

#[test]
fn parallel_fans_out_and_joins() {
    let data = tempfile::tempdir().unwrap();
    let (code, doc) = run_json(data.path(), &example("parallel.yaml"), &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        sorted(states(&doc)),
        pairs(&[
            ("checks", "SUCCESS"),
            ("lint", "SUCCESS"),
            ("unit", "SUCCESS"),
            ("docs", "SUCCESS"),
            ("package", "SUCCESS"),
            ("audit", "SUCCESS"),
            ("report", "SUCCESS"),
        ])
    );
    let time = |id: &str, field: &str| {
        chrono::DateTime::parse_from_rfc3339(run_of(&doc, id)[field].as_str().unwrap()).unwrap()
    };
    assert!(time("report", "startedAt") >= time("package", "endedAt"));
    assert!(time("report", "startedAt") >= time("audit", "endedAt"));
    assert!(time("audit", "startedAt") >= time("checks", "endedAt"));
    for child in ["lint", "unit", "docs"] {
        assert_eq!(run_of(&doc, child)["parent"], "checks");
    }
}

#[test]
fn retries_back_off_then_allow_failure_gives_warning() {
    let data = tempfile::tempdir().unwrap();
    let (code, doc) = run_json(data.path(), &example("retries.yaml"), &[]);
    assert_eq!(code, 0, "WARNING exits 0: {doc:#}");
    assert_eq!(doc["state"], "WARNING");
    let ping = run_of(&doc, "ping");
    assert_eq!(ping["state"], "WARNING");
    assert_eq!(ping["attempts"], 4);
    assert!(ping["error"].as_str().unwrap().contains("127.0.0.1:9"), "{ping}");
    assert_eq!(state_of(&doc, "done"), "SUCCESS");
}

#[test]
fn foreach_runs_the_body_per_value() {
    let data = tempfile::tempdir().unwrap();
    let (code, doc) = run_json(data.path(), &example("foreach.yaml"), &[]);
    assert_eq!(code, 0, "{doc:#}");
    let mut expected = vec![("matrix", "SUCCESS"), ("summary", "SUCCESS")];
    let ids: Vec<String> = (0..3).flat_map(|i| [format!("build[{i}]"), format!("verify[{i}]")]).collect();
    expected.extend(ids.iter().map(|id| (id.as_str(), "SUCCESS")));
    assert_eq!(sorted(states(&doc)), pairs(&expected));
    assert_eq!(run_of(&doc, "build[1]")["value"], "macos");
    assert_eq!(doc["outputs"]["verify[2]"], json!({"passed": 1}));

    let (code, doc) = run_json(data.path(), &example("foreach.yaml"), &["targets=a,b"]);
    assert_eq!(code, 0);
    assert_eq!(states(&doc).len(), 2 + 2 * 2);
}

#[test]
fn branching_takes_only_the_chosen_branch() {
    let data = tempfile::tempdir().unwrap();
    let (code, doc) = run_json(data.path(), &example("branching.yaml"), &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        sorted(states(&doc)),
        pairs(&[
            ("mode", "SUCCESS"),
            ("announceDry", "SUCCESS"),
            ("target", "SUCCESS"),
            ("toDev", "SUCCESS")
        ])
    );

    let (code, doc) =
        run_json(data.path(), &example("branching.yaml"), &["environment=staging", "dryRun=false"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(state_of(&doc, "announceReal"), "SUCCESS");
    assert_eq!(state_of(&doc, "toOther"), "SUCCESS");

    // A prod dry run is refused by the assertion in the prod case.
    let (code, doc) = run_json(data.path(), &example("branching.yaml"), &["environment=prod"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["state"], "FAILED");
    assert_eq!(state_of(&doc, "approve"), "FAILED");
    assert!(
        run_of(&doc, "approve")["error"].as_str().unwrap().contains("a prod deployment cannot be a dry run")
    );
    assert!(doc["error"].as_str().unwrap().contains("approve"), "{doc:#}");
    assert!(!states(&doc).iter().any(|(k, _)| k == "toProd"));
}

#[test]
fn subflow_runs_the_flow_beside_it_and_passes_outputs_back() {
    let data = tempfile::tempdir().unwrap();
    let (code, doc) = run_json(data.path(), &example("subflow.yaml"), &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["outputs"]["notes"], json!({"title": "Release 1.4.0"}));
    assert_eq!(doc["flowOutputs"], json!({"title": "Release 1.4.0"}));
    assert_eq!(state_of(&doc, "show"), "SUCCESS");
}

#[test]
fn invalid_inputs_exit_2_before_anything_runs() {
    let data = tempfile::tempdir().unwrap();
    let output = sluice(data.path(), &["run", example("subflow-child.yaml").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("input `version`: required, but not given (type string)"), "{stderr}");

    let output =
        sluice(data.path(), &["run", example("branching.yaml").to_str().unwrap(), "--input", "dryRun=maybe"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("input `dryRun`: expected true or false, got `maybe`"), "{stderr}");

    let output = sluice(
        data.path(),
        &["run", example("subflow-child.yaml").to_str().unwrap(), "--input", "version=one"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not match the pattern"));
}

#[test]
fn invalid_flow_exits_2_with_positions() {
    let data = tempfile::tempdir().unwrap();
    let flow = data.path().join("broken.yaml");
    std::fs::write(
        &flow,
        "id: broken\nnamespace: t\ntasks:\n  - id: a\n    type: core.log\n    mesage: hi\n",
    )
    .unwrap();
    let output = sluice(data.path(), &["run", flow.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.yaml:6:5"), "{stderr}");

    let output = sluice(data.path(), &["run", "/nonexistent/flow.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read /nonexistent/flow.yaml"));
}

#[test]
fn a_template_error_at_run_time_fails_the_execution_with_where_and_why() {
    let data = tempfile::tempdir().unwrap();
    let flow = data.path().join("late.yaml");
    std::fs::write(
        &flow,
        "id: late\nnamespace: t\ntasks:\n  - id: first\n    type: core.assert\n    conditions: []\n  - id: second\n    type: core.log\n    message: \"{{ outputs.first.nothing }}\"\n",
    )
    .unwrap();
    let (code, doc) = run_json(data.path(), &flow, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["state"], "FAILED");
    let error =
        format!("{}:9:14: /tasks/1/message: undefined variable `outputs.first.nothing`", flow.display());
    assert_eq!(run_of(&doc, "second")["error"], error.as_str());
    assert_eq!(doc["error"], format!("task `second` failed: {error}"));
    // The attempt ended before reaching the sandbox, and is not retried.
    assert_eq!(run_of(&doc, "second")["attempts"], 1);
}

#[test]
fn invalid_plugin_outputs_fail_the_task_clearly() {
    let data = data_dir_with_test_plugin();
    let flow = data.path().join("bad.yaml");
    std::fs::write(&flow, "id: bad\nnamespace: t\ntasks:\n  - id: out\n    type: test.bad-json\n").unwrap();
    let (code, doc) = run_json(data.path(), &flow, &[]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["state"], "FAILED");
    assert_eq!(state_of(&doc, "out"), "FAILED");
    let error =
        "invalid outputs: not JSON (expected ident at line 1 column 2); outputs must be a JSON object";
    assert_eq!(run_of(&doc, "out")["error"], error);
    assert_eq!(doc["error"], format!("task `out` failed: {error}"));
    assert_eq!(run_of(&doc, "out")["attempts"], 1, "invalid outputs are not retried: {doc:#}");
}

#[test]
fn the_workspace_retention_is_set_by_the_environment() {
    let workspaces = |data: &Path| -> Vec<String> {
        match std::fs::read_dir(data.join("workspaces")) {
            Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
            Err(_) => Vec::new(),
        }
    };
    let run_with = |retention: Option<&str>| {
        let data = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg("--data-dir").arg(data.path()).args([
            "run",
            example("hello.yaml").to_str().unwrap(),
            "--json",
        ]);
        if let Some(retention) = retention {
            command.env("SLUICE_WORKSPACE_RETENTION", retention);
        }
        let output = command.output().unwrap();
        (data, output)
    };
    // The default keeps a finished execution's workspace for 7 days; `never` keeps it for good.
    for retention in [None, Some("never"), Some("2d")] {
        let (data, output) = run_with(retention);
        assert_eq!(output.status.code(), Some(0), "{retention:?}");
        let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(workspaces(data.path()), [doc["executionId"].as_str().unwrap()], "{retention:?}");
    }
    // `0s`: gone at the sweep after the run.
    let (data, output) = run_with(Some("0s"));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(workspaces(data.path()), Vec::<String>::new());
    // A value that is not a duration: exit 2 before anything runs, saying what to write.
    let (data, output) = run_with(Some("soon"));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: $SLUICE_WORKSPACE_RETENTION=`soon` is not a duration (expected number at 0); write one like `7d`, `12h` or `PT30M`, or `never` to keep workspaces\n"
    );
    assert!(!data.path().join("sluice.db").exists());
}

#[test]
fn secrets_reach_the_task_but_never_the_store_or_the_logs() {
    let data = tempfile::tempdir().unwrap();
    let flow = data.path().join("secret.yaml");
    std::fs::write(
        &flow,
        "id: secret\nnamespace: t\ntasks:\n  - id: show\n    type: core.log\n    message: \"token is {{ secret('TOKEN') }}\"\n    allow:\n      secrets: [TOKEN]\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["run", flow.to_str().unwrap()])
        .env("SLUICE_SECRET_TOKEN", "s3cr3t-value")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("token is ******"), "{text}");
    assert!(!text.contains("s3cr3t-value"), "{text}");
    for file in std::fs::read_dir(data.path()).unwrap() {
        let path = file.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("sluice.db") {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes.windows(b"s3cr3t-value".len()).any(|w| w == b"s3cr3t-value");
            assert!(!found, "the secret is in {}", path.display());
        }
    }

    // Without the secret set, the task fails saying which secret is missing.
    let (code, doc) = run_json(data.path(), &flow, &[]);
    assert_eq!(code, 1);
    assert!(run_of(&doc, "show")["error"].as_str().unwrap().contains("TOKEN"), "{doc:#}");
}

#[test]
fn a_disabled_flow_does_not_start() {
    let data = tempfile::tempdir().unwrap();
    let flow = data.path().join("off.yaml");
    std::fs::write(
        &flow,
        "id: off\nnamespace: t\ndisabled: true\ntasks:\n  - id: a\n    type: core.log\n    message: hi\n",
    )
    .unwrap();
    let output = sluice(data.path(), &["run", flow.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("flow t.off is disabled"));
}

#[test]
fn variables_may_use_each_other_in_any_order_and_secret_inputs_stay_out_of_outputs() {
    let data = tempfile::tempdir().unwrap();
    let flow = data.path().join("vars.yaml");
    std::fs::write(
        &flow,
        r#"id: vars
namespace: t
inputs:
  - id: token
    type: secret
variables:
  url: "{{ vars.host }}/api"
  host: "https://example.com"
tasks:
  - id: show
    type: core.log
    message: "{{ vars.url }} with {{ inputs.token }}"
outputs:
  url: "{{ vars.url }}"
  leak: "token={{ inputs.token }}"
"#,
    )
    .unwrap();
    let (code, doc) = run_json(data.path(), &flow, &["token=tok-123456"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["flowOutputs"], json!({"url": "https://example.com/api", "leak": "token=******"}));
    assert!(!doc.to_string().contains("tok-123456"), "{doc:#}");
}

#[test]
fn ctrl_c_kills_the_execution_and_records_it() {
    let data = data_dir_with_test_plugin();
    let flow = data.path().join("long.yaml");
    std::fs::write(
        &flow,
        "id: long\nnamespace: t\ntasks:\n  - id: wait\n    type: test.sleep\n    ms: 60000\n",
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(data.path())
        .args(["run", flow.to_str().unwrap(), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the task is running: its workspace exists once the execution started.
    let workspaces = data.path().join("workspaces");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&workspaces).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "the execution never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["state"], "KILLED");
    assert_eq!(state_of(&doc, "wait"), "KILLED");
}

/// A component's escape sequences reach the operator's terminal as text: `sluice run` shows
/// them escaped in log lines and errors, and the JSON document keeps them as data.
#[test]
fn escape_sequences_from_a_plugin_are_shown_not_obeyed() {
    let data = data_dir_with_test_plugin();
    let flow = data.path().join("esc.yaml");
    std::fs::write(
        &flow,
        "id: esc\nnamespace: t\ntasks:\n  - id: loud\n    type: test.say\n    message: \"\\e[2J\\e]0;pwned\\a\\u202Egnp\"\n  - id: bad\n    type: test.fail\n    kind: failed\n    message: \"\\e[31mred\\e[0m\\nsecond line\"\n",
    )
    .unwrap();
    let output = sluice(data.path(), &["run", flow.to_str().unwrap()]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        !stdout.contains('\x1b') && !stdout.contains('\x07') && !stdout.contains('\u{202e}'),
        "{stdout:?}"
    );
    assert!(stdout.contains("loud INFO  \\x1b[2J\\x1b]0;pwned\\x07\\u{202e}gnp\n"), "{stdout}");
    assert!(stdout.contains("      failed: \\x1b[31mred\\x1b[0m\n      second line\n"), "{stdout}");
    let (_, doc) = run_json(data.path(), &flow, &[]);
    assert_eq!(doc["outputs"]["loud"]["message"], "\x1b[2J\x1b]0;pwned\x07\u{202e}gnp");
}
