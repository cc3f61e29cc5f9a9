//! A Jenkins double for `jenkins.build`, scripted per job. It checks what Jenkins checks: basic
//! auth with the user's API token (401), with CSRF protection on a POST without the crumb from
//! `/crumbIssuer/api/json` in `Jenkins-Crumb` and the session cookie it was issued with (403
//! `No valid crumb was included in the request`; with protection off the issuer is 404), a
//! form body on `buildWithParameters` (and 500 for a job that is not parameterized), unknown
//! jobs (404), and the Build permission (403). It answers a trigger with 201 and the queue
//! item in `Location`, the item (`why` while waiting, `cancelled`, then `executable`), the
//! console through `logText/progressiveText` (one more scripted chunk per poll of the console
//! or the build, `X-Text-Size`,
//! `X-More-Data`), the build's JSON (`building`, `result`, `duration`, `artifacts`), `stop` and
//! `queue/cancelItem`. `root` is the root URL Jenkins builds links from (its own by default).
//! Left out: everything else Jenkins has.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support_tickets::http::{Recorded, Reply, Server, form_pairs};

pub const CRUMB: &str = "5f3c0ffee0d1ce";
pub const SESSION: &str = "JSESSIONID.3c2b1a=node01abcd";

/// What a job does when triggered.
#[derive(Debug, Clone)]
pub struct Job {
    pub parameterized: bool,
    /// `why` of the queue item on each poll before it has a build (the last one repeats).
    pub queue: Vec<&'static str>,
    /// The item is cancelled instead of getting a build.
    pub cancelled: bool,
    /// The item never gets a build (it waits with the last `queue` reason).
    pub queue_forever: bool,
    /// The console, one more chunk revealed per poll.
    pub console: Vec<&'static str>,
    /// The console never completes (until the build is stopped).
    pub endless: bool,
    pub result: &'static str,
    pub duration: u64,
    pub artifacts: Vec<&'static str>,
}

