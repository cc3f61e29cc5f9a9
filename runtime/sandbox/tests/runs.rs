//! Well-behaved runs: config checks, logs, redaction, the component's own errors, loading and
//! the compiled-component cache.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Call, sandbox, test_plugin};
use serde_json::json;
use sluice_sandbox::{
    CompiledFrom, Grants, LoadError, LogLevel, LogSource, RunError, Sandbox, SandboxConfig,
};

#[tokio::test]
async fn describe_lists_the_tasks_with_their_schemas() {
    let plugin = test_plugin().await;
    let info = plugin.info();
    assert_eq!(info.name, "test");
    let echo = info.task("echo").unwrap();
    assert_eq!(echo.config_schema["required"], json!(["value"]));
    for task in ["noop", "read-file", "write-file", "fetch", "spin", "alloc", "recurse", "bad-json", "trap"] {
        assert!(info.task(task).is_some(), "missing task {task}");
    }
    assert!(plugin.digest().to_string().starts_with("sha256:"));
    assert_eq!(plugin.digest().hex().len(), 64);
}

#[tokio::test]
async fn config_is_checked_against_the_schema_before_the_run() {
    let plugin = test_plugin().await;
    let run = Call::new(&plugin, "echo", json!({"value": [1, 2]})).run().await;
    assert_eq!(run.output(), &json!({"value": [1, 2]}));
    assert_eq!(run.messages(), ["echo"]);

    let run = Call::new(&plugin, "echo", json!({})).run().await;
    assert_eq!(run.error(), &RunError::InvalidConfig("at /: \"value\" is a required property".into()));
    assert!(run.logs.iter().all(|l| l.source == LogSource::Host), "the component must not have run");

    let run = Call::new(&plugin, "echo", json!({"value": 1, "extra": 2})).run().await;
    match run.error() {
        RunError::InvalidConfig(m) => assert!(m.contains("extra"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_task_names_the_known_ones() {
    let plugin = test_plugin().await;
    let run = Call::new(&plugin, "nope", json!({})).run().await;
    match run.error() {
        RunError::UnknownTask { plugin, task, known } => {
            assert_eq!((plugin.as_str(), task.as_str()), ("test", "nope"));
            assert!(known.contains("echo") && known.contains("noop"), "{known}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_components_own_errors_keep_their_kind() {
    let plugin = test_plugin().await;
    for (kind, expected) in [
        ("invalid-config", RunError::InvalidConfig("bad field x".into())),
        ("denied", RunError::Denied("bad field x".into())),
        ("failed", RunError::Failed("bad field x".into())),
    ] {
        let run = Call::new(&plugin, "fail", json!({"kind": kind, "message": "bad field x"})).run().await;
        assert_eq!(run.error(), &expected);
        let last = run.logs.last().unwrap();
        assert_eq!((last.source, last.level), (LogSource::Host, LogLevel::Error));
        assert_eq!(last.message, format!("task fail: {expected}"));
    }
}

#[tokio::test]
async fn stdout_and_stderr_become_log_lines() {
    let plugin = test_plugin().await;
    let run = Call::new(&plugin, "stdio", json!({"stdout": ["one", "two"], "stderr": ["oops"]})).run().await;
    assert_eq!(run.output(), &json!({}));
    let mut got: Vec<_> = run.logs.iter().map(|l| (l.source, l.level, l.message.as_str())).collect();
    // stdout and stderr are separate streams: compare each in order.
    got.sort_by_key(|(source, _, _)| *source as u8);
    assert_eq!(
        got,
        [
            (LogSource::Stdout, LogLevel::Info, "one"),
            (LogSource::Stdout, LogLevel::Info, "two"),
            (LogSource::Stdout, LogLevel::Info, "partial"),
            (LogSource::Stderr, LogLevel::Warn, "oops"),
        ]
    );
}

#[tokio::test]
async fn secrets_are_redacted_from_logs() {
    let plugin = test_plugin().await;
    let grants = Grants { redact: vec!["hunter2".into()], ..Grants::default() };
    let run =
        Call::new(&plugin, "say", json!({"message": "password is hunter2, ok"})).grants(grants).run().await;
    assert_eq!(run.messages(), ["password is ******, ok"]);
}

#[tokio::test]
async fn runs_do_not_share_state() {
    let plugin = test_plugin().await;
    // Each run is a fresh instance: the env granted to one is not visible to the next.
    let grants = Grants { env: vec![("ONLY_ONCE".into(), "1".into())], ..Grants::default() };
    let first = Call::new(&plugin, "env", json!({})).grants(grants).run().await;
    assert_eq!(first.output()["vars"], json!({"ONLY_ONCE": "1"}));
    let second = Call::new(&plugin, "env", json!({})).run().await;
    assert_eq!(second.output()["vars"], json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_slots_are_reset_between_runs() {
    // The pool keeps the pages of a freed slot resident and resets them in place for the next
    // instance; whatever one run wrote (a `static`, the heap) must be gone for the next.
    let plugin = test_plugin().await;
    for mark in ["first", "second", "third"] {
        let run = Call::new(&plugin, "snoop", json!({ "mark": mark })).run().await;
        assert_eq!(run.output(), &json!({ "previous": null, "leftoverWords": 0 }), "run `{mark}`");
    }
    // Many at once, so that slots are reused out of order too.
    let runs: Vec<_> = (0..32)
        .map(|i| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                Call::new(&plugin, "snoop", json!({ "mark": format!("run {i}") }))
                    .run()
                    .await
                    .output()
                    .clone()
            })
        })
        .collect();
    for run in runs {
        assert_eq!(run.await.unwrap(), json!({ "previous": null, "leftoverWords": 0 }));
    }
}

#[tokio::test]
async fn loading_the_same_bytes_twice_returns_the_same_plugin() {
    let first = test_plugin().await;
    let again = sandbox().load(&test_programs_artifacts::test_programs_bytes()).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
}

#[tokio::test]
async fn a_second_sandbox_loads_from_the_disk_cache_and_survives_a_corrupt_entry() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = test_programs_artifacts::test_programs_bytes();
    let config = SandboxConfig {
        cache_dir: Some(dir.path().into()),
        max_concurrent_runs: 4,
        ..SandboxConfig::default()
    };
    let first = Sandbox::new(config.clone()).unwrap().load(&wasm).await.unwrap();
    assert_eq!(first.compiled_from(), CompiledFrom::Compiled);
    let second = Sandbox::new(config.clone()).unwrap().load(&wasm).await.unwrap();
    assert_eq!(second.compiled_from(), CompiledFrom::DiskCache);

    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].file_name().unwrap().to_str().unwrap().starts_with(first.digest().hex()));
    std::fs::write(&entries[0], b"garbage").unwrap();
    let third = Sandbox::new(config).unwrap().load(&wasm).await.unwrap();
    assert_eq!(third.compiled_from(), CompiledFrom::Compiled);
    assert_eq!(third.info().name, "test");
}

#[tokio::test]
async fn bytes_that_are_not_a_sluice_component_are_refused_clearly() {
    let err = sandbox().load(b"definitely not wasm").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a valid WebAssembly component: this is not a WebAssembly file (it does not start with `\\0asm`)"
    );
    let core_module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    let err = sandbox().load(&core_module).await.unwrap_err();
    assert!(
        matches!(err, LoadError::InvalidComponent(ref m) if m.starts_with("this is a core WebAssembly module")),
        "{err}"
    );
    // A component header followed by garbage.
    let err =
        sandbox().load(&[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0xff, 0xff]).await.unwrap_err();
    assert!(matches!(err, LoadError::InvalidComponent(_)), "{err}");

    // A valid component that does not implement the sluice world.
    let empty_component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    let err = sandbox().load(&empty_component).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the component does not export `sluice:plugin/task@0.1.0` (it exports: nothing); build it against the sluice:plugin WIT world, e.g. with the `sluice-plugin` crate"
    );
}

#[tokio::test]
async fn the_readme_example_plugin_builds_and_runs() {
    let wasm = std::fs::read(test_programs_artifacts::HELLO_PLUGIN).unwrap();
    let plugin = sandbox().load(&wasm).await.unwrap();
    assert_eq!(plugin.info().name, "hello");
    let greet = plugin.info().task("greet").unwrap();
    assert_eq!(greet.description, "Greets `name` in the log and outputs the greeting.");
    assert_eq!(greet.config_schema["properties"]["name"]["description"], json!("Who to greet."));

    let run = Call::new(&plugin, "greet", json!({"name": "sluice"})).run().await;
    assert_eq!(run.output(), &json!({"text": "hello, sluice"}));
    assert_eq!(run.messages(), ["hello, sluice"]);
    let run = Call::new(&plugin, "greet", json!({"nmae": "typo"})).run().await;
    assert!(matches!(run.error(), RunError::InvalidConfig(m) if m.contains("nmae")), "{:?}", run.error());
}
