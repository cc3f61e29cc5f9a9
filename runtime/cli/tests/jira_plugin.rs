//! The jira plugin end to end: the real `sluice` binary runs `jira.*` tasks against the Jira
//! double on 127.0.0.1 (support_tickets/jira.rs). Exact requests, bodies, outputs, Jira's own
//! errors, a 429 honoured (and a `Retry-After` that would pass the task's timeout, or is too
//! long, not waited for), and the API token in no log, output or file.

#![allow(clippy::unwrap_used)]

#[path = "support_tickets/jira.rs"]
mod jira;
mod support_tickets;

use std::time::{Duration, Instant};

use jira::Jira;
use serde_json::json;
use support_tickets::flows::{Env, basic, run_of, task_lines};

const EMAIL: &str = "ci@acme.example";
const TOKEN: &str = "atl-tok-5ecret-9f8e7d";
const BEARER: &str = "oauth-access-7c6b5a";

fn double() -> Jira {
    Jira::start(&[basic(EMAIL, TOKEN), format!("Bearer {BEARER}")])
}

/// The connection keys of a task, with the token from the secret `JIRA_TOKEN`.
fn connection(jira: &Jira) -> String {
    format!(
        "    baseUrl: {}\n    email: {EMAIL}\n    apiToken: \"{{{{ secret('JIRA_TOKEN') }}}}\"\n    allow:\n      secrets: [JIRA_TOKEN]\n",
        jira.url()
    )
}

fn flow(tasks: &str) -> String {
    format!("id: tickets\nnamespace: t\ntasks:\n{tasks}")
}

const SECRET_ENV: [(&str, &str); 1] = [("SLUICE_SECRET_JIRA_TOKEN", TOKEN)];

