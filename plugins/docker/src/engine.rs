//! Talking to the Docker Engine API through the host: requests to the reserved origin, daemon
//! errors turned into task errors, and the streams the daemon answers with.

use serde::de::DeserializeOwned;
use sluice_plugin::TaskError;
use sluice_plugin::http::{self, DOCKER_ORIGIN, Request, Response};

/// The API version spoken: Docker 20.10 and every later daemon accept it.
const API_VERSION: &str = "v1.41";

/// The header the host sets on a request it refused itself (`sluice-denied`).
const HOST_DENIED_HEADER: &str = "sluice-denied";

/// A request to `path` (with query) of the Engine API.
pub fn request(method: &str, path: &str) -> Request {
    Request::new(method, format!("{DOCKER_ORIGIN}/{API_VERSION}{path}")).follow_redirects(false)
}

/// Sends a request and reads the whole answer; a non-2xx status is a task error with the
/// daemon's message, `what` saying what was being done.
pub fn send(request: Request, what: &str) -> Result<Response, TaskError> {
    let response = request.send()?;
    ensure_success(response, what)
}

/// Sends a request and reads a JSON answer.
pub fn send_json<T: DeserializeOwned>(request: Request, what: &str) -> Result<T, TaskError> {
    let response = send(request, what)?;
    response.json().map_err(|err| TaskError::failed(format!("{what}: {err}")))
}

/// Sends a request and hands a 2xx answer's body to `on_chunk` as it arrives.
pub fn send_streaming(
    request: Request,
    what: &str,
    on_chunk: impl FnMut(&[u8]) -> Result<(), http::Error>,
) -> Result<Response, TaskError> {
    let response = request.send_streaming(on_chunk)?;
    ensure_success(response, what)
}

/// A non-2xx answer as a task error: the daemon's `message`, or the host's refusal as denied.
pub fn ensure_success(response: Response, what: &str) -> Result<Response, TaskError> {
    if response.is_success() {
        return Ok(response);
    }
    let message = daemon_message(&response);
    if response.header(HOST_DENIED_HEADER).is_some() {
        return Err(TaskError::denied(message));
    }
    Err(TaskError::failed(format!("{what}: {message}")))
}

/// The daemon's error message (`{"message": "..."}`), else the status and body.
pub fn daemon_message(response: &Response) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(body) => body.message,
        Err(_) => format!("HTTP {} {}", response.status, response.text().trim()),
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    encode_keeping(value, b"")
}

/// Percent-encodes an image reference for a path (`/images/{name}/json`): the daemon routes
/// names with `/`, `:` and `@` as they are.
pub fn encode_path(value: &str) -> String {
    encode_keeping(value, b"/:@")
}

fn encode_keeping(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') || keep.contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Splits a stream of bytes into lines as chunks arrive (the daemon's JSON progress streams are
/// one object per line, and chunks cut lines anywhere).
#[derive(Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Feeds a chunk; `on_line` gets each completed line without its `\n` (or `\r\n`).
    pub fn feed(&mut self, chunk: &[u8], mut on_line: impl FnMut(&str)) {
        self.partial.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(offset) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let end = start + offset;
            let line = &self.partial[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            on_line(&String::from_utf8_lossy(line));
            start = end + 1;
        }
        self.partial.drain(..start);
    }

    /// Emits what is left after the stream ended.
    pub fn finish(&mut self, mut on_line: impl FnMut(&str)) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            on_line(&String::from_utf8_lossy(&rest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_across_chunks() {
        let mut lines = Lines::default();
        let mut seen = Vec::new();
        lines.feed(b"{\"a\":1}\n{\"b\"", |l| seen.push(l.to_string()));
        lines.feed(b":2}\r\n\nend", |l| seen.push(l.to_string()));
        lines.finish(|l| seen.push(l.to_string()));
        assert_eq!(seen, ["{\"a\":1}", "{\"b\":2}", "", "end"]);
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode(r#"{"a":["b c"]}"#), "%7B%22a%22%3A%5B%22b%20c%22%5D%7D");
    }
}
