//! `core.http`: one HTTP request.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::http::{self, Request};
use sluice_plugin::{Capability, Task, TaskError};

pub struct HttpTask;

/// How much of an unexpected response's body the error message quotes.
const ERROR_BODY_PREVIEW: usize = 200;

/// Config of `core.http`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpConfig {
    /// The HTTP method.
    #[serde(default = "default_method")]
    method: String,
    /// The absolute http(s) URL; its origin must be allowed for the task (granted by default).
    url: String,
    /// Request headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// The request body, as text.
    #[serde(default)]
    body: Option<String>,
    /// The statuses that count as success; any 2xx when absent.
    #[serde(default)]
    expected_status: Option<Vec<u16>>,
    /// Follow redirects (each redirect's origin must be allowed too).
    #[serde(default = "default_follow_redirects")]
    follow_redirects: bool,
    /// Fail when the response body is larger than this many bytes.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: u64,
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_follow_redirects() -> bool {
    true
}

fn default_max_body_bytes() -> u64 {
    http::DEFAULT_MAX_BODY_BYTES
}

/// Outputs of `core.http`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpOutput {
    /// The response status.
    status: u16,
    /// Response headers by lower-case name; repeated headers joined with `, `.
    headers: BTreeMap<String, String>,
    /// The response body as text (invalid UTF-8 replaced).
    body: String,
}

impl Task for HttpTask {
    const NAME: &'static str = "http";
    const DESCRIPTION: &'static str = "Sends one HTTP request (`method`, `url`, `headers`, \
        `body`) and outputs the response's `status`, `headers` and `body` as text. Fails \
        when the status is not in `expectedStatus` (default: any 2xx), quoting the start of \
        the body. Redirects are followed unless `followRedirects` is false. The origin of \
        `url` is allowed by default; other origins (redirect targets) must be granted in \
        `allow.network`.";
    type Config = HttpConfig;
    type Output = HttpOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("url")]
    }

    fn run(config: HttpConfig) -> Result<HttpOutput, TaskError> {
        let mut request = Request::new(&config.method, &config.url)
            .follow_redirects(config.follow_redirects)
            .max_body_bytes(config.max_body_bytes);
        for (name, value) in &config.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &config.body {
            request = request.body(body.as_str());
        }
        let response = request.send().map_err(|err| match err {
            http::Error::InvalidRequest(_) => TaskError::invalid_config(err.to_string()),
            other => other.into(),
        })?;
        let expected = match &config.expected_status {
            Some(statuses) => statuses.contains(&response.status),
            None => response.is_success(),
        };
        if !expected {
            return Err(TaskError::failed(unexpected_status(&config, response.status, &response.text())));
        }
        Ok(HttpOutput { status: response.status, headers: response.header_map(), body: response.text() })
    }
}

fn unexpected_status(config: &HttpConfig, status: u16, body: &str) -> String {
    let expected = match &config.expected_status {
        Some(statuses) => {
            let list: Vec<String> = statuses.iter().map(u16::to_string).collect();
            format!("one of {}", list.join(", "))
        }
        None => "a 2xx status".to_string(),
    };
    let mut end = body.len().min(ERROR_BODY_PREVIEW);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let ellipsis = if end < body.len() { "…" } else { "" };
    format!(
        "{} {} returned HTTP {status}, expected {expected}; body: {}{ellipsis}",
        config.method.to_ascii_uppercase(),
        config.url,
        &body[..end]
    )
}
