//! Talking to Jenkins: basic auth with a user's API token, the CSRF crumb (fetched from
//! `/crumbIssuer/api/json` the first time a POST is refused with 403, sent with the session
//! cookie it belongs to, and skipped when the issuer answers 404: CSRF protection is off),
//! retries after 429/5xx within the task's deadline, Jenkins' error pages as task errors, and
//! the requests the host sends for the task if it is stopped (`cleanup`) with the same auth.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sluice_plugin::TaskError;
use sluice_plugin::cleanup::{self, AbortRequest};
use sluice_plugin::http::{Request, Response, Retry, encode_component};

/// A Jenkins server as one task run talks to it.
pub struct Jenkins {
    /// The server's URL without a trailing `/` (it may have a path: `https://ci.example/jenkins`).
    pub base: String,
    authorization: String,
    crumb: Option<Crumb>,
    /// When the task stops waiting (its `buildTimeout`).
    pub deadline: Instant,
}

/// A CSRF crumb: the header to send it in, its value, and the session cookie it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Crumb {
    field: String,
    value: String,
    cookie: Option<String>,
}

impl Jenkins {
    pub fn new(url: &str, username: &str, api_token: &str, deadline: Instant) -> Result<Self, TaskError> {
        let base = url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(TaskError::invalid_config(format!(
                "`url`: `{url}` is not an http(s) URL like https://ci.example.com"
            )));
        }
        let authorization = sluice_plugin::http::basic_auth(username, api_token);
        Ok(Self { base, authorization, crumb: None, deadline })
    }

    /// The time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Sleeps `interval`, or until the deadline if that comes first.
    pub fn pause(&self, interval: Duration) {
        std::thread::sleep(interval.min(self.remaining()));
    }

    /// A request to `path` (from the server's root, `/job/...`) with auth; redirects are not
    /// followed (Jenkins answers a POST with 302 to a page, and a bad session with a login
    /// page).
    pub fn request(&self, method: &str, path: &str) -> Request {
        self.request_url(method, &format!("{}{path}", self.base))
    }

    /// [`request`](Jenkins::request) to an absolute URL Jenkins gave (a queue item's).
    pub fn request_url(&self, method: &str, url: &str) -> Request {
        let mut request =
            Request::new(method, url).header("authorization", &self.authorization).follow_redirects(false);
        if let Some(crumb) = &self.crumb {
            request = request.header(&crumb.field, &crumb.value);
            if let Some(cookie) = &crumb.cookie {
                request = request.header("cookie", cookie);
            }
        }
        request
    }

    /// Registers `POST <path>` with this client's auth (and crumb, if one was used) for the
    /// host to send if the task is stopped (its `timeout`, a kill) before it could do so itself.
    pub fn on_abort(&self, path: &str) -> Result<cleanup::Guard, TaskError> {
        let mut request = AbortRequest::new("POST", format!("{}{path}", self.base))
            .header("authorization", &self.authorization);
        if let Some(crumb) = &self.crumb {
            request = request.header(&crumb.field, &crumb.value);
            if let Some(cookie) = &crumb.cookie {
                request = request.header("cookie", cookie);
            }
        }
        Ok(cleanup::on_abort(&request)?)
    }

    fn retry(&self) -> Retry {
        Retry::default().until(self.deadline)
    }

    /// Sends a request made by `make`, retried after 429/5xx.
    pub fn send(&self, make: impl Fn(&Self) -> Request) -> Result<Response, TaskError> {
        Ok(make(self).send_retrying(&self.retry())?)
    }

    /// A POST made by `make`; a 403 the first time fetches the crumb and sends it again with it.
    pub fn post(&mut self, make: impl Fn(&Self) -> Request) -> Result<Response, TaskError> {
        let response = self.send(&make)?;
        if response.status != 403 || self.crumb.is_some() {
            return Ok(response);
        }
        match self.fetch_crumb()? {
            Some(crumb) => {
                sluice_plugin::info!("Jenkins asked for a CSRF crumb; sending it in {}", crumb.field);
                self.crumb = Some(crumb);
                self.send(&make)
            }
            // No crumb issuer: the 403 is about permissions.
            None => Ok(response),
        }
    }

    /// `GET /crumbIssuer/api/json`; `None` when the server has no crumb issuer (404).
    fn fetch_crumb(&self) -> Result<Option<Crumb>, TaskError> {
        let response = self.send(|jenkins| jenkins.request("GET", "/crumbIssuer/api/json"))?;
        if response.status == 404 {
            return Ok(None);
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Issued {
            crumb: String,
            crumb_request_field: String,
        }
        // The crumb is bound to the session the issuer opened (Jenkins 2.176.2 and later).
        let cookies: Vec<&str> = response
            .headers
            .iter()
            .filter(|(name, _)| name == "set-cookie")
            .filter_map(|(_, value)| value.split(';').next())
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .collect();
        let cookie = if cookies.is_empty() { None } else { Some(cookies.join("; ")) };
        let issued: Issued =
            json(&ensure_success(response, "fetching a CSRF crumb")?, "fetching a CSRF crumb")?;
        Ok(Some(Crumb { field: issued.crumb_request_field, value: issued.crumb, cookie }))
    }
}

