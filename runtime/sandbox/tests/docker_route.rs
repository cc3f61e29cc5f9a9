//! The Docker route of the sandbox with the real docker plugin and a real dockerd: granted,
//! not granted, requests that would reach the host, and the containers of a run removed
//! however it ends (timeout, dropped run).

#![allow(clippy::unwrap_used)]

mod common;
mod docker_env;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Call, sandbox};
use docker_env::{BUSYBOX, assert_no_labelled_containers, labelled_containers};
use serde_json::json;
use sluice_sandbox::{CollectLogs, Grants, Limits, Plugin, RunError, RunRequest, Sandbox, SandboxConfig};
use tokio::sync::OnceCell;

async fn docker_plugin() -> Arc<Plugin> {
    static PLUGIN: OnceCell<Arc<Plugin>> = OnceCell::const_new();
    PLUGIN
        .get_or_init(|| async { sandbox().load(sluice_builtin_plugins::DOCKER.wasm).await.unwrap() })
        .await
        .clone()
}

fn granted() -> Grants {
    Grants { docker: true, ..Grants::default() }
}

/// Serialises the tests of this file (they look at the daemon's whole container list).
async fn lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let guard = LOCK.lock().await;
    docker_env::ready();
    guard
}

#[tokio::test(flavor = "multi_thread")]
async fn a_granted_run_reaches_the_daemon_and_leaves_nothing() {
    let _serial = lock().await;
    let plugin = docker_plugin().await;
    let config = json!({"image": BUSYBOX, "pull": "never", "commands": ["echo hello from the route", "echo to-stderr >&2"]});
    let run = Call::new(&plugin, "run", config).grants(granted()).run().await;
    assert_eq!(run.output(), &json!({"exitCode": 0, "outputFiles": []}));
    let messages = run.messages();
    assert!(messages.contains(&"hello from the route"), "{messages:?}");
    assert!(messages.contains(&"to-stderr"), "{messages:?}");
    assert!(run.report.denied.is_empty());
    assert_eq!(labelled_containers(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_grant_the_route_is_denied() {
    let _serial = lock().await;
    let plugin = docker_plugin().await;
    let config = json!({"image": BUSYBOX, "commands": ["true"]});
    let run = Call::new(&plugin, "run", config).run().await;
    assert_eq!(
        run.error(),
        &RunError::Denied(
            "the Docker Engine API was refused by the host: add `docker: true` to the task's `allow`".into()
        )
    );
    assert_eq!(run.report.denied, vec!["docker".to_string()]);
    assert!(
        run.messages()
            .contains(&"denied: Docker Engine API (not granted; add `docker: true` to the task's `allow`)"),
        "{:?}",
        run.messages()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_granted_run_still_cannot_use_the_hosts_network() {
    let _serial = lock().await;
    let plugin = docker_plugin().await;
    let config = json!({"image": BUSYBOX, "pull": "never", "network": "host", "commands": ["true"]});
    let run = Call::new(&plugin, "run", config).grants(granted()).run().await;
    let expected = "denied: Docker Engine API POST /v1.41/containers/create: the host's namespace \
                    (`HostConfig.NetworkMode: host`) is not allowed to tasks";
    assert_eq!(run.error(), &RunError::Denied(expected.into()));
    assert_eq!(
        run.report.denied,
        vec!["docker: the host's namespace (`HostConfig.NetworkMode: host`)".to_string()]
    );
    assert_eq!(labelled_containers(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_granted_run_cannot_join_another_containers_network() {
    let _serial = lock().await;
    let plugin = docker_plugin().await;
    // A container of someone else's on the host's network would be the host's network.
    let config =
        json!({"image": BUSYBOX, "pull": "never", "network": "container:someone", "commands": ["true"]});
    let run = Call::new(&plugin, "run", config).grants(granted()).run().await;
    let reason = "another container's namespace (`HostConfig.NetworkMode: container:someone`)";
    let expected =
        format!("denied: Docker Engine API POST /v1.41/containers/create: {reason} is not allowed to tasks");
    assert_eq!(run.error(), &RunError::Denied(expected));
    assert_eq!(run.report.denied, vec![format!("docker: {reason}")]);
    assert_eq!(labelled_containers(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_removes_the_container_of_a_timed_out_run() {
    let _serial = lock().await;
    let plugin = docker_plugin().await;
    let config = json!({"image": BUSYBOX, "pull": "never", "commands": ["echo started", "sleep 60"]});
    let started = Instant::now();
    let run = Call::new(&plugin, "run", config).grants(granted()).timeout(Duration::from_secs(3)).run().await;
    assert_eq!(run.error(), &RunError::Timeout(Duration::from_secs(3)));
    // Removed before the report came back, not eventually.
    assert_eq!(labelled_containers(), Vec::<String>::new());
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let removed: Vec<&str> =
        run.messages().into_iter().filter(|m| m.starts_with("removed container ")).collect();
    assert_eq!(removed.len(), 1, "{:?}", run.messages());
    assert!(removed[0].ends_with(" that the task left behind"), "{removed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_removes_the_container_of_a_dropped_run() {
    let _serial = lock().await;
    let plugin = docker_plugin().await;
    let config = json!({"image": BUSYBOX, "pull": "never", "commands": ["sleep 60"]});
    let workspace = tempfile::tempdir().unwrap();
    let path = workspace.path().to_path_buf();
    let run = tokio::spawn(async move {
        let grants = granted();
        let request = RunRequest {
            task: "run",
            config: &config,
            grants: &grants,
            limits: Limits { timeout: Duration::from_secs(120), ..Limits::default() },
            workspace: &path,
            logs: Arc::new(CollectLogs::default()),
            execution: None,
        };
        sandbox().run(&plugin, request).await
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while labelled_containers().is_empty() {
        assert!(Instant::now() < deadline, "the container never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the engine does to kill an execution: abort the run's task.
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    assert_no_labelled_containers(Duration::from_secs(15));
}

/// A sandbox of its own whose runs reach the daemon at `endpoint`.
async fn sandbox_with(endpoint: &str) -> (Sandbox, Arc<Plugin>) {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: Some(cache),
        max_concurrent_runs: 4,
        docker: endpoint.parse().unwrap(),
        ..SandboxConfig::default()
    })
    .unwrap();
    let plugin = sandbox.load(sluice_builtin_plugins::DOCKER.wasm).await.unwrap();
    (sandbox, plugin)
}

async fn run_in(
    sandbox: &Sandbox,
    plugin: &Plugin,
    config: serde_json::Value,
) -> (sluice_sandbox::RunReport, Vec<String>) {
    let workspace = tempfile::tempdir().unwrap();
    let logs = Arc::new(CollectLogs::default());
    let grants = granted();
    let request = RunRequest {
        task: "run",
        config: &config,
        grants: &grants,
        limits: Limits::default(),
        workspace: workspace.path(),
        logs: logs.clone(),
        execution: None,
    };
    let report = sandbox.run(plugin, request).await;
    (report, logs.lines().into_iter().map(|l| l.message).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_endpoint_reaches_the_daemon_too() {
    let _serial = lock().await;
    // A plain TCP front for the daemon's socket, as `dockerd -H tcp://...` would offer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let proxy = tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut unix = tokio::net::UnixStream::connect("/var/run/docker.sock").await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            });
        }
    });
    let (sandbox, plugin) = sandbox_with(&format!("tcp://{address}")).await;
    let config = json!({"image": BUSYBOX, "pull": "never", "commands": ["echo over tcp"]});
    let (report, messages) = run_in(&sandbox, &plugin, config).await;
    assert_eq!(report.outcome.unwrap(), json!({"exitCode": 0, "outputFiles": []}));
    assert!(messages.contains(&"over tcp".to_string()), "{messages:?}");
    proxy.abort();
    assert_eq!(labelled_containers(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_daemon_is_named_in_the_log_but_not_to_the_component() {
    let _serial = lock().await;
    let (sandbox, plugin) = sandbox_with("unix:///nonexistent/docker.sock").await;
    let (report, messages) = run_in(&sandbox, &plugin, json!({"image": BUSYBOX, "commands": ["true"]})).await;
    let error = report.outcome.unwrap_err();
    assert_eq!(
        error,
        RunError::Failed(
            "HTTP request to http://docker.sluice.internal failed: the host cannot reach the Docker Engine (see the task log)".into()
        )
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("cannot reach the Docker Engine at unix:///nonexistent/docker.sock: ")),
        "{messages:?}"
    );
}
