//! The real `sluice server` (or `sluice worker`) binary on 127.0.0.1:0 with a temp data dir,
//! for tests that drive it over HTTP. Shared by the server test files (`mod common;`).

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

#[path = "../../../server/tests/support/sse.rs"]
mod sse;
pub use sse::SseEvent;
use sse::take_event;

pub struct Server {
    pub child: Child,
    pub base: String,
    pub http: reqwest::Client,
    /// What it printed on stderr before "listening on" (how auth starts, a first admin token).
    pub preamble: Vec<String>,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[], &[])
    }

    /// Starts with extra `server` arguments and environment variables.
    pub fn start_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_bound(data_dir, "127.0.0.1:0", args, env)
    }

    /// [`Server::start_with`] listening on `bind` (`127.0.0.1:8080`).
    pub fn start_bound(data_dir: &Path, bind: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_command("server", data_dir, bind, args, env)
    }

    /// `sluice worker` with extra arguments, its health and metrics on a free port.
    pub fn start_worker(data_dir: &Path, args: &[&str]) -> Server {
        Server::start_command("worker", data_dir, "127.0.0.1:0", args, &[])
    }

    fn start_command(
        command: &str,
        data_dir: &Path,
        bind: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--data-dir")
            .arg(data_dir)
            .args([command, "--bind", bind])
            .args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut preamble = Vec::new();
        let base = loop {
            let line = lines.next().expect("the server exited before listening").unwrap();
            if let Some(address) = line.strip_prefix("listening on ") {
                break address.to_owned();
            }
            preamble.push(line);
        };
        // Keep draining stderr so the server never blocks on a full pipe (shown with
        // SLUICE_TEST_SERVER_LOG=1, to debug a test).
        let show = std::env::var_os("SLUICE_TEST_SERVER_LOG").is_some();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if show {
                    eprintln!("server: {line}");
                }
            }
        });
        Server { child, base, http: reqwest::Client::new(), preamble }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).body(body.to_owned())).await
    }

    pub async fn wait_for_state(&self, id: &str, state: &str) -> Value {
        for _ in 0..600 {
            let (_, doc) = self.get(&format!("/api/v1/executions/{id}")).await;
            if doc["state"] == state {
                return doc;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("execution {id} never reached {state}");
    }

    /// Follows an SSE route (`Last-Event-ID` sent when given).
    pub async fn follow(&self, path: &str, last_event_id: Option<&str>) -> Events {
        let mut request = self.http.get(self.url(path));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        Events { response, buffer: String::new() }
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Sends a signal by name (`STOP` freezes the process as a stalled machine would, `CONT`
    /// thaws it).
    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// SIGKILL (`kill -9`), as a crash: the process ends mid-whatever, and is waited for.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(mut self) -> i32 {
        self.signal_term();
        self.child.wait().unwrap().code().expect("exited, not killed by a signal")
    }
}

/// The events of a followed SSE response, as they arrive.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// The next event (keep-alive comments skipped); None once the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        // Not a timing assertion: a guard so that an event that never comes fails the test.
        tokio::time::timeout(Duration::from_secs(120), self.read()).await.expect("no event came")
    }

    async fn read(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = take_event(&mut self.buffer) {
                return Some(event);
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Every event until the stream ends.
    pub async fn rest(&mut self) -> Vec<SseEvent> {
        let mut all = Vec::new();
        while let Some(event) = self.next().await {
            all.push(event);
        }
        all
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
