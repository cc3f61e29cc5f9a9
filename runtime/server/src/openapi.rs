//! The OpenAPI 3.1 description of the API, written by hand.

use axum::Json;
use serde_json::{Map, Value, json};

use crate::auth::Access;

fn problem() -> Value {
    json!({"description": "A problem (RFC 9457)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

fn ok(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {}}})
}

fn yaml_body() -> Value {
    json!({"required": true, "description": "At most 1 MiB", "content": {"application/yaml": {"schema": {"type": "string"}}}})
}

fn json_inputs() -> Value {
    json!({"required": false, "description": "At most 1 MiB", "content": {"application/json": {"schema": {"type": "object"}}}})
}

/// A plugin's component, as built (`wasm32-wasip2`).
fn wasm_body() -> Value {
    json!({
        "required": true,
        "content": {"application/wasm": {
            "schema": {"type": "string", "format": "binary"},
            "description": "A WASI 0.2 component exporting the sluice task interface. At most the server's --max-upload-size"
        }}
    })
}

/// A start's inputs: a JSON object, or multipart when the flow has `file` inputs.
fn start_inputs() -> Value {
    json!({
        "required": false,
        "content": {
            "application/json": {"schema": {"type": "object"}, "description": "The inputs; at most 1 MiB"},
            "multipart/form-data": {
                "schema": {"type": "object", "additionalProperties": {"type": "string", "format": "binary"}},
                "description": "One part per input, named after it; a part with a file name is a file input. At most the server's --max-upload-size (100 MiB by default) in all"
            }
        }
    })
}

fn param(name: &str, location: &str) -> Value {
    json!({"name": name, "in": location, "required": location == "path", "schema": {"type": "string"}})
}

fn op(summary: &str, params: &[(&str, &str)], body: Option<Value>, responses: &[(&str, Value)]) -> Value {
    let mut op = json!({
        "summary": summary,
        "parameters": params.iter().map(|(n, l)| param(n, l)).collect::<Vec<_>>(),
        "responses": responses.iter().map(|(c, v)| ((*c).to_owned(), v.clone())).collect::<Map<_, _>>(),
    });
    if let Some(body) = body {
        op["requestBody"] = body;
    }
    op
}

fn webhook_op(summary: &str) -> Value {
    let any_body = json!({"required": false, "description": "At most 25 MiB", "content": {"*/*": {}}});
    op(
        summary,
        &[("namespace", "path"), ("flowId", "path"), ("key", "path"), ("wait", "query")],
        Some(any_body),
        &[
            ("200", ok("The finished execution (wait=true)")),
            ("202", ok("{executionId, state, trigger}")),
            ("400", problem()),
            ("401", problem()),
            ("403", problem()),
            ("404", problem()),
            ("409", problem()),
            ("413", problem()),
            ("422", problem()),
            ("503", problem()),
        ],
    )
}

fn flow_doc() -> Value {
    let yaml = json!({"schema": {"type": "string"}});
    json!({"description": "The flow", "content": {
        "application/json": {},
        "application/yaml": yaml, "application/x-yaml": yaml, "text/yaml": yaml,
    }})
}

