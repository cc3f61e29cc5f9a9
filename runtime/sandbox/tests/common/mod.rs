//! Shared by the sandbox's host tests: one sandbox per test process (as in production), the
//! test component loaded once, workspaces in temp dirs, and a small HTTP server on 127.0.0.1.

#![allow(dead_code, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use serde_json::{Value, json};
use sluice_sandbox::{
    CollectLogs, Grants, Limits, LogLine, Plugin, RunError, RunReport, RunRequest, Sandbox, SandboxConfig,
};
use tokio::sync::OnceCell;

pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
        Sandbox::new(SandboxConfig {
            cache_dir: Some(cache),
            max_concurrent_runs: 64,
            max_memory_bytes: 1 << 30,
            ..SandboxConfig::default()
        })
        .expect("sandbox")
    })
}

pub async fn test_plugin() -> Arc<Plugin> {
    static PLUGIN: OnceCell<Arc<Plugin>> = OnceCell::const_new();
    PLUGIN
        .get_or_init(|| async {
            sandbox().load(&test_programs_artifacts::test_programs_bytes()).await.expect("load test programs")
        })
        .await
        .clone()
}

pub async fn core_plugin() -> Arc<Plugin> {
    static PLUGIN: OnceCell<Arc<Plugin>> = OnceCell::const_new();
    PLUGIN
        .get_or_init(|| async { sandbox().load(sluice_builtin_plugins::CORE.wasm).await.expect("load core") })
        .await
        .clone()
}

/// A task run with its workspace and collected logs.
pub struct Run {
    pub report: RunReport,
    pub logs: Vec<LogLine>,
    pub workspace: tempfile::TempDir,
}

impl Run {
    pub fn output(&self) -> &Value {
        match &self.report.outcome {
            Ok(v) => v,
            Err(e) => panic!("expected success, got {e:?}; logs: {:#?}", self.logs),
        }
    }

    pub fn error(&self) -> &RunError {
        match &self.report.outcome {
            Ok(v) => panic!("expected failure, got outputs {v}"),
            Err(e) => e,
        }
    }

    pub fn messages(&self) -> Vec<&str> {
        self.logs.iter().map(|l| l.message.as_str()).collect()
    }
}

pub struct Call<'a> {
    pub plugin: &'a Plugin,
    pub task: &'a str,
    pub config: Value,
    pub grants: Grants,
    pub limits: Limits,
    pub workspace: Option<tempfile::TempDir>,
    /// The execution the run is told it belongs to (`context`).
    pub execution: Option<Value>,
}

impl<'a> Call<'a> {
    pub fn new(plugin: &'a Plugin, task: &'a str, config: Value) -> Self {
        Call {
            plugin,
            task,
            config,
            grants: Grants::default(),
            limits: Limits::default(),
            workspace: None,
            execution: None,
        }
    }

    pub fn execution(mut self, execution: Value) -> Self {
        self.execution = Some(execution);
        self
    }

    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    pub fn in_workspace(mut self, workspace: tempfile::TempDir) -> Self {
        self.workspace = Some(workspace);
        self
    }

    pub async fn run(self) -> Run {
        let workspace = self.workspace.unwrap_or_else(|| tempfile::tempdir().unwrap());
        let logs = Arc::new(CollectLogs::default());
        let report = sandbox()
            .run(
                self.plugin,
                RunRequest {
                    task: self.task,
                    config: &self.config,
                    grants: &self.grants,
                    limits: self.limits,
                    workspace: workspace.path(),
                    logs: logs.clone(),
                    execution: self.execution.as_ref(),
                },
            )
            .await;
        Run { report, logs: logs.lines(), workspace }
    }
}

/// After a hostile run: the same process still runs a good task correctly.
pub async fn assert_host_unharmed() {
    let plugin = test_plugin().await;
    let run = Call::new(&plugin, "echo", json!({"value": {"still": "fine"}})).run().await;
    assert_eq!(run.output(), &json!({"value": {"still": "fine"}}));
}

/// A tiny HTTP server on 127.0.0.1: `/hello` answers 200 `hello from <port>`,
/// `/redirect?to=<url>` answers 302 to that url, `/hang` never answers.
pub async fn http_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| async move {
                    Ok::<_, Infallible>(respond(addr, &req).await)
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    addr
}

async fn respond(addr: SocketAddr, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/hello" => Response::new(Full::new(Bytes::from(format!("hello from {}", addr.port())))),
        "/redirect" => {
            let to = req.uri().query().and_then(|q| q.strip_prefix("to=")).unwrap_or("/hello").to_string();
            Response::builder().status(302).header("location", to).body(Full::new(Bytes::new())).unwrap()
        }
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::new(Full::new(Bytes::new()))
        }
        _ => Response::builder().status(404).body(Full::new(Bytes::from("not found"))).unwrap(),
    }
}
