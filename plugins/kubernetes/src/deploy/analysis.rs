//! Release analysis: HTTP checks (status, latency, N samples, tolerated failures) and Prometheus
//! queries held to a threshold (`< 0.01`), each sample logged; the verdict says which check
//! failed and with what values.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_plugin::http::Request;
use sluice_plugin::{TaskError, info, warn};

/// What to check before a release goes further.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Analysis {
    #[serde(default)]
    pub http: Vec<HttpCheck>,
    #[serde(default)]
    pub prometheus: Vec<PrometheusCheck>,
}

impl Analysis {
    pub fn is_empty(&self) -> bool {
        self.http.is_empty() && self.prometheus.is_empty()
    }
}

/// GET a URL and expect a status within a latency, several times.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCheck {
    /// The URL (grant its origin in `allow.network`).
    pub url: String,
    /// The status each sample must answer (default 200).
    #[serde(default = "ok_status")]
    pub expected_status: u16,
    /// A sample slower than this fails (`500ms`).
    #[serde(default)]
    pub max_latency: Option<String>,
    /// Text the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// How many samples (default 5).
    #[serde(default = "five")]
    pub samples: u32,
    /// Between samples (default `1s`).
    #[serde(default)]
    pub interval: Option<String>,
    /// Failed samples allowed before the check fails (default 0).
    #[serde(default)]
    pub tolerated_failures: u32,
}

/// A Prometheus instant query whose value must meet a threshold, several times.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusCheck {
    /// The Prometheus server (`http://prometheus:9090`; grant it in `allow.network`).
    pub url: String,
    /// PromQL, e.g. `sum(rate(http_errors_total[1m])) / sum(rate(http_requests_total[1m]))`.
    pub query: String,
    /// What every value must meet: `< 0.01`, `>= 0.99`, `== 0` (`<`, `<=`, `>`, `>=`, `==`, `!=`).
    pub threshold: String,
    /// How many measurements (default 3).
    #[serde(default = "three")]
    pub count: u32,
    /// Between measurements (default `10s`).
    #[serde(default)]
    pub interval: Option<String>,
    /// Measurements allowed to miss the threshold (default 0).
    #[serde(default)]
    pub failure_limit: u32,
    /// Whether a query with no series counts as met (default false: no data fails).
    #[serde(default)]
    pub no_data_passes: bool,
}

fn ok_status() -> u16 {
    200
}
fn five() -> u32 {
    5
}
fn three() -> u32 {
    3
}

/// How one check went.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// `http GET <url>` or `prometheus <query> <threshold>`.
    pub check: String,
    pub passed: bool,
    pub failures: u32,
    /// Each sample, as logged.
    pub samples: Vec<String>,
}

/// The verdict of an analysis.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

