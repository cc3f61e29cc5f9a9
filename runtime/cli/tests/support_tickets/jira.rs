//! A Jira Cloud double (REST API v3) for `jira.*`: one project `OPS` with the issue types
//! `Bug` and `Task`, a `customfield_10010` select field, and a workflow To Do -> In Progress ->
//! Done. It checks what Jira checks: the `authorization` header (basic `email:token` or a
//! bearer token; 401 otherwise), `content-type: application/json` on bodies (415), the required
//! fields of a create (`project`, `issuetype`, `summary`) and that descriptions and comments
//! are Atlassian Document Format documents (400 with `errorMessages` and `errors` as Jira words
//! them), transition ids valid for the issue's status, and JQL. Searches page at two issues
//! (`nextPageToken`), as Jira may return fewer than asked. `throttle` answers the next request
//! to a path with 429 and `Retry-After: 1` (`throttle_for`: another number of seconds).
//! Left out: JQL beyond `project = X` and `status = "Y"`, permissions, every other endpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support_tickets::http::{Recorded, Reply, Server};

/// An issue as the double keeps it.
#[derive(Debug, Clone)]
pub struct Issue {
    pub summary: String,
    pub status: String,
    pub fields: Value,
    pub comments: Vec<Value>,
}

#[derive(Default)]
struct State {
    issues: BTreeMap<u32, Issue>,
    /// Paths whose next request gets a 429, with the seconds of its `Retry-After`.
    throttle: Vec<(String, u64)>,
}

pub struct Jira {
    pub server: Server,
    state: Arc<Mutex<State>>,
}

/// The transitions out of each status: id, name, target.
const WORKFLOW: [(&str, &str, &str, &str); 4] = [
    ("To Do", "21", "Start Progress", "In Progress"),
    ("In Progress", "11", "Stop Progress", "To Do"),
    ("In Progress", "31", "Done", "Done"),
    ("Done", "41", "Reopen", "To Do"),
];

impl Jira {
    /// A double that accepts `authorization` values in `accepted`.
    pub fn start(accepted: &[String]) -> Jira {
        Jira::start_on(0, accepted)
    }

    /// [`Jira::start`] on 127.0.0.1:`port` (0: a free one).
    pub fn start_on(port: u16, accepted: &[String]) -> Jira {
        let state = Arc::new(Mutex::new(State::default()));
        let accepted = accepted.to_vec();
        let shared = state.clone();
        let server =
            Server::start_on(port, move |request| answer(&mut shared.lock().unwrap(), &accepted, request));
        Jira { server, state }
    }

    /// The base URL to configure.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Adds an issue `OPS-<n>` in `status`.
    pub fn add_issue(&self, n: u32, summary: &str, status: &str) {
        let issue =
            Issue { summary: summary.into(), status: status.into(), fields: json!({}), comments: Vec::new() };
        self.state.lock().unwrap().issues.insert(n, issue);
    }

    pub fn issue(&self, n: u32) -> Option<Issue> {
        self.state.lock().unwrap().issues.get(&n).cloned()
    }

    /// The next request to `path` gets a 429 with `Retry-After: 1`.
    pub fn throttle(&self, path: &str) {
        self.throttle_for(path, 1);
    }

    /// The next request to `path` gets a 429 with `Retry-After: <seconds>`.
    pub fn throttle_for(&self, path: &str, seconds: u64) {
        self.state.lock().unwrap().throttle.push((path.to_string(), seconds));
    }
}

fn errors(status: u16, messages: &[&str], fields: Value) -> Reply {
    Reply::json(status, &json!({"errorMessages": messages, "errors": fields}))
}

fn answer(state: &mut State, accepted: &[String], request: &Recorded) -> Reply {
    if !request.header("authorization").is_some_and(|auth| accepted.iter().any(|a| a == auth)) {
        return errors(
            401,
            &["You are not authenticated. Authentication required to perform this operation."],
            json!({}),
        );
    }
    if let Some(at) = state.throttle.iter().position(|(path, _)| path == request.path()) {
        let (_, seconds) = state.throttle.remove(at);
        return errors(429, &["Rate limit exceeded."], json!({})).header("retry-after", seconds.to_string());
    }
    if !request.body.is_empty()
        && !request.header("content-type").is_some_and(|ct| ct.starts_with("application/json"))
    {
        return errors(415, &["Unsupported Media Type"], json!({}));
    }
    let segments: Vec<&str> = request.path().trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["rest", "api", "3", "issue"]) => create(state, &request.json()),
        ("GET", ["rest", "api", "3", "issue", key, "transitions"]) => match issue_mut(state, key) {
            Some(issue) => {
                Reply::json(200, &json!({"expand": "transitions", "transitions": transitions(&issue.status)}))
            }
            None => missing(),
        },
        ("POST", ["rest", "api", "3", "issue", key, "transitions"]) => {
            transition(state, key, &request.json())
        }
        ("POST", ["rest", "api", "3", "issue", key, "comment"]) => {
            let body = request.json();
            let Some(issue) = issue_mut(state, key) else { return missing() };
            if !is_adf(&body["body"]) {
                return errors(400, &[], json!({"comment": "Comment body can not be empty!"}));
            }
            issue.comments.push(body["body"].clone());
            let id = 10_000 + issue.comments.len();
            Reply::json(201, &json!({"id": id.to_string(), "body": body["body"]}))
        }
        ("POST", ["rest", "api", "3", "search", "jql"]) => search(state, &request.json()),
        _ => errors(404, &["null for uri: the double has no such resource"], json!({})),
    }
}

