//! Talking to the API server: requests with the cluster's credentials, the server's `Status`
//! errors read as such, and watch streams.

use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_plugin::TaskError;
use sluice_plugin::http::{self, Request, Response};

use crate::cluster::{Auth, Cluster, Connection};

/// What a request reports besides the task's own errors: the server's answer to a refused
/// request, which callers look into (404 is often "absent", 409 a conflict to explain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Unauthorized`, ...
    pub reason: String,
    pub message: String,
    /// `details.causes`: (field, message) pairs, e.g. the fields of an apply conflict.
    pub causes: Vec<(String, String)>,
}

impl Status {
    fn of(response: &Response) -> Status {
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        if body["kind"] == "Status" {
            let causes = body["details"]["causes"]
                .as_array()
                .map(|causes| causes.iter().map(|c| (text(&c["field"]), text(&c["message"]))).collect())
                .unwrap_or_default();
            return Status {
                code: body["code"].as_u64().and_then(|c| u16::try_from(c).ok()).unwrap_or(response.status),
                reason: text(&body["reason"]),
                message: text(&body["message"]),
                causes,
            };
        }
        Status {
            code: response.status,
            reason: String::new(),
            message: format!("HTTP {} {}", response.status, response.text().trim()),
            causes: Vec::new(),
        }
    }
}

/// A failed call: the server said no, or the request never got an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    Status(Status),
    Task(TaskError),
}

impl From<http::Error> for CallError {
    fn from(err: http::Error) -> Self {
        CallError::Task(err.into())
    }
}

impl From<TaskError> for CallError {
    fn from(err: TaskError) -> Self {
        CallError::Task(err)
    }
}

/// An event of a watch stream.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub kind: String,
    pub object: Value,
}

/// What a watcher wants after an event.
pub enum Watching {
    Continue,
    Done,
}

/// A connection to one cluster.
pub struct Api {
    pub cluster: Cluster,
}

impl Api {
    /// Resolves the connection and sets up TLS for the server's origin (its CA, a client
    /// certificate): the host applies them to this run's requests to that origin only.
    pub fn connect(connection: &Connection) -> Result<Api, TaskError> {
        let cluster = connection.resolve()?;
        let client = match &cluster.auth {
            Auth::Certificate { chain_pem, key_pem } => Some((chain_pem.as_str(), key_pem.as_str())),
            _ => None,
        };
        if cluster.ca_pem.is_some() || client.is_some() {
            crate::trust::set(&cluster.origin, cluster.ca_pem.as_deref(), client)
                .map_err(|err| prefixed(&cluster.source, err))?;
        }
        Ok(Api { cluster })
    }

    /// A request to `path` (starting with `/`, with its query) with the credentials.
    pub fn request(&self, method: &str, path: &str) -> Request {
        let request = Request::new(method, format!("{}{path}", self.cluster.server))
            .header("accept", "application/json")
            .header("user-agent", concat!("sluice-kubernetes/", env!("CARGO_PKG_VERSION")))
            .follow_redirects(false);
        match &self.cluster.auth {
            Auth::Bearer(token) => request.header("authorization", http::bearer_auth(token)),
            Auth::Basic { username, password } => {
                request.header("authorization", http::basic_auth(username, password))
            }
            Auth::None | Auth::Certificate { .. } => request,
        }
    }

    /// Sends and reads the whole answer; a non-2xx answer is its [`Status`].
    pub fn call(&self, request: Request) -> Result<Response, CallError> {
        let response = request.send()?;
        if response.is_success() {
            return Ok(response);
        }
        Err(CallError::Status(Status::of(&response)))
    }

    /// Sends a request whose answer is a JSON object.
    pub fn call_json(&self, request: Request) -> Result<Value, CallError> {
        let response = self.call(request)?;
        response.json().map_err(|err| CallError::Task(err.into()))
    }

