//! The Jira connection every task takes (flattened into its config), and the one way requests
//! go out: authenticated, JSON, retried after 429/5xx as `Retry-After` says (the SDK's
//! [`Retry`], its waits bounded by the task's timeout), and a non-2xx answer turned into a task
//! error carrying Jira's own `errorMessages` and `errors` verbatim.

use std::time::SystemTime;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_plugin::TaskError;
use sluice_plugin::http::{Credentials, Request, Response, Retry, is_retryable};

/// Where Jira is and who the task is, flattened into every task's config.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The site, `https://acme.atlassian.net` (granted to the task by being given here).
    pub base_url: String,
    /// The Atlassian account's email, with `apiToken` (basic auth).
    #[serde(default)]
    pub email: Option<String>,
    /// An API token of that account (use a secret: `{{ secret('JIRA_TOKEN') }}`).
    #[serde(default)]
    pub api_token: Option<String>,
    /// A bearer token instead of `email` + `apiToken` (an OAuth 2.0 access token, or a
    /// personal access token on Jira Data Center).
    #[serde(default)]
    pub bearer_token: Option<String>,
}

/// A checked connection.
pub struct Client {
    /// The base URL without a trailing `/`.
    base: String,
    authorization: String,
    /// The SDK's default retries, no wait ending past the task's timeout.
    retry: Retry,
}

impl Connection {
    /// The client, or an invalid-config error naming the fields to fix.
    pub fn client(&self) -> Result<Client, TaskError> {
        let base = self.base_url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(TaskError::invalid_config(format!(
                "`baseUrl`: `{}` is not an http(s) URL like https://acme.atlassian.net",
                self.base_url
            )));
        }
        let authorization = Credentials {
            user: ("email", self.email.as_deref()),
            password: ("apiToken", self.api_token.as_deref()),
            token: ("bearerToken", self.bearer_token.as_deref()),
        }
        .authorization()?;
        Ok(Client { base, authorization, retry: Retry::default().within_task_timeout() })
    }
}

impl Client {
    /// `<base>/browse/KEY`, the issue's page.
    pub fn browse_url(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.base)
    }

    /// `<base>/browse/`, to which a key is appended.
    pub fn browse_url_of(&self) -> String {
        format!("{}/browse/", self.base)
    }

    /// A request to `path` (`/rest/api/3/...`) with auth and `accept: application/json`.
    fn request(&self, method: &str, path: &str) -> Request {
        Request::new(method, format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            // Jira answers a redirect to its login page for a bad session; never follow it.
            .follow_redirects(false)
    }

    /// Sends `method path` with an optional JSON `body`, retrying 429/5xx; a non-2xx answer is
    /// a task error that starts with `what` (`creating an issue in OPS`).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response, TaskError> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body)?;
        }
        let (response, attempts) = request.send_counting_retries(&self.retry)?;
        if response.is_success() {
            return Ok(response);
        }
        let mut text = format!("{what}: {}", error_text(&response));
        if is_retryable(response.status) {
            text.push_str(&format!("; {}", self.retry.gave_up(&response, attempts, SystemTime::now())));
        }
        Err(TaskError::failed(text))
    }

    /// [`send`](Client::send), the answer parsed as `T`.
    pub fn send_json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<T, TaskError> {
        let response = self.send(method, path, body, what)?;
        response.json().map_err(|err| TaskError::failed(format!("{what}: {err}")))
    }
}

/// Jira's error body (`{"errorMessages": [...], "errors": {"field": "message"}}`, documented for
/// every v3 error) as `HTTP 400: message; field: message`, verbatim; another body (a proxy's
/// page, Atlassian's 401 text) is quoted, shortened.
pub fn error_text(response: &Response) -> String {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ErrorCollection {
        #[serde(default)]
        error_messages: Vec<String>,
        #[serde(default)]
        errors: serde_json::Map<String, Value>,
    }
    let status = response.status;
    let mut parts = Vec::new();
    match serde_json::from_slice::<ErrorCollection>(&response.body) {
        Ok(body) if !(body.error_messages.is_empty() && body.errors.is_empty()) => {
            parts.extend(body.error_messages);
            for (field, message) in body.errors {
                let message = message.as_str().map_or_else(|| message.to_string(), str::to_string);
                parts.push(format!("{field}: {message}"));
            }
        }
        _ => {
            let text = response.text();
            let text = text.trim();
            if !text.is_empty() {
                parts.push(shorten(text, 300));
            }
        }
    }
    let mut text = format!("Jira answered HTTP {status}");
    if status == 401 {
        text.push_str(" (check `email` and `apiToken`, or `bearerToken`)");
    }
    if !parts.is_empty() {
        text.push_str(": ");
        text.push_str(&parts.join("; "));
    }
    text
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// An issue key or id for a URL path (`OPS-12`), checked so it cannot change the path.
pub fn issue_path(key: &str) -> Result<String, TaskError> {
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(TaskError::invalid_config(format!(
            "`issue`: `{key}` is not an issue key like OPS-12 (or a numeric id)"
        )));
    }
    Ok(key.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response { status, headers: Vec::new(), body: body.as_bytes().to_vec(), url: String::new() }
    }

    #[test]
    fn jira_errors_keep_their_messages_and_field_names() {
        let body = r#"{"errorMessages":["Field 'priority' cannot be set."],"errors":{"summary":"You must specify a summary of the issue.","customfield_10010":"Option id 'x' is not valid"}}"#;
        assert_eq!(
            error_text(&answer(400, body)),
            "Jira answered HTTP 400: Field 'priority' cannot be set.; customfield_10010: Option id 'x' is not valid; summary: You must specify a summary of the issue."
        );
        assert_eq!(
            error_text(&answer(401, "Client must be authenticated to access this resource.")),
            "Jira answered HTTP 401 (check `email` and `apiToken`, or `bearerToken`): Client must be authenticated to access this resource."
        );
        assert_eq!(
            error_text(&answer(404, r#"{"errorMessages":[],"errors":{}}"#)),
            "Jira answered HTTP 404: {\"errorMessages\":[],\"errors\":{}}"
        );
    }

    #[test]
    fn credentials_are_one_of_two_kinds() {
        let connection = |email: Option<&str>, token: Option<&str>, bearer: Option<&str>| Connection {
            base_url: "https://acme.atlassian.net/".into(),
            email: email.map(Into::into),
            api_token: token.map(Into::into),
            bearer_token: bearer.map(Into::into),
        };
        let basic = connection(Some("a@b.c"), Some("t"), None).client().unwrap();
        assert_eq!(basic.authorization, "Basic YUBiLmM6dA==");
        assert_eq!(basic.browse_url("OPS-1"), "https://acme.atlassian.net/browse/OPS-1");
        assert_eq!(connection(None, None, Some("x")).client().unwrap().authorization, "Bearer x");
        assert!(connection(Some("a"), None, None).client().is_err());
        assert!(connection(Some("a"), Some("t"), Some("x")).client().is_err());
        assert!(connection(None, None, None).client().is_err());
    }

    #[test]
    fn issue_keys_cannot_leave_their_path() {
        assert_eq!(issue_path(" OPS-12 ").unwrap(), "OPS-12");
        assert!(issue_path("OPS-1/../../x").is_err());
        assert!(issue_path("").is_err());
    }
}
