//! The ServiceNow connection every task takes (flattened into its config), and the one way
//! requests go out: authenticated, JSON, retried after 429/5xx as `Retry-After` says (the SDK's
//! [`Retry`], its waits bounded by the task's timeout), and a non-2xx answer turned into a task
//! error with ServiceNow's own `error.message` and `error.detail` verbatim.

use std::time::SystemTime;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_plugin::TaskError;
use sluice_plugin::http::{Credentials, Request, Retry, is_retryable};

/// Where the instance is and who the task is, flattened into every task's config.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The instance, `https://acme.service-now.com` (granted to the task by being given here).
    pub instance_url: String,
    /// A user for basic auth, with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// That user's password (use a secret: `{{ secret('SNOW_PASSWORD') }}`).
    #[serde(default)]
    pub password: Option<String>,
    /// An OAuth access token instead of `username` + `password` (sent as a bearer token).
    #[serde(default)]
    pub token: Option<String>,
}

/// A checked connection.
pub struct Client {
    /// The instance URL without a trailing `/`.
    pub base: String,
    authorization: String,
    /// The SDK's default retries, no wait ending past the task's timeout.
    retry: Retry,
}

impl Connection {
    /// The client, or an invalid-config error naming the fields to fix.
    pub fn client(&self) -> Result<Client, TaskError> {
        let base = self.instance_url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(TaskError::invalid_config(format!(
                "`instanceUrl`: `{}` is not an http(s) URL like https://acme.service-now.com",
                self.instance_url
            )));
        }
        let authorization = Credentials {
            user: ("username", self.username.as_deref()),
            password: ("password", self.password.as_deref()),
            token: ("token", self.token.as_deref()),
        }
        .authorization()?;
        Ok(Client { base, authorization, retry: Retry::default().within_task_timeout() })
    }
}

impl Client {
    /// Sends `method path_and_query` with an optional JSON `body`, retrying 429/5xx, and
    /// returns the answer's `result`; a non-2xx answer is a task error that starts with `what`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, TaskError> {
        let mut request = Request::new(method, format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .follow_redirects(false);
        if let Some(body) = body {
            request = request.json(body)?;
        }
        let (response, attempts) = request.send_counting_retries(&self.retry)?;
        if !response.is_success() {
            let mut text = format!("{what}: {}", error_text(response.status, &response.body));
            if is_retryable(response.status) {
                text.push_str(&format!("; {}", self.retry.gave_up(&response, attempts, SystemTime::now())));
            }
            return Err(TaskError::failed(text));
        }
        #[derive(Deserialize)]
        struct Answer {
            result: Value,
        }
        let answer: Answer = response.json().map_err(|err| TaskError::failed(format!("{what}: {err}")))?;
        Ok(answer.result)
    }
}

/// ServiceNow's error body (`{"error": {"message": ..., "detail": ...}, "status": "failure"}`) as
/// `HTTP 400: message (detail)`, verbatim; another body (a proxy's page) is quoted, shortened.
pub fn error_text(status: u16, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Failure {
        error: ErrorBody,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        detail: Option<String>,
    }
    let mut text = format!("ServiceNow answered HTTP {status}");
    if status == 401 {
        text.push_str(" (check `username` and `password`, or `token`)");
    }
    let said = match serde_json::from_slice::<Failure>(body) {
        Ok(Failure { error: ErrorBody { message, detail } }) => {
            let trimmed = |text: Option<String>| text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
            match (trimmed(message), trimmed(detail)) {
                (Some(message), Some(detail)) => format!("{message} ({detail})"),
                (Some(one), None) | (None, Some(one)) => one,
                (None, None) => String::new(),
            }
        }
        Err(_) => {
            let body = String::from_utf8_lossy(body);
            let body = body.trim();
            match body.char_indices().nth(300) {
                Some((end, _)) => format!("{}...", &body[..end]),
                None => body.to_string(),
            }
        }
    };
    if !said.is_empty() {
        text.push_str(": ");
        text.push_str(&said);
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn servicenow_errors_are_quoted() {
        let body = br#"{"error":{"message":"Invalid table no_such","detail":null},"status":"failure"}"#;
        assert_eq!(error_text(400, body), "ServiceNow answered HTTP 400: Invalid table no_such");
        let body = br#"{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}"#;
        assert_eq!(
            error_text(404, body),
            "ServiceNow answered HTTP 404: No Record found (Record doesn't exist or ACL restricts the record retrieval)"
        );
        assert_eq!(
            error_text(401, br#"{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}"#),
            "ServiceNow answered HTTP 401 (check `username` and `password`, or `token`): User Not Authenticated (Required to provide Auth information)"
        );
        assert_eq!(
            error_text(502, b"<html>bad gateway</html>"),
            "ServiceNow answered HTTP 502: <html>bad gateway</html>"
        );
    }

    #[test]
    fn credentials_are_one_of_two_kinds() {
        let connection = |user: Option<&str>, password: Option<&str>, token: Option<&str>| Connection {
            instance_url: "https://acme.service-now.com/".into(),
            username: user.map(Into::into),
            password: password.map(Into::into),
            token: token.map(Into::into),
        };
        let basic = connection(Some("admin"), Some("pw"), None).client().unwrap();
        assert_eq!(
            (basic.base.as_str(), basic.authorization.as_str()),
            ("https://acme.service-now.com", "Basic YWRtaW46cHc=")
        );
        assert_eq!(connection(None, None, Some("x")).client().unwrap().authorization, "Bearer x");
        assert!(connection(Some("a"), None, None).client().is_err());
        assert!(connection(None, None, None).client().is_err());
    }
}
