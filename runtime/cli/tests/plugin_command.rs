//! `sluice plugin list | describe`, run as the real binary.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::server::Server;
use serde_json::{Value, json};

fn sluice(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn list_shows_the_builtin_core_plugin_and_installed_files() {
    let data = tempfile::tempdir().unwrap();
    let text = stdout(&sluice(data.path(), &["plugin", "list"]));
    let core = text.lines().find(|l| l.starts_with("core ")).unwrap_or_else(|| panic!("{text}"));
    assert!(core.contains("built-in") && core.contains("log, http, fail, assert"), "{core}");

    // A third-party component dropped into <data-dir>/plugins is listed too.
    std::fs::create_dir(data.path().join("plugins")).unwrap();
    let installed = data.path().join("plugins/test.wasm");
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, &installed).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&sluice(data.path(), &["plugin", "list", "--json"]))).unwrap();
    let names: Vec<_> = json.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    let builtins: Vec<&str> = sluice_builtin_plugins::ALL.iter().map(|p| p.name).collect();
    assert_eq!(names[..builtins.len()], builtins[..]);
    assert_eq!(names[builtins.len()..], ["test"]);
    assert_eq!(json[0]["source"], "built-in");
    let file = &json[builtins.len()];
    assert_eq!(file["source"], serde_json::json!(installed.display().to_string()));
    assert!(file["tasks"].as_array().unwrap().contains(&serde_json::json!("test.echo")));
}

#[test]
fn describe_core_prints_each_task_with_its_schema() {
    let data = tempfile::tempdir().unwrap();
    let text = stdout(&sluice(data.path(), &["plugin", "describe", "core"]));
    assert!(text.starts_with("core 0.1.0 (built-in)\ndigest: sha256:"), "{text}");
    for task in ["core.log", "core.http", "core.fail", "core.assert"] {
        assert!(text.lines().any(|l| l == task), "missing {task} in\n{text}");
    }
    assert!(text.contains("  capabilities: network to the origin in config field `url`"), "{text}");
    assert!(
        text.contains("  config schema:")
            && text.contains("\"$schema\": \"https://json-schema.org/draft/2020-12/schema\"")
    );

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&sluice(data.path(), &["plugin", "describe", "core", "--json"])))
            .unwrap();
    assert_eq!(json["name"], "core");
    assert_eq!(json["tasks"][1]["name"], "http");
    assert_eq!(json["tasks"][1]["configSchema"]["required"], serde_json::json!(["url"]));
}

#[test]
fn describe_a_component_file() {
    let data = tempfile::tempdir().unwrap();
    let text = stdout(&sluice(data.path(), &["plugin", "describe", test_programs_artifacts::TEST_PROGRAMS]));
    assert!(
        text.starts_with(&format!("test 0.1.0 ({})\n", test_programs_artifacts::TEST_PROGRAMS)),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "test.echo"));
}

#[test]
fn describe_errors_say_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let out = sluice(data.path(), &["plugin", "describe", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let installed: Vec<&str> = sluice_builtin_plugins::ALL.iter().map(|p| p.name).collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: no plugin named `nope` is installed (installed: {}); to describe a component file, pass its path ending in .wasm\n",
            installed.join(", ")
        )
    );
    let not_wasm = data.path().join("notes.wasm");
    std::fs::write(&not_wasm, "hello").unwrap();
    let out = sluice(data.path(), &["plugin", "describe", not_wasm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: loading {}: not a valid WebAssembly component: this is not a WebAssembly file (it does not start with `\\0asm`)\n",
            not_wasm.display()
        )
    );
}

#[test]
fn a_second_start_uses_the_compiled_component_cache() {
    let data = tempfile::tempdir().unwrap();
    stdout(&sluice(data.path(), &["plugin", "list"]));
    let cache: Vec<_> =
        std::fs::read_dir(data.path().join("cache/components")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(
        cache.len(),
        sluice_builtin_plugins::ALL.len(),
        "one compiled component per built-in plugin is cached"
    );
    let modified = |path: &std::path::PathBuf| std::fs::metadata(path).unwrap().modified().unwrap();
    let written: Vec<_> = cache.iter().map(modified).collect();
    // The second process loads the cached code: a compile would rewrite the entries.
    std::thread::sleep(std::time::Duration::from_millis(20));
    stdout(&sluice(data.path(), &["plugin", "list"]));
    assert_eq!(cache.iter().map(modified).collect::<Vec<_>>(), written);
    assert_eq!(
        std::fs::read_dir(data.path().join("cache/components")).unwrap().count(),
        sluice_builtin_plugins::ALL.len()
    );
}

fn json_of(data_dir: &std::path::Path, args: &[&str]) -> Value {
    serde_json::from_str(&stdout(&sluice(data_dir, args))).unwrap()
}

/// One document for a plugin, whoever asks: `plugin list|describe --json` print what the API
/// of `sluice server` answers on the same data dir.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_and_the_api_show_the_same_plugin_documents() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("plugins")).unwrap();
    let installed = data.path().join("plugins/test.wasm");
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, &installed).unwrap();
    let listed = json_of(data.path(), &["plugin", "list", "--json"]);
    let core = json_of(data.path(), &["plugin", "describe", "core", "--json"]);
    let test = json_of(data.path(), &["plugin", "describe", "test", "--json"]);

    let digest = listed[0]["digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("{digest}"));
    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{digest}");
    let mut summary = core.clone();
    summary["tasks"] = json!(["core.log", "core.http", "core.fail", "core.assert"]);
    assert_eq!(summary, listed[0], "described like listed, but with every task in full");
    assert_eq!(test["source"], json!(installed.display().to_string()));

    let server = Server::start(data.path());
    assert_eq!(server.get("/api/v1/plugins").await, (200, listed));
    assert_eq!(server.get("/api/v1/plugins/core").await, (200, core));
    assert_eq!(server.get("/api/v1/plugins/test").await, (200, test));
}

#[test]
fn two_plugins_of_one_name_are_refused_with_both_places() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("plugins")).unwrap();
    let copy = data.path().join("plugins/core.wasm");
    std::fs::write(&copy, sluice_builtin_plugins::CORE.wasm).unwrap();
    let out = sluice(data.path(), &["plugin", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: {} is plugin `core`, which is already installed (built-in); remove one of them\n",
            copy.display()
        )
    );
}
