//! `jenkins.build`: trigger the job (`build`, or `buildWithParameters` with a form body), follow
//! the queue item to the build, stream its console, wait for its result and judge it. The task
//! keeps its own deadline (`buildTimeout`): past it, it stops the build (`POST <build>/stop`) or
//! cancels the queue item and fails. A host kill or the task's `timeout` ends the component at
//! once, so while the item is queued and while the build runs the task keeps the matching
//! request registered with the host (`cleanup`), which sends it if the task is stopped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_plugin::http::{encode_component, form};
use sluice_plugin::{Capability, Task, TaskError};

use crate::client::{Jenkins, ensure_success, error_text, job_path, json};
use crate::console::{self, Ended};
use crate::queue;

pub struct BuildTask;

/// Config of `jenkins.build`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildConfig {
    /// The Jenkins server, `https://ci.example.com` (with its path if it has one:
    /// `https://ci.example.com/jenkins`). Granted to the task by being given here.
    url: String,
    /// The job, with its folders: `team/service/deploy` is `/job/team/job/service/job/deploy`.
    job: String,
    /// Build parameters (`buildWithParameters`); strings, numbers and booleans. Without it the
    /// job is triggered with `build`; give `{}` to run a parameterized job with its defaults.
    #[serde(default)]
    parameters: Option<BTreeMap<String, Value>>,
    /// The Jenkins user.
    username: String,
    /// That user's API token (use a secret: `{{ secret('JENKINS_TOKEN') }}`).
    api_token: String,
    /// Pass when the build ends UNSTABLE (it fails the task otherwise).
    #[serde(default)]
    allow_unstable: bool,
    /// Stream the console into the task's log (default true).
    #[serde(default = "yes")]
    console: bool,
    /// How long the task waits for the build, queue included (default `1h`). Past it the task
    /// stops the build (or cancels the queue item) and fails. When the task's `timeout` or a
    /// kill comes first, the host stops the build (or cancels the item) for it.
    #[serde(default)]
    build_timeout: Option<String>,
    /// How often the queue, the console and the result are read (default `2s`).
    #[serde(default)]
    poll_interval: Option<String>,
}

fn yes() -> bool {
    true
}

/// Outputs of `jenkins.build`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildOutput {
    /// The build's number.
    number: u64,
    /// The build's page.
    url: String,
    /// `SUCCESS`, or `UNSTABLE` with `allowUnstable`.
    result: String,
    /// How long the build ran, in milliseconds, as Jenkins measured it.
    duration_ms: u64,
    /// The archived artifacts' paths (`target/app.jar`).
    artifacts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuildState {
    #[serde(default)]
    building: bool,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    duration: u64,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    artifacts: Vec<Artifact>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    relative_path: String,
}

impl Task for BuildTask {
    const NAME: &'static str = "build";
    const DESCRIPTION: &'static str = "Triggers the Jenkins `job` (folders as `a/b/c`) with \
        `parameters`, follows its queue item, streams its console into the task's log and ends \
        with the build's result: SUCCESS passes, UNSTABLE passes only with `allowUnstable`, \
        FAILURE, ABORTED and NOT_BUILT fail. Past `buildTimeout` the task stops the build and \
        fails. Outputs `number`, `url`, `result`, `durationMs` and `artifacts`.";
    type Config = BuildConfig;
    type Output = BuildOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("url")]
    }

    fn run(config: BuildConfig) -> Result<BuildOutput, TaskError> {
        let build_timeout =
            duration(config.build_timeout.as_deref(), "buildTimeout", Duration::from_secs(3600))?;
        let interval = duration(config.poll_interval.as_deref(), "pollInterval", Duration::from_secs(2))?;
        let job = config.job.trim().trim_matches('/').to_string();
        let job_path = job_path(&job)?;
        let body = match &config.parameters {
            Some(parameters) => Some(form_body(parameters)?),
            None => None,
        };
        let mut jenkins =
            Jenkins::new(&config.url, &config.username, &config.api_token, Instant::now() + build_timeout)?;

        let (location, id) = trigger(&mut jenkins, &job, &job_path, body.as_deref())?;
        // If the task is stopped from here on, the host cancels the item, then stops the build.
        let cancel_item = jenkins.on_abort(&format!("/queue/cancelItem?id={id}"))?;
        let started = queue::follow(&mut jenkins, &location, id, &job, interval)?;
        let build_path = format!("{job_path}/{}", started.number);
        let stop_build = jenkins.on_abort(&format!("{build_path}/stop"))?;
        cancel_item.cancel();
        // Jenkins names the build's page in the queue item; without it, the page by its path.
        let url = if started.url.is_empty() { format!("{}{build_path}/", jenkins.base) } else { started.url };
        sluice_plugin::info!("started {job} #{}: {url}", started.number);

        if config.console && console::stream(&jenkins, &build_path, interval)? == Ended::Deadline {
            return Err(stop(&mut jenkins, &job, started.number, &build_path, build_timeout));
        }
        let state = loop {
            let state = read_state(&jenkins, &build_path)?;
            if !state.building && state.result.is_some() {
                break state;
            }
            if jenkins.remaining().is_zero() {
                return Err(stop(&mut jenkins, &job, started.number, &build_path, build_timeout));
            }
            jenkins.pause(interval);
        };
        // The build ended: nothing left to stop.
        stop_build.cancel();
        let result = state.result.unwrap_or_default();
        let url = state.url.unwrap_or(url);
        let label = format!("{job} #{}", started.number);
        match result.as_str() {
            "SUCCESS" => sluice_plugin::info!("{label} ended SUCCESS"),
            "UNSTABLE" if config.allow_unstable => sluice_plugin::warn!("{label} ended UNSTABLE (allowed)"),
            "UNSTABLE" => {
                return Err(TaskError::failed(format!(
                    "{label} ended UNSTABLE (set `allowUnstable: true` to accept it): {url}"
                )));
            }
            other => return Err(TaskError::failed(format!("{label} ended {other}: {url}"))),
        }
        Ok(BuildOutput {
            number: started.number,
            url,
            result,
            duration_ms: state.duration,
            artifacts: state.artifacts.into_iter().map(|a| a.relative_path).collect(),
        })
    }
}

