//! `sluice validate` and `sluice schema`, run as the real binary.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn sluice(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

const VALID: &str = "id: hello
namespace: demo
tasks:
  - id: greet
    type: core.log
    message: hello
  - id: checks
    type: flow.parallel
    tasks:
      - id: ping
        type: core.http
        url: https://example.com
";

const INVALID: &str = "id: hello
namespace: demo
tasks:
  - id: greet
    type: core.lgo
    message: hello
    dependOn: [nothing]
";

#[test]
fn a_valid_flow_prints_one_line_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("flow.yaml");
    std::fs::write(&flow, VALID).unwrap();
    let out = sluice(dir.path(), &["validate", flow.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}: ok (demo.hello, 3 tasks)\n", flow.display()));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn an_invalid_flow_prints_diagnostics_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), INVALID).unwrap();
    // A relative path is shown as given.
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir.path())
        .args(["--data-dir", ".", "validate", "bad.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "bad.yaml:5:11: error: plugin `core` has no task `lgo`; its tasks are `log`, `http`, `fail`, `assert`
  |
5 |     type: core.lgo
  |           ^^^^^^^^
  = hint: did you mean `core.log`?

1 error
"
    );
}

#[test]
fn several_files_report_each_and_fail_if_any_fails() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&good, VALID).unwrap();
    std::fs::write(&broken, "id: x\nnamespace: [\n").unwrap();
    let missing = dir.path().join("missing.yaml");
    let out = sluice(
        dir.path(),
        &["validate", good.to_str().unwrap(), broken.to_str().unwrap(), missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), format!("{}: ok (demo.hello, 3 tasks)\n", good.display()));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(&format!("{}:3:1: error: invalid YAML: ", broken.display())), "{stderr}");
    assert!(stderr.contains("\n1 error\n\n"), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "{}: error: cannot read the file: No such file or directory (os error 2)\n",
            missing.display()
        )),
        "{stderr}"
    );
}

#[test]
fn validate_needs_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(text(&out.stderr).contains("<FLOW>..."), "{}", text(&out.stderr));
}

#[test]
fn schema_prints_the_flow_schema_with_the_installed_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice(dir.path(), &["schema"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["required"], serde_json::json!(["id", "namespace", "tasks"]));
    let http = &schema["$defs"]["plugin:core.http"];
    assert_eq!(http["required"], serde_json::json!(["id", "type", "url"]));
    assert_eq!(http["properties"]["url"]["type"], "string");
    let choices = schema["$defs"]["task"]["properties"]["type"]["anyOf"].as_array().unwrap();
    for task in ["core.log", "core.http", "core.fail", "core.assert", "flow.parallel"] {
        assert!(choices.iter().any(|c| c["const"] == task), "{task} is a choice");
    }
}

/// Every example flow is valid, the CI/CD pipeline of `examples/cicd` included (its plugins are
/// all built in).
#[test]
fn the_examples_validate() {
    let data = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> =
        std::fs::read_dir(examples.join("flows")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.push(examples.join("cicd/pipeline.yaml"));
    for file in &files {
        let output = sluice(data.path(), &["validate", file.to_str().unwrap()]);
        assert!(output.status.success(), "{}: {}", file.display(), text(&output.stderr));
    }
}