fn json_body(description: &str) -> Value {
    json!({"required": true, "description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

/// Each operation says how it authenticates, from the route's [`Access`]: none, or a bearer
/// token or the session cookie, with the 401 and 403 answers that come with them.
fn add_security(doc: &mut Value) {
    for route in crate::routes() {
        let method = route.method.as_str().to_ascii_lowercase();
        let Some(op) = doc["paths"][route.path].get_mut(&method) else { continue };
        let needs = [json!({"bearer": []}), json!({"cookie": []})];
        match route.access {
            Access::Open => op["security"] = json!([]),
            Access::Metrics => op["security"] = json!([{}, needs[0], needs[1]]),
            _ => {
                op["security"] = json!(needs);
                op["responses"]["401"] = problem();
                op["responses"]["403"] = problem();
            }
        }
    }
}

pub fn openapi() -> Value {
    let mut doc = described();
    add_security(&mut doc);
    doc
}

fn described() -> Value {
    let ns_id = [("namespace", "path"), ("id", "path")];
    let exec = [("id", "path")];
    let text = json!({"description": "Plain text", "content": {"text/plain": {}}});
    let sse = json!({"description": "Server-Sent Events until the execution ends", "content": {"text/event-stream": {}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "sluice", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/api/v1/flows": {
                "post": op("Deploy a new flow", &[], Some(yaml_body()), &[("201", ok("The saved revision")), ("400", problem()), ("409", problem()), ("413", problem()), ("422", problem())]),
                "get": op("List flows", &[("namespace", "query"), ("label", "query")], None, &[("200", ok("Newest revision of each flow"))]),
            },
            "/api/v1/flows/validate": {
                "post": op("Validate a flow", &[], Some(yaml_body()), &[("200", ok("{valid: true}")), ("400", problem()), ("413", problem()), ("422", problem())]),
            },
            "/api/v1/flows/{namespace}/{id}": {
                "get": op("A flow (its YAML with Accept: application/yaml, application/x-yaml or text/yaml)", &[ns_id[0], ns_id[1], ("revision", "query")], None, &[("200", flow_doc()), ("400", problem()), ("404", problem())]),
                "put": op("Update a flow", &ns_id, Some(yaml_body()), &[("200", ok("The current revision")), ("400", problem()), ("413", problem()), ("422", problem())]),
                "delete": op("Delete a flow", &ns_id, None, &[("204", json!({"description": "Deleted"})), ("404", problem())]),
            },
            "/api/v1/flows/{namespace}/{id}/triggers": {
                "get": op("A flow's triggers, with each schedule's state (coveredUntil, nextDate, executionId, skipped)", &ns_id, None, &[("200", ok("Triggers")), ("404", problem())]),
            },
            "/api/v1/flows/{namespace}/{id}/graph": {
                "get": op("A flow as the server parses it: typed inputs, and tasks as a tree (type, dependsOn, line, child lists, grants), main tasks, errors and finally apart", &[ns_id[0], ns_id[1], ("revision", "query")], None, &[("200", ok("{namespace, id, revision, inputs, tasks, errors, finally}")), ("400", problem()), ("404", problem()), ("422", problem())]),
            },
            "/api/v1/webhooks/{namespace}/{flowId}/{key}": {
                "post": webhook_op("Start a flow through its webhook trigger (the request is `trigger.body`, `trigger.headers`, `trigger.query`)"),
                "get": webhook_op("Start a flow through its webhook trigger (no body)"),
            },
            "/api/v1/flows/{namespace}/{id}/revisions": {
                "get": op("Every revision of a flow", &ns_id, None, &[("200", ok("Revisions, oldest first")), ("404", problem())]),
            },
            "/api/v1/executions/{namespace}/{flowId}": {
                "post": op("Start an execution", &[("namespace", "path"), ("flowId", "path"), ("wait", "query")], Some(start_inputs()), &[("200", ok("The finished execution (wait=true)")), ("202", ok("{executionId, state}")), ("400", problem()), ("404", problem()), ("409", problem()), ("413", problem()), ("422", problem()), ("503", problem())]),
            },
            "/api/v1/executions": {
                "get": op("List executions, newest first (`parent`: those a subflow task of that execution started)", &[("namespace", "query"), ("flowId", "query"), ("parent", "query"), ("state", "query"), ("label", "query"), ("after", "query"), ("before", "query"), ("offset", "query"), ("limit", "query")], None, &[("200", ok("Executions")), ("400", problem())]),
            },
            "/api/v1/executions/{id}": {
                "get": op("An execution with its task runs", &exec, None, &[("200", ok("The execution")), ("404", problem())]),
            },
            "/api/v1/executions/{id}/kill": {
                "post": op("Kill a running execution", &exec, None, &[("202", ok("Killing")), ("404", problem()), ("409", problem())]),
            },
            "/api/v1/executions/{id}/resume": {
                "post": op("Resume a paused task", &[exec[0], ("taskRun", "query")], Some(json_inputs()), &[("202", ok("Resumed")), ("400", problem()), ("404", problem()), ("409", problem()), ("413", problem()), ("422", problem())]),
            },
            "/api/v1/executions/{id}/restart": {
                "post": op("Re-run the failed and killed tasks of a FAILED or KILLED execution, in place (new attempts of the same task runs)", &exec, None, &[("202", ok("Running again")), ("404", problem()), ("409", problem()), ("503", problem())]),
            },
            "/api/v1/executions/{id}/replay": {
                "post": op("A new execution of the same flow revision and inputs: task runs before `fromTask` are copied with the workspace, the rest runs (everything without `fromTask`); its trigger records the original", &[exec[0], ("fromTask", "query")], None, &[("202", ok("{executionId, replayOf, fromTask}")), ("404", problem()), ("409", problem()), ("503", problem())]),
            },
            "/api/v1/executions/{id}/logs": {
                "get": op("Stored log lines (`task`: every run of a task, e.g. each forEach iteration), in seq order; a page with `afterSeq` (the last seq already read) and `limit`", &[exec[0], ("taskRun", "query"), ("task", "query"), ("level", "query"), ("afterSeq", "query"), ("limit", "query")], None, &[("200", ok("Lines with seq")), ("400", problem()), ("404", problem())]),
            },
            "/api/v1/executions/{id}/logs/follow": {
                "get": op("Follow the log: `log` events (id: the line's seq; reconnect with Last-Event-ID to continue after it), then `end`", &[exec[0], ("taskRun", "query"), ("task", "query"), ("level", "query"), ("Last-Event-ID", "header")], None, &[("200", sse.clone()), ("400", problem()), ("404", problem())]),
            },
            "/api/v1/executions/{id}/follow": {
                "get": op("Follow the states of an execution and its task runs", &exec, None, &[("200", sse), ("404", problem())]),
            },
            "/api/v1/plugins": {
                "get": op("Installed plugins", &[], None, &[("200", ok("Plugins"))]),
                "post": op("Deploy a plugin to every node on the database", &[], Some(wasm_body()), &[("201", ok("The deployed plugin")), ("400", problem()), ("409", problem()), ("413", problem())]),
            },
            "/api/v1/plugins/{name}": {
                "get": op("A plugin with its task schemas", &[("name", "path")], None, &[("200", ok("The plugin")), ("404", problem())]),
            },
            "/api/v1/tokens": {
                "get": op("Every API token (never the token itself, nor its hash), revoked ones included", &[], None, &[("200", ok("Tokens: name, grants, createdAt, expiresAt, revokedAt"))]),
                "post": op("Make a token: {name, grants: [\"editor:acme.*\"], expiresIn: \"90d\"}; the answer holds the token, shown this once", &[], Some(json_body("{name, grants, expiresIn}")), &[("201", ok("The token and its record")), ("400", problem()), ("409", problem())]),
            },
            "/api/v1/tokens/{name}": {
                "delete": op("Revoke the live token of this name", &[("name", "path")], None, &[("204", json!({"description": "Revoked"})), ("404", problem())]),
            },
            "/api/v1/audit": {
                "get": op("Audit log entries, oldest first, each with the hash of the one before (`action` ending with a dot: a kind of action)", &[("actor", "query"), ("action", "query"), ("target", "query"), ("since", "query"), ("until", "query"), ("after", "query"), ("limit", "query")], None, &[("200", ok("Entries: seq, at, actor, action, target, source, details, prevHash, hash")), ("400", problem())]),
            },
            "/api/v1/session": {
                "get": op("Who the request's token or session cookie is, and whether the server needs one", &[], None, &[("200", ok("{auth, token, grants}")), ("401", problem())]),
                "post": op("Log in with a token: sets it as an HttpOnly, SameSite=Strict cookie", &[], Some(json_body("{token}")), &[("200", ok("{auth, token, grants}")), ("400", problem()), ("401", problem())]),
                "delete": op("Log out: clears the cookie", &[], None, &[("204", json!({"description": "Logged out"}))]),
            },
            "/api/v1/openapi.json": {
                "get": op("This document", &[], None, &[("200", ok("OpenAPI 3.1"))]),
            },
            "/healthz": {"get": op("Liveness", &[], None, &[("200", text.clone())])},
            "/readyz": {"get": op("Readiness: 503 while draining for a shutdown", &[], None, &[("200", text.clone()), ("503", problem())])},
            "/metrics": {"get": op("Prometheus metrics", &[], None, &[("200", text)])},
        },
        "components": {
          "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (`sluice token create`)"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "sluice_token", "description": "The web UI's session (POST /api/v1/session)"}
          },
          "schemas": {"Problem": {
            "type": "object",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "rendered": {"type": "string"},
                "errors": {"type": "array"}
            }
        }}}
    })
}

pub async fn document() -> Json<Value> {
    Json(openapi())
}
