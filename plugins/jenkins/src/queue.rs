//! Following a queue item (`/queue/item/N/api/json`) until Jenkins starts its build: the
//! `Location` of the trigger's answer names the item, `why` says what it waits for, and
//! `executable.number` appears once a build runs it. A cancelled item fails the task; at the
//! deadline the task cancels it itself (`POST /queue/cancelItem?id=N`).

use std::time::Duration;

use serde::Deserialize;
use sluice_plugin::TaskError;

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
/// that is another origin than `url`, the host refuses it unless the flow grants it, and the
/// error says so.
pub fn follow(
    jenkins: &mut Jenkins,
    location: &str,
    id: u64,
    job: &str,
    interval: Duration,
) -> Result<Started, TaskError> {
    let url = format!("{}/api/json", location.trim_end_matches('/'));
    let mut last_why: Option<String> = None;
    loop {
        let response = jenkins.send(|j| j.request_url("GET", &url)).map_err(|err| match err {
            TaskError::Denied(why) => TaskError::Denied(format!(
                "following queue item {id} at {location} (Jenkins' root URL is not `url`'s origin: fix it in \
                 Manage Jenkins > System, or grant it in `allow.network`): {why}"
            )),
            other => other,
        })?;
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
    }
}