impl Job {
    pub fn new(console: &[&'static str], result: &'static str) -> Job {
        Job {
            parameterized: false,
            queue: Vec::new(),
            cancelled: false,
            queue_forever: false,
            console: console.to_vec(),
            endless: false,
            result,
            duration: 1200,
            artifacts: Vec::new(),
        }
    }
}

#[derive(Default)]
pub struct Options {
    pub csrf: bool,
    /// The user lacks the Build permission.
    pub forbid_build: bool,
    /// The root URL in `Location` and build URLs (default: the double's own).
    pub root: Option<String>,
    /// The first queue poll gets a 429 with `Retry-After: 1`.
    pub throttle_queue: bool,
}

struct Item {
    job: String,
    polls: usize,
    cancelled: bool,
    build: Option<u64>,
    parameters: Vec<(String, String)>,
}

struct Build {
    job: String,
    polls: usize,
    stopped: bool,
}

struct State {
    jobs: BTreeMap<String, Job>,
    options: Options,
    root: String,
    auth: String,
    items: BTreeMap<u64, Item>,
    builds: BTreeMap<u64, Build>,
}

pub struct Jenkins {
    pub server: Server,
    state: Arc<Mutex<State>>,
}

impl Jenkins {
    /// A double whose user authenticates as `authorization`, with `jobs` by full name
    /// (`team/app/deploy`).
    pub fn start(authorization: String, jobs: Vec<(&str, Job)>, options: Options) -> Jenkins {
        let jobs = jobs.into_iter().map(|(name, job)| (name.to_string(), job)).collect();
        let state = Arc::new(Mutex::new(State {
            jobs,
            options,
            root: String::new(),
            auth: authorization,
            items: BTreeMap::new(),
            builds: BTreeMap::new(),
        }));
        let shared = state.clone();
        let server = Server::start(move |request| answer(&mut shared.lock().unwrap(), request));
        let mut locked = state.lock().unwrap();
        locked.root = locked.options.root.clone().unwrap_or_else(|| server.url());
        drop(locked);
        Jenkins { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The parameters queue item `id` was triggered with.
    pub fn parameters(&self, id: u64) -> Vec<(String, String)> {
        self.state.lock().unwrap().items[&id].parameters.clone()
    }

    /// Whether build `number` was stopped; whether queue item `id` was cancelled.
    pub fn stopped(&self, number: u64) -> bool {
        self.state.lock().unwrap().builds[&number].stopped
    }

    pub fn cancelled(&self, id: u64) -> bool {
        self.state.lock().unwrap().items[&id].cancelled
    }
}

fn page(status: u16, title: &str) -> Reply {
    let body = format!(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/><title>{title}</title></head><body><h2>HTTP ERROR {status}</h2><p>{title}</p></body></html>"
    );
    Reply::new(status).header("content-type", "text/html;charset=utf-8").body(body)
}

/// `team/app/deploy` and the rest (`["7", "stop"]`) of `/job/team/job/app/job/deploy/7/stop`.
fn job_of(path: &str) -> (String, Vec<String>) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i + 1 < segments.len() && segments[i] == "job" {
        names.push(form_pairs(&format!("x={}", segments[i + 1]))[0].1.clone());
        i += 2;
    }
    (names.join("/"), segments[i..].iter().map(|s| s.to_string()).collect())
}

fn job_url(root: &str, job: &str) -> String {
    let path: String = job.split('/').map(|name| format!("/job/{}", name.replace(' ', "%20"))).collect();
    format!("{root}{path}")
}

fn answer(state: &mut State, request: &Recorded) -> Reply {
    if request.header("authorization") != Some(state.auth.as_str()) {
        return page(401, "Error 401 Invalid password/token for user: ci");
    }
    let path = request.path().to_string();
    if request.method == "GET" && path == "/crumbIssuer/api/json" {
        if !state.options.csrf {
            return page(404, "Error 404 Not Found");
        }
        let issued = json!({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": CRUMB, "crumbRequestField": "Jenkins-Crumb"});
        return Reply::json(200, &issued).header("set-cookie", format!("{SESSION}; Path=/; HttpOnly"));
    }
    if request.method == "POST" && state.options.csrf {
        let crumb_ok = request.header("jenkins-crumb") == Some(CRUMB);
        let session_ok = request.header("cookie").is_some_and(|c| c.split("; ").any(|p| p == SESSION));
        if !(crumb_ok && session_ok) {
            return page(403, "Error 403 No valid crumb was included in the request");
        }
    }
    if let Some(rest) = path.strip_prefix("/queue/item/") {
        return queue_item(state, rest.trim_end_matches('/').trim_end_matches("/api/json"));
    }
    if request.method == "POST" && path == "/queue/cancelItem" {
        let id: u64 = request.query("id").and_then(|id| id.parse().ok()).unwrap_or_default();
        return match state.items.get_mut(&id) {
            Some(item) => {
                item.cancelled = true;
                Reply::new(204)
            }
            None => page(404, "Error 404 Not Found"),
        };
    }
    let (job, rest) = job_of(&path);
    let Some(script) = state.jobs.get(&job).cloned() else {
        return page(404, "Error 404 Not Found");
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (request.method.as_str(), rest.as_slice()) {
        ("POST", [action @ ("build" | "buildWithParameters")]) => {
            if state.options.forbid_build {
                return page(403, "Error 403 ci is missing the Job/Build permission");
            }
            let mut parameters = Vec::new();
            if *action == "buildWithParameters" {
                if !script.parameterized {
                    return Reply::new(500).body(format!("java.lang.IllegalStateException: {job} is not parameterized\n\tat hudson.model.ParametersDefinitionProperty"));
                }
                if !request.body.is_empty()
                    && request.header("content-type") != Some("application/x-www-form-urlencoded")
                {
                    return page(415, "Error 415 Unsupported Media Type");
                }
                parameters = form_pairs(&request.text());
            }
            let id = state.items.len() as u64 + 1;
            state.items.insert(id, Item { job, polls: 0, cancelled: false, build: None, parameters });
            Reply::new(201).header("location", format!("{}/queue/item/{id}/", state.root))
        }
        ("GET", [number, "logText", "progressiveText"]) => {
            let Some(build) = number.parse().ok().and_then(|n: u64| state.builds.get_mut(&n)) else {
                return page(404, "Error 404 Not Found");
            };
            build.polls += 1;
            let revealed = build.polls.min(script.console.len());
            let mut text: String = script.console[..revealed].concat();
            if build.stopped {
                text.push_str("Aborted by ci\nFinished: ABORTED\n");
            }
            let complete = build.stopped || (revealed == script.console.len() && !script.endless);
            let start: usize =
                request.query("start").and_then(|s| s.parse().ok()).unwrap_or(0).min(text.len());
            let mut reply = Reply::new(200)
                .header("content-type", "text/plain;charset=UTF-8")
                .header("x-text-size", text.len().to_string())
                .body(text[start..].to_string());
            if !complete {
                reply = reply.header("x-more-data", "true");
            }
            reply
        }
        ("GET", [number, "api", "json"]) => {
            let Some(build) = number.parse().ok().and_then(|n: u64| state.builds.get_mut(&n)) else {
                return page(404, "Error 404 Not Found");
            };
            // The build also moves on while nobody reads its console.
            build.polls += 1;
            let complete = build.stopped || (build.polls >= script.console.len() && !script.endless);
            let result = if build.stopped {
                json!("ABORTED")
            } else if complete {
                json!(script.result)
            } else {
                Value::Null
            };
            let artifacts: Vec<Value> = script
                .artifacts
                .iter()
                .map(|path| json!({"fileName": path.rsplit('/').next(), "relativePath": path, "displayPath": path}))
                .collect();
            Reply::json(
                200,
                &json!({"_class": "hudson.model.FreeStyleBuild", "building": !complete, "result": result,
                "duration": if complete { script.duration } else { 0 }, "number": number.parse::<u64>().unwrap_or(0),
                "url": format!("{}/{number}/", job_url(&state.root, &build.job)), "artifacts": artifacts}),
            )
        }
        ("POST", [number, "stop"]) => {
            let Some(build) = number.parse().ok().and_then(|n: u64| state.builds.get_mut(&n)) else {
                return page(404, "Error 404 Not Found");
            };
            build.stopped = true;
            Reply::new(302).header("location", format!("{}/{number}/", job_url(&state.root, &job)))
        }
        _ => page(404, "Error 404 Not Found"),
    }
}

fn queue_item(state: &mut State, id: &str) -> Reply {
    if std::mem::take(&mut state.options.throttle_queue) {
        return page(429, "Error 429 Too Many Requests").header("retry-after", "1");
    }
    let Some(id) = id.parse::<u64>().ok() else { return page(404, "Error 404 Not Found") };
    let next_build = 7 + state.builds.len() as u64;
    let root = state.root.clone();
    let Some(item) = state.items.get_mut(&id) else { return page(404, "Error 404 Not Found") };
    let script = state.jobs[&item.job].clone();
    item.polls += 1;
    let task = json!({"name": item.job.rsplit('/').next(), "url": format!("{}/", job_url(&root, &item.job))});
    if item.cancelled || (script.cancelled && item.polls > script.queue.len()) {
        item.cancelled = true;
        return Reply::json(
            200,
            &json!({"_class": "hudson.model.Queue$LeftItem", "id": id, "cancelled": true,
            "executable": null, "why": null, "task": task}),
        );
    }
    if item.polls <= script.queue.len() || script.queue_forever {
        let why = script.queue[(item.polls - 1).min(script.queue.len() - 1)];
        return Reply::json(
            200,
            &json!({"_class": "hudson.model.Queue$BuildableItem", "id": id, "blocked": false,
            "buildable": true, "cancelled": false, "why": why, "executable": null, "task": task}),
        );
    }
    let number = *item.build.get_or_insert(next_build);
    let job = item.job.clone();
    state.builds.entry(number).or_insert(Build { job: job.clone(), polls: 0, stopped: false });
    Reply::json(
        200,
        &json!({"_class": "hudson.model.Queue$LeftItem", "id": id, "cancelled": false, "why": null,
        "executable": {"_class": "hudson.model.FreeStyleBuild", "number": number, "url": format!("{}/{number}/", job_url(&root, &job))},
        "task": task}),
    )
}
