//! A ServiceNow Table API double (`/api/now/table/{table}`) for `servicenow.*`: the tables
//! `incident` (numbers INC0010001, ...) and `change_request` (CHG0030001, ...), whose
//! `short_description` is mandatory by data policy. It checks what an instance checks: the
//! `authorization` header (basic `user:password` or an OAuth bearer token; 401 otherwise),
//! `content-type: application/json` on bodies (415), known tables (400 `Invalid table`), records
//! by `sys_id` (404 `No Record found`), and answers `{"result": ...}` or
//! `{"error": {"message", "detail"}, "status": "failure"}` as the Table API documents, with
//! `sysparm_fields`, `sysparm_query` (`field=value` terms joined by `^`) and `sysparm_limit`.
//! `throttle` answers the next request with 429 and `Retry-After: 1` (`throttle_for`: another
//! number of seconds).
//! Left out: display values, reference fields, ACLs, other query operators, every other API.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::support_tickets::http::{Recorded, Reply, Server};

#[derive(Default)]
struct State {
    records: Vec<(String, Map<String, Value>)>,
    counters: [u32; 2],
    /// The next request gets a 429 with a `Retry-After` of these seconds.
    throttle: Option<u64>,
}

pub struct ServiceNow {
    pub server: Server,
    state: Arc<Mutex<State>>,
}

impl ServiceNow {
    /// A double that accepts `authorization` values in `accepted`.
    pub fn start(accepted: &[String]) -> ServiceNow {
        let state = Arc::new(Mutex::new(State::default()));
        let accepted = accepted.to_vec();
        let shared = state.clone();
        let server = Server::start(move |request| answer(&mut shared.lock().unwrap(), &accepted, request));
        ServiceNow { server, state }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The stored record of `table` with `number`.
    pub fn record(&self, table: &str, number: &str) -> Option<Map<String, Value>> {
        let state = self.state.lock().unwrap();
        state.records.iter().find(|(t, r)| t == table && r["number"] == number).map(|(_, r)| r.clone())
    }

    /// The next request gets a 429 with `Retry-After: 1`.
    pub fn throttle(&self) {
        self.throttle_for(1);
    }

    /// The next request gets a 429 with `Retry-After: <seconds>`.
    pub fn throttle_for(&self, seconds: u64) {
        self.state.lock().unwrap().throttle = Some(seconds);
    }
}

fn failure(status: u16, message: &str, detail: Option<&str>) -> Reply {
    Reply::json(status, &json!({"error": {"message": message, "detail": detail}, "status": "failure"}))
}

fn answer(state: &mut State, accepted: &[String], request: &Recorded) -> Reply {
    if !request.header("authorization").is_some_and(|auth| accepted.iter().any(|a| a == auth)) {
        return failure(401, "User Not Authenticated", Some("Required to provide Auth information"));
    }
    if let Some(seconds) = state.throttle.take() {
        return failure(429, "Too many requests", Some("Rate limit exceeded; try again later"))
            .header("retry-after", seconds.to_string());
    }
    if !request.body.is_empty()
        && !request.header("content-type").is_some_and(|ct| ct.starts_with("application/json"))
    {
        return failure(415, "Unsupported Media Type", Some("Content-Type must be application/json"));
    }
    let segments: Vec<&str> = request.path().trim_start_matches('/').split('/').collect();
    let (table, sys_id) = match segments.as_slice() {
        ["api", "now", "table", table] => (*table, None),
        ["api", "now", "table", table, sys_id] => (*table, Some(*sys_id)),
        _ => return failure(400, "Requested URI does not represent any resource", None),
    };
    let prefix = match table {
        "incident" => ("INC", 0, 10_000),
        "change_request" => ("CHG", 1, 30_000),
        other => return failure(400, &format!("Invalid table {other}"), None),
    };
    let fields: Vec<String> =
        request.query("sysparm_fields").map(|f| f.split(',').map(String::from).collect()).unwrap_or_default();
    let shown = |record: &Map<String, Value>| -> Value {
        if fields.is_empty() {
            return Value::Object(record.clone());
        }
        Value::Object(
            fields.iter().map(|f| (f.clone(), record.get(f).cloned().unwrap_or(json!("")))).collect(),
        )
    };
    match (request.method.as_str(), sys_id) {
        ("POST", None) => {
            let Value::Object(values) = request.json() else {
                return failure(
                    400,
                    "Exception while reading request",
                    Some("The payload is not valid JSON."),
                );
            };
            if table == "change_request"
                && values.get("short_description").and_then(Value::as_str).is_none_or(str::is_empty)
            {
                return failure(
                    403,
                    "Operation Failed",
                    Some("Data Policy Exception: \n Short description is mandatory\n"),
                );
            }
            state.counters[prefix.1] += 1;
            let n = state.counters[prefix.1];
            let mut record = Map::new();
            record.insert(
                "sys_id".into(),
                json!(format!("{:032x}", 0xabc0_0000_u64 + u64::from(n) + prefix.2 as u64)),
            );
            record.insert("number".into(), json!(format!("{}{:07}", prefix.0, prefix.2 + n)));
            record.insert("state".into(), json!(if table == "incident" { "1" } else { "-5" }));
            record.insert("sys_created_by".into(), json!("ci"));
            record.extend(values);
            let answer = shown(&record);
            state.records.push((table.to_string(), record));
            Reply::json(201, &json!({"result": answer}))
        }
        ("GET", None) => {
            let limit: usize = request.query("sysparm_limit").and_then(|l| l.parse().ok()).unwrap_or(10_000);
            let query = request.query("sysparm_query").unwrap_or_default();
            let terms: Vec<(&str, &str)> =
                query.split('^').filter(|t| !t.is_empty()).filter_map(|t| t.split_once('=')).collect();
            let found: Vec<Value> = state
                .records
                .iter()
                .filter(|(t, r)| {
                    t == table && terms.iter().all(|(k, v)| r.get(*k).and_then(Value::as_str) == Some(*v))
                })
                .take(limit)
                .map(|(_, r)| shown(r))
                .collect();
            Reply::json(200, &json!({"result": found}))
        }
        (method @ ("GET" | "PATCH" | "PUT"), Some(sys_id)) => {
            let Some((_, record)) =
                state.records.iter_mut().find(|(t, r)| t == table && r["sys_id"] == sys_id)
            else {
                return failure(
                    404,
                    "No Record found",
                    Some("Record doesn't exist or ACL restricts the record retrieval"),
                );
            };
            if method != "GET" {
                let Value::Object(values) = request.json() else {
                    return failure(
                        400,
                        "Exception while reading request",
                        Some("The payload is not valid JSON."),
                    );
                };
                record.extend(values);
            }
            Reply::json(200, &json!({"result": shown(record)}))
        }
        _ => failure(405, "Method not Supported", Some("HTTP method not supported for this resource")),
    }
}