/// `/job/a/job/b/job/c` of the job `a/b/c` (folders), each name percent-encoded.
pub fn job_path(job: &str) -> Result<String, TaskError> {
    let names: Vec<&str> = job.trim().trim_matches('/').split('/').collect();
    if names.iter().any(|name| name.trim().is_empty() || *name == "." || *name == "..") {
        return Err(TaskError::invalid_config(format!(
            "`job`: `{job}` is not a job name or a folder path like `team/service/deploy`"
        )));
    }
    Ok(names.iter().map(|name| format!("/job/{}", encode_component(name))).collect())
}

/// The response if it is a 2xx, else a task error starting with
/// `what`.
pub fn ensure_success(response: Response, what: &str) -> Result<Response, TaskError> {
    if response.is_success() {
        Ok(response)
    } else {
        Err(TaskError::failed(format!("{what}: {}", error_text(&response))))
    }
}

/// The body parsed as JSON, or a task error starting with `what`.
pub fn json<T: DeserializeOwned>(response: &Response, what: &str) -> Result<T, TaskError> {
    response.json().map_err(|err| TaskError::failed(format!("{what}: {err}")))
}

/// `Jenkins answered HTTP 404: <what the page says>`. Jenkins answers errors with HTML pages
/// (or a stack trace as text); their text is quoted without tags, shortened.
pub fn error_text(response: &Response) -> String {
    let mut text = format!("Jenkins answered HTTP {}", response.status);
    match response.status {
        401 => text.push_str(" (check `username` and `apiToken`)"),
        403 => text.push_str(" (the user lacks the permission, or the CSRF crumb was refused)"),
        _ => {}
    }
    let said = page_text(&response.text());
    if !said.is_empty() {
        text.push_str(": ");
        text.push_str(&said);
    }
    text
}

/// What an error page says: the `<title>` of an HTML page (Jetty's error pages put the reason
/// there: `Error 403 No valid crumb was included in the request`), else the first line of a text
/// body (a stack trace's exception), cut at 300 characters.
fn page_text(body: &str) -> String {
    let lower = body.to_ascii_lowercase();
    let said = match (lower.find("<title>"), lower.find("</title>")) {
        (Some(open), Some(close)) if open + 7 <= close => &body[open + 7..close],
        _ => body.trim().lines().next().unwrap_or_default(),
    };
    let text = said.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">");
    let text = text.replace("&amp;", "&");
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response { status, headers: Vec::new(), body: body.as_bytes().to_vec(), url: String::new() }
    }

    #[test]
    fn folders_become_job_paths() {
        assert_eq!(job_path("a/b c/deploy").unwrap(), "/job/a/job/b%20c/job/deploy");
        assert_eq!(job_path("/solo/").unwrap(), "/job/solo");
        assert!(job_path("a//b").is_err());
        assert!(job_path("a/../b").is_err());
    }

    #[test]
    fn error_pages_say_their_title_or_first_line() {
        let page = "<html><head><title>Error 403 No valid crumb was included in the request</title></head><body>...</body></html>";
        assert_eq!(
            error_text(&answer(403, page)),
            "Jenkins answered HTTP 403 (the user lacks the permission, or the CSRF crumb was refused): Error 403 No valid crumb was included in the request"
        );
        assert_eq!(
            error_text(&answer(500, "java.lang.IllegalStateException: not parameterized\n\tat x")),
            "Jenkins answered HTTP 500: java.lang.IllegalStateException: not parameterized"
        );
        assert_eq!(error_text(&answer(502, "")), "Jenkins answered HTTP 502");
    }
}
