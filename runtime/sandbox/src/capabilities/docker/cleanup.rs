//! Removing the containers a run left behind: a task that times out or is killed cannot clean
//! up after itself, so the host removes every container labelled with the run when it ends.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::WasiBody;

use super::policy::RUN_LABEL;
use super::route::{DockerSession, send};
use crate::capabilities::logs::LogLevel;

/// How long the cleanup waits for creations the daemon has not answered yet.
const CREATION_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl DockerSession {
    /// Force-removes the run's containers that still exist; returns their ids.
    pub(crate) async fn remove_leftovers(&self) -> Vec<String> {
        if !self.created.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let deadline = tokio::time::Instant::now() + CREATION_WAIT;
        while self.creating.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let filters = format!(r#"{{"label":["{RUN_LABEL}={}"]}}"#, self.run_id);
        let list = format!("/containers/json?all=1&filters={}", percent_encode(&filters));
        let ids: Vec<String> = match self.call("GET", &list).await {
            Ok((200, body)) => serde_json::from_slice::<Vec<serde_json::Value>>(&body)
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c.get("Id").and_then(|id| id.as_str()).map(str::to_string))
                .collect(),
            Ok((status, body)) => {
                self.warn(format!(
                    "could not list the run's containers to remove them: HTTP {status}: {}",
                    String::from_utf8_lossy(&body)
                ));
                return Vec::new();
            }
            Err(message) => {
                self.warn(format!("could not list the run's containers to remove them: {message}"));
                return Vec::new();
            }
        };
        let mut removed = Vec::new();
        for id in ids {
            let short = &id[..id.len().min(12)];
            match self.call("DELETE", &format!("/containers/{id}?force=1&v=1")).await {
                Ok((204 | 404, _)) => {
                    self.log
                        .host(LogLevel::Info, format!("removed container {short} that the task left behind"));
                    removed.push(id);
                }
                Ok((status, body)) => self.warn(format!(
                    "could not remove container {short}: HTTP {status}: {}",
                    String::from_utf8_lossy(&body)
                )),
                Err(message) => self.warn(format!("could not remove container {short}: {message}")),
            }
        }
        removed
    }

    fn warn(&self, message: String) {
        self.log.host(LogLevel::Warn, message);
    }

    /// One bodiless request to the daemon, the whole response read.
    async fn call(&self, method: &str, path: &str) -> Result<(u16, Bytes), String> {
        let body: WasiBody = Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync();
        let request =
            http::Request::builder().method(method).uri(path).body(body).map_err(|e| e.to_string())?;
        let (response, io) = send(&self.endpoint, &self.log, request).await.map_err(|e| e.to_string())?;
        let io = tokio::spawn(Box::into_pin(io));
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        io.abort();
        Ok((status, body))
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