/// POSTs `build` or `buildWithParameters` and returns the queue item's URL and id.
fn trigger(
    jenkins: &mut Jenkins,
    job: &str,
    job_path: &str,
    body: Option<&str>,
) -> Result<(String, u64), TaskError> {
    let path = match body {
        Some(_) => format!("{job_path}/buildWithParameters"),
        None => format!("{job_path}/build"),
    };
    let response = jenkins.post(|j| {
        let request = j.request("POST", &path);
        match body {
            Some(body) => request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.as_bytes().to_vec()),
            None => request,
        }
    })?;
    if response.status == 404 {
        return Err(TaskError::failed(format!(
            "triggering {job}: Jenkins has no job at {}{path} (HTTP 404; check `job`, and that `username` may see it)",
            jenkins.base
        )));
    }
    let what = format!("triggering {job}");
    let response = ensure_success(response, &what)?;
    let location = absolute(&jenkins.base, response.header("location").unwrap_or_default());
    let id = queue::item_id(&location).ok_or_else(|| {
        TaskError::failed(format!(
            "{what}: Jenkins answered without a queue item in `Location` (`{location}`)"
        ))
    })?;
    sluice_plugin::info!("triggered {job}: queue item {id}");
    Ok((location, id))
}

/// A `Location` made absolute: a path (`/queue/item/3/`) is on the origin of `base`.
fn absolute(base: &str, location: &str) -> String {
    if !location.starts_with('/') {
        return location.to_string();
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    format!("{}{location}", &base[..origin_end])
}

fn read_state(jenkins: &Jenkins, build_path: &str) -> Result<BuildState, TaskError> {
    let tree = encode_component("building,result,duration,url,artifacts[relativePath]");
    let path = format!("{build_path}/api/json?tree={tree}");
    let response = jenkins.send(|j| j.request("GET", &path))?;
    json(&ensure_success(response, "reading the build")?, "reading the build")
}

/// Stops the build at the deadline and says so; the error the task fails with.
fn stop(jenkins: &mut Jenkins, job: &str, number: u64, build_path: &str, timeout: Duration) -> TaskError {
    let path = format!("{build_path}/stop");
    let timeout = humantime::format_duration(timeout);
    let stopped = match jenkins.post(|j| j.request("POST", &path)) {
        // Jenkins answers a stop with a redirect to the build's page.
        Ok(response) if response.status < 400 => "stopped it".to_string(),
        Ok(response) => format!("stopping it failed: {}", error_text(&response)),
        Err(err) => format!("stopping it failed: {}", err.message()),
    };
    sluice_plugin::warn!("{job} #{number} was still running at `buildTimeout` ({timeout}); {stopped}");
    TaskError::failed(format!(
        "{job} #{number} was still running after `buildTimeout` ({timeout}); {stopped}"
    ))
}

/// The parameters as a form body; a value must be a string, number or boolean.
fn form_body(parameters: &BTreeMap<String, Value>) -> Result<String, TaskError> {
    let mut pairs = Vec::new();
    for (name, value) in parameters {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            _ => {
                return Err(TaskError::invalid_config(format!(
                    "`parameters.{name}`: give a string, number or boolean"
                )));
            }
        };
        pairs.push((name.as_str(), text));
    }
    Ok(form(pairs.iter().map(|(name, text)| (*name, text.as_str()))))
}

/// A duration from config (`30s`, `10m`, `1h 30m`), or `default`.
fn duration(text: Option<&str>, field: &str, default: Duration) -> Result<Duration, TaskError> {
    match text {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|err| {
            TaskError::invalid_config(format!(
                "`{field}`: `{text}` is not a duration like 30s or 10m ({err})"
            ))
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parameters_make_a_form() {
        let parameters: BTreeMap<String, Value> =
            serde_json::from_value(json!({"VERSION": "1.2 rc", "DRY": true, "N": 3})).unwrap();
        assert_eq!(form_body(&parameters).unwrap(), "DRY=true&N=3&VERSION=1.2%20rc");
        let nested: BTreeMap<String, Value> = serde_json::from_value(json!({"X": [1]})).unwrap();
        assert!(form_body(&nested).is_err());
    }

    #[test]
    fn relative_locations_are_on_the_servers_origin() {
        assert_eq!(
            absolute("https://ci.example/jenkins", "/jenkins/queue/item/3/"),
            "https://ci.example/jenkins/queue/item/3/"
        );
        assert_eq!(
            absolute("http://127.0.0.1:9", "http://other:1/queue/item/3/"),
            "http://other:1/queue/item/3/"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            duration(Some("1m 30s"), "buildTimeout", Duration::ZERO).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(duration(None, "x", Duration::from_secs(2)).unwrap(), Duration::from_secs(2));
        assert!(duration(Some("soon"), "x", Duration::ZERO).is_err());
    }
}