fn missing() -> Reply {
    errors(404, &["Issue does not exist or you do not have permission to see it."], json!({}))
}

fn issue_mut<'a>(state: &'a mut State, key: &str) -> Option<&'a mut Issue> {
    let n: u32 = key.strip_prefix("OPS-")?.parse().ok()?;
    state.issues.get_mut(&n)
}

fn transitions(status: &str) -> Vec<Value> {
    WORKFLOW
        .iter()
        .filter(|(from, ..)| *from == status)
        .map(|(_, id, name, to)| json!({"id": id, "name": name, "to": {"name": to}, "hasScreen": false}))
        .collect()
}

fn is_adf(value: &Value) -> bool {
    value["type"] == "doc" && value["version"] == 1 && value["content"].is_array()
}

fn create(state: &mut State, body: &Value) -> Reply {
    let fields = &body["fields"];
    let mut problems = serde_json::Map::new();
    if fields["project"]["key"] != "OPS" {
        problems.insert("project".into(), json!("valid project is required"));
    }
    if !matches!(fields["issuetype"]["name"].as_str(), Some("Bug" | "Task")) {
        problems.insert("issuetype".into(), json!("Specify a valid issue type"));
    }
    if fields["summary"].as_str().is_none_or(str::is_empty) {
        problems.insert("summary".into(), json!("You must specify a summary of the issue."));
    }
    if !fields["description"].is_null() && !is_adf(&fields["description"]) {
        problems.insert(
            "description".into(),
            json!("Operation value must be an Atlassian Document (see the Atlassian Document Format)"),
        );
    }
    let known = ["project", "issuetype", "summary", "description", "labels", "priority", "customfield_10010"];
    for field in fields.as_object().map(|f| f.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
        if !known.contains(&field.as_str()) {
            problems.insert(
                field.clone(),
                json!(format!(
                    "Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."
                )),
            );
        }
    }
    if !fields["customfield_10010"].is_null()
        && !matches!(fields["customfield_10010"]["value"].as_str(), Some("High" | "Low"))
    {
        problems.insert("customfield_10010".into(), json!("Specify a valid value for Impact"));
    }
    if !problems.is_empty() {
        return errors(400, &[], Value::Object(problems));
    }
    let n = state.issues.keys().max().map_or(1, |n| n + 1);
    let summary = fields["summary"].as_str().unwrap_or_default().to_string();
    state
        .issues
        .insert(n, Issue { summary, status: "To Do".into(), fields: fields.clone(), comments: Vec::new() });
    let id = 10_000 + n;
    Reply::json(
        201,
        &json!({"id": id.to_string(), "key": format!("OPS-{n}"), "self": format!("/rest/api/3/issue/{id}")}),
    )
}

fn transition(state: &mut State, key: &str, body: &Value) -> Reply {
    let Some(issue) = issue_mut(state, key) else { return missing() };
    let id = body["transition"]["id"].as_str().unwrap_or_default();
    let Some((_, _, _, to)) = WORKFLOW.iter().find(|(from, tid, ..)| *from == issue.status && *tid == id)
    else {
        return errors(400, &[&format!("Transition id '{id}' is not valid for this issue.")], json!({}));
    };
    issue.status = to.to_string();
    if let Some(comments) = body["update"]["comment"].as_array() {
        issue.comments.extend(comments.iter().map(|c| c["add"]["body"].clone()));
    }
    Reply::new(204)
}

fn search(state: &State, body: &Value) -> Reply {
    let Some(jql) = body["jql"].as_str() else {
        return errors(400, &["The JQL query is required."], json!({}));
    };
    let status = jql.split("status = ").nth(1).map(|rest| rest.trim_matches('"').to_string());
    if !jql.starts_with("project = OPS") {
        return errors(
            400,
            &[&format!("Error in the JQL Query: '{jql}' is not a query the double knows.")],
            json!({}),
        );
    }
    let matching: Vec<(u32, &Issue)> = state
        .issues
        .iter()
        .filter(|(_, issue)| status.as_ref().is_none_or(|s| *s == issue.status))
        .map(|(n, issue)| (*n, issue))
        .collect();
    let start: usize = body["nextPageToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
    let max = body["maxResults"].as_u64().unwrap_or(50).min(2) as usize;
    let wanted: Vec<String> = body["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(max)
        .map(|(n, issue)| {
            let mut fields = serde_json::Map::new();
            for field in &wanted {
                let value = match field.as_str() {
                    "summary" => json!(issue.summary),
                    "status" => json!({"name": issue.status, "id": "3"}),
                    other => issue.fields.get(other).cloned().unwrap_or(Value::Null),
                };
                fields.insert(field.clone(), value);
            }
            json!({"id": (10_000 + n).to_string(), "key": format!("OPS-{n}"), "fields": fields})
        })
        .collect();
    let next = start + page.len();
    let mut answer = json!({"issues": page, "isLast": next >= matching.len()});
    if next < matching.len() {
        answer["nextPageToken"] = json!(next.to_string());
    }
    Reply::json(200, &answer)
}