#[test]
fn create_transition_and_comment_send_what_jira_expects() {
    let env = Env::new();
    let jira = double();
    let conn = connection(&jira);
    let yaml = flow(&format!(
        r#"  - id: create
    type: jira.create-issue
{conn}    project: OPS
    issueType: Bug
    summary: "Deploy of {{{{ flow.id }}}} failed"
    body: |
      ## What happened
      The **deploy** step failed, see [the run](https://ci.example/run/1).
      - step `deploy`
      - exit code 3
    labels: [ci, deploy]
    fields:
      customfield_10010: {{value: High}}
  - id: start
    type: jira.transition
{conn}    issue: "{{{{ outputs.create.key }}}}"
    transition: start progress
    comment: Picked up by the pipeline
  - id: note
    type: jira.comment
{conn}    issue: "{{{{ outputs.create.key }}}}"
    body: "Rolled back; plain *text* here"
    format: text
"#
    ));
    let (code, doc) = env.run_json(&yaml, &SECRET_ENV);
    assert_eq!(code, 0, "{doc:#}");
    let browse = format!("{}/browse/OPS-1", jira.url());
    assert_eq!(doc["outputs"]["create"], json!({"key": "OPS-1", "id": "10001", "url": browse}));
    assert_eq!(
        doc["outputs"]["start"],
        json!({"key": "OPS-1", "url": browse, "transitionId": "21", "status": "In Progress"})
    );
    assert_eq!(doc["outputs"]["note"], json!({"key": "OPS-1", "url": browse, "commentId": "10002"}));

    assert_eq!(
        jira.server.lines(),
        [
            "POST /rest/api/3/issue",
            "GET /rest/api/3/issue/OPS-1/transitions",
            "POST /rest/api/3/issue/OPS-1/transitions",
            "POST /rest/api/3/issue/OPS-1/comment",
        ]
    );
    let requests = jira.server.requests();
    for request in &requests {
        assert_eq!(request.header("authorization"), Some(basic(EMAIL, TOKEN).as_str()));
        assert_eq!(request.header("accept"), Some("application/json"));
    }
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(
        requests[0].json(),
        json!({"fields": {
            "project": {"key": "OPS"},
            "issuetype": {"name": "Bug"},
            "summary": "Deploy of tickets failed",
            "labels": ["ci", "deploy"],
            "customfield_10010": {"value": "High"},
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "What happened"}]},
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "The "},
                    {"type": "text", "text": "deploy", "marks": [{"type": "strong"}]},
                    {"type": "text", "text": " step failed, see "},
                    {"type": "text", "text": "the run", "marks": [{"type": "link", "attrs": {"href": "https://ci.example/run/1"}}]},
                    {"type": "text", "text": "."}]},
                {"type": "bulletList", "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [
                        {"type": "text", "text": "step "}, {"type": "text", "text": "deploy", "marks": [{"type": "code"}]}]}]},
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [
                        {"type": "text", "text": "exit code 3"}]}]}]}
            ]}
        }})
    );
    assert_eq!(
        requests[2].json(),
        json!({"transition": {"id": "21"}, "update": {"comment": [{"add": {"body": {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Picked up by the pipeline"}]}]}}}]}})
    );
    assert_eq!(
        requests[3].json(),
        json!({"body": {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Rolled back; plain *text* here"}]}]}})
    );
    let issue = jira.issue(1).unwrap();
    assert_eq!((issue.status.as_str(), issue.comments.len()), ("In Progress", 2));
    env.assert_secret_nowhere(TOKEN);
}

#[test]
fn jira_errors_are_given_verbatim_with_their_field_names() {
    let env = Env::new();
    let jira = double();
    jira.add_issue(7, "old", "Done");
    let conn = connection(&jira);
    let yaml = flow(&format!(
        r#"  - id: create
    type: jira.create-issue
{conn}    project: OPS
    issueType: Bug
    summary: ""
    fields:
      customfield_99999: x
    allowFailure: true
  - id: move
    type: jira.transition
{conn}    issue: OPS-7
    transition: Start Progress
    allowFailure: true
  - id: nobody
    type: jira.comment
{conn}    issue: OPS-404
    body: hi
    allowFailure: true
"#
    ));
    let (_, doc) = env.run_json(&yaml, &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "create")["error"],
        "failed: creating a Bug in OPS: Jira answered HTTP 400: customfield_99999: Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown.; summary: You must specify a summary of the issue."
    );
    assert_eq!(
        run_of(&doc, "move")["error"],
        "failed: OPS-7 has no transition `Start Progress` now; available: `Reopen` (to To Do)"
    );
    assert_eq!(
        run_of(&doc, "nobody")["error"],
        "failed: commenting on OPS-404: Jira answered HTTP 404: Issue does not exist or you do not have permission to see it."
    );
    // The transition was never posted.
    assert_eq!(
        jira.server.lines(),
        [
            "POST /rest/api/3/issue",
            "GET /rest/api/3/issue/OPS-7/transitions",
            "POST /rest/api/3/issue/OPS-404/comment"
        ]
    );

    // A wrong token: Jira's 401, with what to check, and the token in no log or output.
    let (code, doc) = env.run_json(
        &yaml.replace("allowFailure: true\n  - id: move", "\n  - id: move"),
        &[("SLUICE_SECRET_JIRA_TOKEN", "wrong-token-1234")],
    );
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "create")["error"],
        "failed: creating a Bug in OPS: Jira answered HTTP 401 (check `email` and `apiToken`, or `bearerToken`): You are not authenticated. Authentication required to perform this operation."
    );
    env.assert_secret_nowhere(TOKEN);
    env.assert_secret_nowhere("wrong-token-1234");
}

#[test]
fn search_pages_through_the_results_with_a_bearer_token_and_a_429_is_honoured() {
    let env = Env::new();
    let jira = double();
    for (n, status) in [(1, "To Do"), (2, "Done"), (3, "To Do"), (4, "To Do"), (5, "To Do")] {
        jira.add_issue(n, &format!("issue {n}"), status);
    }
    jira.throttle("/rest/api/3/search/jql");
    let yaml = flow(&format!(
        r#"  - id: find
    type: jira.search
    baseUrl: {}
    bearerToken: "{{{{ secret('JIRA_BEARER') }}}}"
    allow:
      secrets: [JIRA_BEARER]
    jql: 'project = OPS AND status = "To Do"'
    fields: [labels]
    maxResults: 3
"#,
        jira.url()
    ));
    let (code, stdout) = env.run_text(&yaml, &[("SLUICE_SECRET_JIRA_BEARER", BEARER)]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        task_lines(&stdout, "find"),
        [
            format!("HTTP 429 from {}; trying again in 1s (attempt 2 of 4)", jira.url()),
            "3 issues match".to_string()
        ]
    );
    let requests = jira.server.requests();
    assert_eq!(requests.len(), 3, "{:?}", jira.server.lines());
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
    let page = |token: Option<&str>, max: u64| {
        let mut body = json!({"jql": "project = OPS AND status = \"To Do\"", "fields": ["summary", "status", "labels"], "maxResults": max});
        if let Some(token) = token {
            body["nextPageToken"] = json!(token);
        }
        body
    };
    assert_eq!(requests[1].json(), page(None, 3));
    assert_eq!(requests[2].json(), page(Some("2"), 1));
    assert_eq!(requests[0].header("authorization"), Some(format!("Bearer {BEARER}").as_str()));

    jira.server.clear();
    let (code, doc) = env.run_json(&yaml, &[("SLUICE_SECRET_JIRA_BEARER", BEARER)]);
    assert_eq!(code, 0, "{doc:#}");
    let issue = |n: u32| {
        json!({"key": format!("OPS-{n}"), "summary": format!("issue {n}"), "status": "To Do",
            "url": format!("{}/browse/OPS-{n}", jira.url()), "fields": {"labels": null}})
    };
    assert_eq!(doc["outputs"]["find"], json!({"count": 3, "issues": [issue(1), issue(3), issue(4)]}));
    env.assert_secret_nowhere(BEARER);
}

#[test]
fn a_retry_after_that_would_pass_the_tasks_timeout_is_not_waited_for() {
    let env = Env::new();
    let jira = double();
    let yaml = |timeout: &str| {
        flow(&format!(
            "  - id: create\n    type: jira.create-issue\n{}    project: OPS\n    issueType: Task\n    summary: Rotate the keys\n{timeout}",
            connection(&jira)
        ))
    };
    // 30 s asked, 8 s of timeout: the task fails at once with Jira's words and why, rather than
    // being stopped by the host in the middle of the wait.
    jira.throttle_for("/rest/api/3/issue", 30);
    let started = Instant::now();
    let (code, doc) = env.run_json(&yaml("    timeout: 8s\n"), &SECRET_ENV);
    assert_eq!(code, 1, "{doc:#}");
    assert!(started.elapsed() < Duration::from_secs(8), "it waited until the host stopped it");
    assert_eq!(
        run_of(&doc, "create")["error"],
        "failed: creating a Task in OPS: Jira answered HTTP 429: Rate limit exceeded.; gave up after 1 attempt: the next wait of 30 s would pass the task's timeout"
    );
    assert_eq!(jira.server.lines(), ["POST /rest/api/3/issue"]);

    // Within the default timeout (1 h), a wait over the SDK's 60 s is not taken either.
    jira.throttle_for("/rest/api/3/issue", 120);
    let (code, doc) = env.run_json(&yaml(""), &SECRET_ENV);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        run_of(&doc, "create")["error"],
        "failed: creating a Task in OPS: Jira answered HTTP 429: Rate limit exceeded.; gave up after 1 attempt: the wait its Retry-After asks for (120 s) is longer than 60 s"
    );

    // A wait that ends in time is taken.
    jira.server.clear();
    jira.throttle_for("/rest/api/3/issue", 2);
    let (code, stdout) = env.run_text(&yaml("    timeout: 8s\n"), &SECRET_ENV);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        task_lines(&stdout, "create"),
        [
            format!("HTTP 429 from {}; trying again in 2s (attempt 2 of 4)", jira.url()),
            format!("created OPS-1: {}/browse/OPS-1", jira.url()),
        ]
    );
    let requests = jira.server.requests();
    assert_eq!(requests.len(), 2, "{:?}", jira.server.lines());
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(2), "Retry-After: 2 was not honoured");
    env.assert_secret_nowhere(TOKEN);
}