impl Verdict {
    /// The failed checks in words, with their samples.
    pub fn failure(&self) -> String {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{} failed {} time(s): {}", c.check, c.failures, c.samples.join("; ")))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// Runs every check (each to its end, so the outputs show all of them) and gives the verdict.
pub fn run(analysis: &Analysis, stage: &str) -> Result<Verdict, TaskError> {
    let mut checks = Vec::new();
    for check in &analysis.http {
        checks.push(http(check, stage)?);
    }
    for check in &analysis.prometheus {
        checks.push(prometheus(check, stage)?);
    }
    let passed = checks.iter().all(|c| c.passed);
    if passed {
        info!("{stage}: analysis passed");
    } else {
        warn!("{stage}: analysis failed");
    }
    Ok(Verdict { passed, checks })
}

fn http(check: &HttpCheck, stage: &str) -> Result<CheckResult, TaskError> {
    let max_latency = match &check.max_latency {
        Some(text) => Some(crate::duration(Some(text), "analysis.http.maxLatency", 0)?),
        None => None,
    };
    let interval = crate::duration(check.interval.as_deref(), "analysis.http.interval", 1)?;
    let name = format!("http GET {}", check.url);
    let take = || {
        let started = Instant::now();
        let timeout = max_latency.map_or(Duration::from_secs(10), |l| (l * 2).max(Duration::from_secs(1)));
        // Each request is a connection of its own (the host keeps none open), so every sample
        // may reach another pod, as a new client would.
        let answer = Request::new("GET", &check.url).timeout(timeout).send();
        let elapsed = started.elapsed();
        Ok(match answer {
            Ok(response) => judge(check, max_latency, response.status, elapsed, &response.text()),
            Err(sluice_plugin::http::Error::Denied { origin }) => {
                return Err(TaskError::denied(format!(
                    "analysis: {origin} is not granted: add it to the task's `allow.network`"
                )));
            }
            Err(err) => (false, format!("no answer: {err}")),
        })
    };
    let count = check.samples.max(1);
    let log = |sample: u32, ok: bool, said: &str| log_sample(stage, &name, sample, count, ok, said);
    sampled(&name, count, interval, check.tolerated_failures, take, log)
}

/// One HTTP sample held to the check: whether it passed, and what was seen (`200 in 12 ms`,
/// with what was wrong: `503 in 8 ms (expected 200, slower than 5ms)`).
fn judge(
    check: &HttpCheck,
    max_latency: Option<Duration>,
    status: u16,
    elapsed: Duration,
    body: &str,
) -> (bool, String) {
    let mut problems = Vec::new();
    if status != check.expected_status {
        problems.push(format!("expected {}", check.expected_status));
    }
    if let Some(max) = max_latency.filter(|max| elapsed > *max) {
        problems.push(format!("slower than {}", humantime::format_duration(max)));
    }
    if let Some(text) = check.body_contains.as_ref().filter(|t| !body.contains(t.as_str())) {
        problems.push(format!("body without `{text}`"));
    }
    let said = format!("{status} in {} ms", elapsed.as_millis());
    (
        problems.is_empty(),
        if problems.is_empty() { said } else { format!("{said} ({})", problems.join(", ")) },
    )
}

fn prometheus(check: &PrometheusCheck, stage: &str) -> Result<CheckResult, TaskError> {
    let threshold = Threshold::parse(&check.threshold)?;
    let interval = crate::duration(check.interval.as_deref(), "analysis.prometheus.interval", 10)?;
    let name = format!("prometheus `{}` {}", check.query, check.threshold);
    let count = check.count.max(1);
    let log = |sample: u32, ok: bool, said: &str| log_sample(stage, &name, sample, count, ok, said);
    let take = || {
        Ok(match query(&check.url, &check.query) {
            Ok(values) if values.is_empty() => (check.no_data_passes, "no data".to_string()),
            Ok(values) => {
                let ok = values.iter().all(|v| threshold.met(*v));
                let shown: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
                (ok, shown.join(", "))
            }
            Err(TaskError::Denied(message)) => return Err(TaskError::denied(message)),
            Err(err) => (false, format!("query failed: {}", err.message())),
        })
    };
    sampled(&name, count, interval, check.failure_limit, take, log)
}

/// Takes `count` samples (at least one) `interval` apart (each `(ok, what was seen)`), logs
/// each as it is taken, and passes the check when at most `tolerated` failed.
fn sampled(
    name: &str,
    count: u32,
    interval: Duration,
    tolerated: u32,
    mut take: impl FnMut() -> Result<(bool, String), TaskError>,
    mut log: impl FnMut(u32, bool, &str),
) -> Result<CheckResult, TaskError> {
    let mut result = CheckResult { check: name.to_string(), passed: true, failures: 0, samples: Vec::new() };
    let count = count.max(1);
    for sample in 1..=count {
        if sample > 1 {
            std::thread::sleep(interval);
        }
        let (ok, said) = take()?;
        log(sample, ok, &said);
        if !ok {
            result.failures += 1;
        }
        result.samples.push(said);
    }
    result.passed = result.failures <= tolerated;
    Ok(result)
}

fn log_sample(stage: &str, name: &str, sample: u32, of: u32, ok: bool, said: &str) {
    info!("{}", sample_line(stage, name, sample, of, ok, said));
}

/// The log line of one sample.
fn sample_line(stage: &str, name: &str, sample: u32, of: u32, ok: bool, said: &str) -> String {
    let verdict = if ok { "ok" } else { "FAILED" };
    format!("{stage}: {name} sample {sample}/{of}: {said}: {verdict}")
}

/// The values of an instant query's result (a vector's samples, or a scalar).
fn query(server: &str, promql: &str) -> Result<Vec<f64>, TaskError> {
    let url = format!("{}/api/v1/query?query={}", server.trim_end_matches('/'), crate::api::encode(promql));
    let response =
        sluice_plugin::http::get(&url).timeout(Duration::from_secs(30)).send().map_err(|err| match err {
            sluice_plugin::http::Error::Denied { origin } => TaskError::denied(format!(
                "analysis: {origin} is not granted: add it to the task's `allow.network`"
            )),
            other => TaskError::failed(other.to_string()),
        })?;
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if body["status"] != "success" {
        let error = body["error"]
            .as_str()
            .map_or_else(|| format!("HTTP {} {}", response.status, response.text()), str::to_string);
        return Err(TaskError::failed(error));
    }
    let number = |sample: &Value| sample[1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    let data = &body["data"];
    Ok(match data["resultType"].as_str() {
        Some("scalar") => vec![number(&data["result"])],
        Some("vector") => data["result"]
            .as_array()
            .map(|r| r.iter().map(|s| number(&s["value"])).collect())
            .unwrap_or_default(),
        other => {
            return Err(TaskError::failed(format!(
                "the query gives a {}, not a number",
                other.unwrap_or("nothing")
            )));
        }
    })
}

/// `< 0.01` and its kin.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Threshold {
    op: &'static str,
    value: f64,
}

impl Threshold {
    fn parse(text: &str) -> Result<Threshold, TaskError> {
        let text = text.trim();
        for op in ["<=", ">=", "==", "!=", "<", ">"] {
            if let Some(rest) = text.strip_prefix(op) {
                let value = rest.trim().parse::<f64>().map_err(|_| {
                    TaskError::invalid_config(format!(
                        "analysis.prometheus.threshold: `{text}`: `{}` is not a number",
                        rest.trim()
                    ))
                })?;
                return Ok(Threshold { op, value });
            }
        }
        Err(TaskError::invalid_config(format!(
            "analysis.prometheus.threshold: `{text}` must start with <, <=, >, >=, == or != (e.g. `< 0.01`)"
        )))
    }

    /// NaN (a division by zero in PromQL) never meets a threshold.
    fn met(self, v: f64) -> bool {
        match self.op {
            "<" => v < self.value,
            "<=" => v <= self.value,
            ">" => v > self.value,
            ">=" => v >= self.value,
            "==" => v == self.value,
            _ => !v.is_nan() && v != self.value,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let t = Threshold::parse("< 0.01").unwrap();
        assert!(t.met(0.001) && !t.met(0.01) && !t.met(f64::NAN));
        assert!(Threshold::parse(">=0.99").unwrap().met(0.99));
        assert!(Threshold::parse("!= 0").unwrap().met(1.0));
        assert_eq!(
            Threshold::parse("0.01").unwrap_err().message(),
            "analysis.prometheus.threshold: `0.01` must start with <, <=, >, >=, == or != (e.g. `< 0.01`)"
        );
        assert!(Threshold::parse("< lots").unwrap_err().message().contains("`lots` is not a number"));
    }

    fn check(yaml: &str) -> HttpCheck {
        yaml_serde::from_str(yaml).unwrap()
    }

    #[test]
    fn http_defaults() {
        let c = check("url: http://web/healthz");
        assert_eq!((c.expected_status, c.samples, c.tolerated_failures), (200, 5, 0));
        assert_eq!((c.max_latency, c.body_contains, c.interval), (None, None, None));
    }

    #[test]
    fn an_http_sample_is_held_to_the_status_the_latency_and_the_body() {
        let ms = Duration::from_millis;
        // The default: 200.
        let plain = check("url: http://web/");
        assert_eq!(judge(&plain, None, 200, ms(12), ""), (true, "200 in 12 ms".into()));
        assert_eq!(judge(&plain, None, 404, ms(3), ""), (false, "404 in 3 ms (expected 200)".into()));
        // Another expected status: a 404 passes, a 200 does not.
        let gone = check("{url: http://web/old, expectedStatus: 404}");
        assert_eq!(judge(&gone, None, 404, ms(3), ""), (true, "404 in 3 ms".into()));
        assert_eq!(judge(&gone, None, 200, ms(3), ""), (false, "200 in 3 ms (expected 404)".into()));
        // maxLatency: slower fails, as fast as the limit passes.
        let quick = check("{url: http://web/, maxLatency: 300ms}");
        let limit = Some(ms(300));
        assert_eq!(judge(&quick, limit, 200, ms(300), ""), (true, "200 in 300 ms".into()));
        assert_eq!(
            judge(&quick, limit, 200, ms(301), ""),
            (false, "200 in 301 ms (slower than 300ms)".into())
        );
        // Everything wrong at once is said at once.
        let all = check("{url: http://web/, expectedStatus: 204, maxLatency: 5ms, bodyContains: v2}");
        assert_eq!(
            judge(&all, Some(ms(5)), 503, ms(40), "v1\n"),
            (false, "503 in 40 ms (expected 204, slower than 5ms, body without `v2`)".into())
        );
        assert_eq!(judge(&all, Some(ms(5)), 204, ms(1), "v2\n"), (true, "204 in 1 ms".into()));
    }

    /// Runs [`sampled`] over scripted samples, with the lines it logs.
    fn scripted(oks: &[bool], tolerated: u32) -> (CheckResult, Vec<String>) {
        let mut script = oks.iter().enumerate();
        let take = || {
            let (n, ok) = script.next().unwrap();
            Ok((*ok, format!("answer {}", n + 1)))
        };
        let mut lines = Vec::new();
        let count = oks.len() as u32;
        let log = |n: u32, ok: bool, said: &str| {
            lines.push(sample_line("rolling", "http GET u", n, count, ok, said))
        };
        let result = sampled("http GET u", count, Duration::ZERO, tolerated, take, log).unwrap();
        (result, lines)
    }

    #[test]
    fn tolerated_failures_pass_a_check_up_to_their_number() {
        let (result, lines) = scripted(&[false, true, true], 1);
        assert!(result.passed);
        assert_eq!(result.failures, 1);
        assert_eq!(result.samples, ["answer 1", "answer 2", "answer 3"]);
        assert_eq!(
            lines,
            [
                "rolling: http GET u sample 1/3: answer 1: FAILED",
                "rolling: http GET u sample 2/3: answer 2: ok",
                "rolling: http GET u sample 3/3: answer 3: ok",
            ]
        );
        // One more failure than tolerated fails it, every sample still taken.
        let (result, lines) = scripted(&[false, true, false], 1);
        assert!(!result.passed);
        assert_eq!((result.failures, lines.len()), (2, 3));
        // None tolerated (the default): one failure is enough.
        let (result, _) = scripted(&[true, false, true], 0);
        assert!(!result.passed);
        let verdict = Verdict { passed: false, checks: vec![result] };
        assert_eq!(verdict.failure(), "http GET u failed 1 time(s): answer 1; answer 2; answer 3");
    }
}
