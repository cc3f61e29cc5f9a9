//! The router called directly (no socket) on a real engine with the core plugin and a SQLite
//! store in a temp dir, shared by the server's test files (`mod support;`).

#![allow(dead_code, clippy::unwrap_used)]

pub mod sse;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sluice_engine::scheduler::{Engine, EngineConfig, Plugins, StaticSecrets};
use sluice_sandbox::{Sandbox, SandboxConfig};
use sluice_server::{AppState, ServerStore, router};
use sluice_store::SqliteStore;
use tower::ServiceExt;

pub const HELLO: &str = include_str!("../../../../examples/flows/hello.yaml");

/// An engine on a store in `dir`, with the core plugin and these secrets.
pub async fn engine(dir: &Path, secrets: &[(&str, &str)]) -> Engine<ServerStore> {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("server-cache");
    let sandbox =
        Arc::new(Sandbox::new(SandboxConfig { cache_dir: Some(cache), ..SandboxConfig::default() }).unwrap());
    let core = sandbox.load(sluice_builtin_plugins::CORE.wasm).await.unwrap();
    let store = Arc::new(ServerStore::from(SqliteStore::open(&dir.join("sluice.db")).await.unwrap()));
    let secrets: HashMap<String, String> =
        secrets.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Engine::new(
        store,
        sandbox,
        Plugins::new([(core, sluice_engine::setup::Origin::Builtin)]).unwrap(),
        Arc::new(StaticSecrets(secrets)),
        EngineConfig::new(dir.join("ws"), "test"),
    )
}

pub struct Api {
    pub app: Router,
    pub state: AppState,
    pub _dir: tempfile::TempDir,
}

pub async fn api() -> Api {
    api_with(&[]).await
}

pub async fn api_with(secrets: &[(&str, &str)]) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::new(engine(dir.path(), secrets).await);
    Api { app: router(state.clone()), state, _dir: dir }
}

pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts a problem document and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.content_type, "application/problem+json");
        self.json()
    }
}

impl Api {
    /// Sends the request and reads the whole answer.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, content_type, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    pub async fn call(&self, method: &str, uri: &str, body: &str, accept: Option<&str>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap()).await
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call("GET", uri, "", None).await
    }

    pub async fn post(&self, uri: &str, body: &str) -> Answer {
        self.call("POST", uri, body, None).await
    }

    /// Starts `flow` (deployed) and returns the execution's id.
    pub async fn start(&self, path: &str, body: &str) -> String {
        let started = self.post(path, body).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
        started.json()["executionId"].as_str().unwrap().to_owned()
    }

    /// Waits (through the store, via GET) until the execution is in `state`.
    pub async fn wait_for_state(&self, id: &str, state: &str) -> Value {
        for _ in 0..600 {
            let doc = self.get(&format!("/api/v1/executions/{id}")).await.json();
            if doc["state"] == state {
                return doc;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("execution {id} never reached {state}");
    }
}

pub fn problem(kind: &str, title: &str, status: u16, detail: &str) -> Value {
    json!({"type": format!("https://sluice.dev/problems/{kind}"), "title": title, "status": status, "detail": detail})
}

pub fn not_found(detail: &str) -> Value {
    problem("not-found", "Not found", 404, detail)
}

pub fn conflict(detail: &str) -> Value {
    problem("conflict", "Conflict", 409, detail)
}

pub fn bad_request(detail: &str) -> Value {
    problem("bad-request", "Bad request", 400, detail)
}
