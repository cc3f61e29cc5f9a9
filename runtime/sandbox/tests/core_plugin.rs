//! The first-party `core` plugin, run through the sandbox as the engine will run it.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Call, core_plugin, http_server};
use serde_json::json;
use sluice_sandbox::{Capability, Grants, LogLevel, LogSource, RunError};

#[tokio::test]
async fn describes_its_four_tasks() {
    let plugin = core_plugin().await;
    let names: Vec<_> = plugin.info().tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(plugin.info().name, "core");
    for task in ["log", "http", "fail", "assert"] {
        assert!(names.contains(&task), "{names:?}");
    }
    let http = plugin.info().task("http").unwrap();
    assert_eq!(http.capabilities, [Capability::NetworkFromConfig("url".into())]);
    assert!(http.config_schema["properties"]["url"].is_object(), "{}", http.config_schema);
}

#[tokio::test]
async fn log_writes_each_line_at_its_level() {
    let plugin = core_plugin().await;
    let run = Call::new(&plugin, "log", json!({"message": "first\nsecond", "level": "warn"})).run().await;
    assert_eq!(run.output(), &json!({}));
    let lines: Vec<_> = run.logs.iter().map(|l| (l.source, l.level, l.message.as_str())).collect();
    assert_eq!(
        lines,
        [(LogSource::Plugin, LogLevel::Warn, "first"), (LogSource::Plugin, LogLevel::Warn, "second")]
    );

    let run = Call::new(&plugin, "log", json!({"mesage": "typo"})).run().await;
    assert!(matches!(run.error(), RunError::InvalidConfig(_)), "{:?}", run.error());
}

#[tokio::test]
async fn http_calls_the_granted_url_and_checks_the_status() {
    let plugin = core_plugin().await;
    let server = http_server().await;
    let url = format!("http://{server}/hello");
    // What the engine grants by default: the origin of the `url` field (network-from-config).
    let implied = plugin.info().task("http").unwrap().implied_network_grants(&json!({"url": url})).unwrap();
    let grants = Grants { network: implied, ..Grants::default() };
    let run = Call::new(&plugin, "http", json!({"url": url})).grants(grants.clone()).run().await;
    let out = run.output();
    assert_eq!(out["status"], json!(200));
    assert_eq!(out["body"], json!(format!("hello from {}", server.port())));

    let missing = format!("http://{server}/missing");
    let run = Call::new(&plugin, "http", json!({"url": missing})).grants(grants.clone()).run().await;
    match run.error() {
        RunError::Failed(m) => assert!(m.contains("404") && m.contains("not found"), "{m}"),
        other => panic!("{other:?}"),
    }
    let run = Call::new(&plugin, "http", json!({"url": missing, "expectedStatus": [404]}))
        .grants(grants)
        .run()
        .await;
    assert_eq!(run.output()["status"], json!(404));

    let run = Call::new(&plugin, "http", json!({"url": url})).run().await;
    assert!(matches!(run.error(), RunError::Denied(_)), "{:?}", run.error());
}

#[tokio::test]
async fn fail_and_assert() {
    let plugin = core_plugin().await;
    let run = Call::new(&plugin, "fail", json!({"message": "stop here"})).run().await;
    assert_eq!(run.error(), &RunError::Failed("stop here".into()));

    let ok = json!({"conditions": [{"that": true, "message": "a"}, {"that": true, "message": "b"}]});
    let run = Call::new(&plugin, "assert", ok).run().await;
    assert_eq!(run.output(), &json!({"passed": 2}));

    let bad = json!({"conditions": [{"that": false, "message": "tests green"}, {"that": true, "message": "b"}, {"that": false, "message": "lint clean"}]});
    let run = Call::new(&plugin, "assert", bad).run().await;
    match run.error() {
        RunError::Failed(m) => {
            assert!(m.contains("tests green") && m.contains("lint clean") && !m.contains(" b"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}
