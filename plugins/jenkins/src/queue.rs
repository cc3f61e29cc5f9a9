//! Following a queue item (`/queue/item/N/api/json`) until Jenkins starts its build: the
//! `Location` of the trigger's answer names the item, `why` says what it waits for, and
//! `executable.number` appears once a build runs it. A cancelled item fails the task; at the
//! deadline the task cancels it itself (`POST /queue/cancelItem?id=N`).

use std::time::Duration;

use serde::Deserialize;
use sluice_plugin::TaskError;
use sluice_plugin::http::Request;

use crate::client::{Jenkins, ensure_success, json};

/// The build a queue item became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub number: u64,
    /// The build's page as Jenkins gives it.
    pub url: String,
}

#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    why: Option<String>,
    #[serde(default)]
    cancelled: bool,
    #[serde(default)]
    executable: Option<Executable>,
}

#[derive(Debug, Deserialize)]
struct Executable {
    number: u64,
    #[serde(default)]
    url: Option<String>,
}

/// The queue item's id from a trigger's `Location` (`https://ci/queue/item/42/`).
pub fn item_id(location: &str) -> Option<u64> {
    let after = location.split("/queue/item/").nth(1)?;
    after.trim_end_matches('/').split('/').next()?.parse().ok()
}

/// Polls the item at `location` (as Jenkins gave it) every `interval` until it has a build;
/// logs `why` each time it changes. Jenkins makes `location` from its root URL setting: when
/// that is another origin than `url` (a root URL left at an internal name behind a proxy), the
/// request carries no credentials, as a redirect to another origin would not, and the host
/// refuses it unless the flow grants that origin; the error says so.
pub fn follow(
    jenkins: &mut Jenkins,
    location: &str,
    id: u64,
    job: &str,
    interval: Duration,
) -> Result<Started, TaskError> {
    let url = format!("{}/api/json", location.trim_end_matches('/'));
    let same_origin = origin(location) == origin(&jenkins.base);
    let in_context = |why: String| {
        format!(
            "following queue item {id} at {location} (Jenkins' root URL, set in Manage Jenkins > System, is another \
             origin than `url`, so the request carries no credentials): {why}"
        )
    };
    let mut last_why: Option<String> = None;
    loop {
        let sent = if same_origin {
            jenkins.send(|j| j.request_url("GET", &url))
        } else {
            Request::new("GET", &url).follow_redirects(false).send().map_err(TaskError::from)
        };
        let response = match (sent, same_origin) {
            (Ok(response), _) => response,
            (Err(err), true) => return Err(err),
            (Err(TaskError::Denied(why)), false) => return Err(TaskError::Denied(in_context(why))),
            (Err(err), false) => return Err(TaskError::failed(in_context(err.message().to_string()))),
        };
        if !same_origin && !response.is_success() {
            return Err(TaskError::failed(in_context(crate::client::error_text(&response))));
        }
        if response.status == 404 {
            return Err(TaskError::failed(format!(
                "queue item {id} of {job} is no longer in Jenkins' queue (it was removed before a build started)"
            )));
        }
        let item: Item =
            json(&ensure_success(response, "reading the queue item")?, "reading the queue item")?;
        if let Some(executable) = item.executable {
            let url = executable.url.unwrap_or_default();
            return Ok(Started { number: executable.number, url });
        }
        if item.cancelled {
            return Err(TaskError::failed(format!(
                "the build of {job} was cancelled in Jenkins' queue (queue item {id}) before it started"
            )));
        }
        if let Some(why) = item.why.filter(|why| last_why.as_ref() != Some(why)) {
            sluice_plugin::info!("waiting in the queue: {why}");
            last_why = Some(why);
        }
        if jenkins.remaining().is_zero() {
            cancel(jenkins, id);
            return Err(TaskError::failed(format!(
                "{job} was still waiting in Jenkins' queue at the task's `buildTimeout`; the queue item {id} was cancelled"
            )));
        }
        jenkins.pause(interval);
    }
}

/// `scheme://host[:port]` of a URL, lower-cased.
fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..].find(['/', '?', '#']).map_or(url.len(), |i| after_scheme + i);
    url[..end].to_ascii_lowercase()
}

/// Cancels a queue item, best effort (the task fails anyway; a failure is logged).
fn cancel(jenkins: &mut Jenkins, id: u64) {
    let path = format!("/queue/cancelItem?id={id}");
    match jenkins.post(|j| j.request("POST", &path)) {
        Ok(response) if response.status < 400 => {}
        Ok(response) => sluice_plugin::warn!("cancelling queue item {id}: HTTP {}", response.status),
        Err(err) => sluice_plugin::warn!("cancelling queue item {id}: {}", err.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_item_id_comes_from_the_location() {
        assert_eq!(item_id("https://ci.example/jenkins/queue/item/42/"), Some(42));
        assert_eq!(item_id("http://127.0.0.1:8080/queue/item/7"), Some(7));
        assert_eq!(item_id("https://ci.example/job/x/"), None);
        assert_eq!(origin("HTTPS://CI.example:8443/jenkins/queue/item/1/"), "https://ci.example:8443");
        assert_eq!(origin("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }
}