    /// GETs a JSON object; `None` when the server says it does not exist.
    pub fn get(&self, path: &str) -> Result<Option<Value>, CallError> {
        match self.call_json(self.request("GET", path)) {
            Ok(value) => Ok(Some(value)),
            Err(CallError::Status(status)) if status.code == 404 => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Watches `path` (a collection URL with its selectors in `query`, e.g.
    /// `fieldSelector=metadata.name%3Dweb`) from `resource_version`, handing each event to
    /// `on_event` until it says [`Watching::Done`] or `deadline` passes (then `Ok(false)`).
    /// A stream the server closes is opened again from the last version seen.
    pub fn watch(
        &self,
        path: &str,
        query: &str,
        mut resource_version: String,
        deadline: Instant,
        mut on_event: impl FnMut(WatchEvent) -> Result<Watching, TaskError>,
    ) -> Result<bool, CallError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let seconds = left.as_secs().clamp(1, 300);
            let url = format!(
                "{path}?{query}{}watch=true&allowWatchBookmarks=true&timeoutSeconds={seconds}&resourceVersion={resource_version}",
                if query.is_empty() { "" } else { "&" }
            );
            let mut lines = Lines::default();
            let mut outcome: Result<Option<bool>, TaskError> = Ok(None);
            let request = self.request("GET", &url).timeout(Duration::from_secs(seconds + 30));
            let result = request.send_streaming(|chunk| {
                let mut stop = false;
                lines.feed(chunk, |line| {
                    if stop || line.trim().is_empty() {
                        return;
                    }
                    match parse_event(line) {
                        Ok(event) => {
                            if let Some(version) = event.object["metadata"]["resourceVersion"].as_str() {
                                resource_version = version.to_string();
                            }
                            if event.kind == "ERROR" {
                                outcome = Ok(Some(false));
                                stop = true;
                                return;
                            }
                            if event.kind == "BOOKMARK" {
                                return;
                            }
                            match on_event(event) {
                                Ok(Watching::Continue) => {}
                                Ok(Watching::Done) => {
                                    outcome = Ok(Some(true));
                                    stop = true;
                                }
                                Err(err) => {
                                    outcome = Err(err);
                                    stop = true;
                                }
                            }
                        }
                        Err(err) => {
                            outcome = Err(err);
                            stop = true;
                        }
                    }
                });
                if stop { Err(http::Error::Decode("watch ended by its reader".into())) } else { Ok(()) }
            });
            match (outcome?, result) {
                (Some(true), _) => return Ok(true),
                // An ERROR event (the version expired: 410 Gone): the caller starts over.
                (Some(false), _) => return Err(CallError::Status(expired())),
                (None, Ok(response)) if response.is_success() => continue,
                (None, Ok(response)) => return Err(CallError::Status(Status::of(&response))),
                (None, Err(err)) => return Err(err.into()),
            }
        }
    }
}

/// The status of a watch whose starting version is too old.
fn expired() -> Status {
    Status {
        code: 410,
        reason: "Expired".into(),
        message: "the watch's resource version expired".into(),
        causes: vec![],
    }
}

fn parse_event(line: &str) -> Result<WatchEvent, TaskError> {
    let mut value: Value = serde_json::from_str(line).map_err(|err| {
        TaskError::failed(format!("the API server sent a watch event that is not JSON: {err}"))
    })?;
    let kind = value["type"].as_str().unwrap_or_default().to_string();
    Ok(WatchEvent { kind, object: value["object"].take() })
}

/// Splits a byte stream into lines as chunks arrive (a watch is one JSON event per line).
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    fn feed(&mut self, chunk: &[u8], mut on_line: impl FnMut(&str)) {
        self.partial.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(offset) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let end = start + offset;
            on_line(&String::from_utf8_lossy(&self.partial[start..end]));
            start = end + 1;
        }
        self.partial.drain(..start);
    }
}

/// Explains a refused call as a task error: `what` says what was being done.
pub fn failure(what: &str, api: &Api, err: CallError) -> TaskError {
    match err {
        CallError::Task(err) => prefixed(what, err),
        CallError::Status(status) if status.code == 401 => TaskError::failed(format!(
            "{what}: the API server at {} refused the credentials of {} (401 Unauthorized){}",
            api.cluster.server,
            api.cluster.source,
            if status.message.is_empty() { String::new() } else { format!(": {}", status.message) }
        )),
        CallError::Status(status) => {
            let reason =
                if status.reason.is_empty() { String::new() } else { format!("{}, ", status.reason) };
            TaskError::failed(format!("{what}: {} ({reason}HTTP {})", status.message, status.code))
        }
    }
}

/// The same error, its message prefixed with `what: `.
pub fn prefixed(what: &str, err: TaskError) -> TaskError {
    match err {
        TaskError::Denied(message) => TaskError::denied(format!("{what}: {message}")),
        TaskError::Failed(message) => TaskError::failed(format!("{what}: {message}")),
        TaskError::InvalidConfig(message) => TaskError::invalid_config(format!("{what}: {message}")),
    }
}

/// Percent-encodes a query value (selectors carry `=`, `,`, `!`, spaces): the SDK's.
pub use sluice_plugin::http::encode_component as encode;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_across_chunks() {
        let mut lines = Lines::default();
        let mut seen = Vec::new();
        lines.feed(b"{\"type\":\"ADDED\"}\n{\"ty", |l| seen.push(l.to_string()));
        lines.feed(b"pe\":\"MODIFIED\"}\n", |l| seen.push(l.to_string()));
        assert_eq!(seen, ["{\"type\":\"ADDED\"}", "{\"type\":\"MODIFIED\"}"]);
    }

    #[test]
    fn encodes_selectors() {
        assert_eq!(encode("app=web,tier in (a b)"), "app%3Dweb%2Ctier%20in%20%28a%20b%29");
    }

    #[test]
    fn events_parse() {
        let event = parse_event(r#"{"type":"DELETED","object":{"kind":"Pod"}}"#).unwrap();
        assert_eq!(event.kind, "DELETED");
        assert_eq!(event.object["kind"], "Pod");
        assert!(parse_event("nope").is_err());
    }
}
