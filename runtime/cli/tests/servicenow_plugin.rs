//! The servicenow plugin end to end: the real `sluice` binary runs `servicenow.*` tasks against
//! the Table API double on 127.0.0.1 (support_tickets/servicenow.rs): the change request opened
//! before a deploy and closed after it, exact requests and outputs, ServiceNow's own errors, a
//! 429 honoured (and a `Retry-After` that would pass the task's timeout not waited for), and
//! the password in no log, output or file.

#![allow(clippy::unwrap_used)]

#[path = "support_tickets/servicenow.rs"]
mod servicenow;
mod support_tickets;

use std::time::{Duration, Instant};

use serde_json::json;
use servicenow::ServiceNow;
use support_tickets::flows::{Env, basic, doc_flows, run_of, task_lines};

const USER: &str = "sluice.ci";
const PASSWORD: &str = "snow-pw-0a1b2c3d";
const TOKEN: &str = "snow-oauth-e4f5a6";

fn double() -> ServiceNow {
    ServiceNow::start(&[basic(USER, PASSWORD), format!("Bearer {TOKEN}")])
}

fn connection(snow: &ServiceNow) -> String {
    format!(
        "    instanceUrl: {}\n    username: {USER}\n    password: \"{{{{ secret('SNOW_PASSWORD') }}}}\"\n    allow:\n      secrets: [SNOW_PASSWORD]\n",
        snow.url()
    )
}

fn flow(tasks: &str) -> String {
    format!("id: change\nnamespace: t\ntasks:\n{tasks}")
}

const SECRET_ENV: [(&str, &str); 1] = [("SLUICE_SECRET_SNOW_PASSWORD", PASSWORD)];

#[test]
fn a_change_request_is_opened_before_the_deploy_and_closed_after_it() {
    let env = Env::new();
    let snow = double();
    let conn = connection(&snow);
    let yaml = flow(&format!(
        r#"  - id: open
    type: servicenow.create
{conn}    table: change_request
    values:
      short_description: "Deploy {{{{ flow.id }}}} to production"
      type: standard
      state: "-1"
    fields: [sys_id, number, state]
  - id: deploy
    type: core.log
    message: deploying under {{{{ outputs.open.number }}}}
  - id: close
    type: servicenow.update
{conn}    table: change_request
    sysId: "{{{{ outputs.open.sysId }}}}"
    values:
      state: "3"
      close_code: successful
      close_notes: Deployed by sluice
    fields: [number, state, close_code]
  - id: check
    type: servicenow.get
{conn}    table: change_request
    number: "{{{{ outputs.open.number }}}}"
    fields: [number, state]
"#
    ));
    let (code, doc) = env.run_json(&yaml, &SECRET_ENV);
    assert_eq!(code, 0, "{doc:#}");
    let sys_id = "000000000000000000000000abc07531";
    let url = format!("{}/change_request.do?sys_id={sys_id}", snow.url());
    assert_eq!(
        doc["outputs"]["open"],
        json!({"sysId": sys_id, "number": "CHG0030001", "url": url,
            "record": {"sys_id": sys_id, "number": "CHG0030001", "state": "-1"}})
    );
    assert_eq!(
        doc["outputs"]["close"],
        json!({"sysId": null, "number": "CHG0030001", "url": null,
            "record": {"number": "CHG0030001", "state": "3", "close_code": "successful"}})
    );
    assert_eq!(
        doc["outputs"]["check"],
        json!({"sysId": null, "number": "CHG0030001", "url": null, "count": 1,
            "record": {"number": "CHG0030001", "state": "3"}, "records": [{"number": "CHG0030001", "state": "3"}]})
    );
    assert_eq!(
        snow.server.lines(),
        [
            "POST /api/now/table/change_request?sysparm_fields=sys_id%2Cnumber%2Cstate".to_string(),
            format!("PATCH /api/now/table/change_request/{sys_id}?sysparm_fields=number%2Cstate%2Cclose_code"),
            "GET /api/now/table/change_request?sysparm_query=number%3DCHG0030001&sysparm_limit=2&sysparm_fields=number%2Cstate"
                .to_string(),
        ]
    );
    let requests = snow.server.requests();
    for request in &requests {
        assert_eq!(request.header("authorization"), Some(basic(USER, PASSWORD).as_str()));
        assert_eq!(request.header("accept"), Some("application/json"));
    }
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(
        requests[0].json(),
        json!({"short_description": "Deploy change to production", "type": "standard", "state": "-1"})
    );
    assert_eq!(
        requests[1].json(),
        json!({"state": "3", "close_code": "successful", "close_notes": "Deployed by sluice"})
    );
    let stored = snow.record("change_request", "CHG0030001").unwrap();
    assert_eq!(
        (stored["state"].as_str(), stored["close_notes"].as_str()),
        (Some("3"), Some("Deployed by sluice"))
    );
    env.assert_secret_nowhere(PASSWORD);
}

#[test]
fn servicenow_errors_are_given_verbatim() {
    let env = Env::new();
    let snow = double();
    let conn = connection(&snow);
    let yaml = flow(&format!(
        r#"  - id: nodesc
    type: servicenow.create
{conn}    table: change_request
    values: {{type: normal}}
    allowFailure: true
  - id: notable
    type: servicenow.get
{conn}    table: no_such_table
    query: active=true
    allowFailure: true
  - id: gone
    type: servicenow.update
{conn}    table: incident
    sysId: 0123456789abcdef0123456789abcdef
    values: {{state: "6"}}
    allowFailure: true
  - id: nonumber
    type: servicenow.get
{conn}    table: incident
    number: INC0000404
    allowFailure: true
  - id: none
    type: servicenow.get
{conn}    table: incident
    query: active=true^priority=1
"#
    ));
    let (code, doc) = env.run_json(&yaml, &SECRET_ENV);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        run_of(&doc, "nodesc")["error"],
        "failed: creating a change_request record: ServiceNow answered HTTP 403: Operation Failed (Data Policy Exception: \n Short description is mandatory)"
    );
    assert_eq!(
        run_of(&doc, "notable")["error"],
        "failed: querying no_such_table: ServiceNow answered HTTP 400: Invalid table no_such_table"
    );
    assert_eq!(
        run_of(&doc, "gone")["error"],
        "failed: updating incident 0123456789abcdef0123456789abcdef: ServiceNow answered HTTP 404: No Record found (Record doesn't exist or ACL restricts the record retrieval)"
    );
    assert_eq!(run_of(&doc, "nonumber")["error"], "failed: no incident record has the number INC0000404");
    assert_eq!(
        doc["outputs"]["none"],
        json!({"sysId": null, "number": null, "url": null, "record": null, "records": [], "count": 0})
    );

    let (code, doc) = env.run_json(&yaml, &[("SLUICE_SECRET_SNOW_PASSWORD", "not-the-pw-77")]);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "nodesc")["error"],
        "failed: creating a change_request record: ServiceNow answered HTTP 401 (check `username` and `password`, or `token`): User Not Authenticated (Required to provide Auth information)"
    );
    env.assert_secret_nowhere(PASSWORD);
    env.assert_secret_nowhere("not-the-pw-77");
}

#[test]
fn an_oauth_token_and_a_429_honoured() {
    let env = Env::new();
    let snow = double();
    snow.throttle();
    let yaml = flow(&format!(
        r#"  - id: incident
    type: servicenow.create
    instanceUrl: {}
    token: "{{{{ secret('SNOW_TOKEN') }}}}"
    allow:
      secrets: [SNOW_TOKEN]
    table: incident
    values:
      short_description: Deploy failed
      urgency: "1"
"#,
        snow.url()
    ));
    let (code, stdout) = env.run_text(&yaml, &[("SLUICE_SECRET_SNOW_TOKEN", TOKEN)]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        task_lines(&stdout, "incident"),
        [
            format!("HTTP 429 from {}; trying again in 1s (attempt 2 of 4)", snow.url()),
            "created incident INC0010001".into()
        ]
    );
    let requests = snow.server.requests();
    assert_eq!(snow.server.lines(), ["POST /api/now/table/incident", "POST /api/now/table/incident"]);
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
    assert_eq!(requests[1].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(requests[1].json(), json!({"short_description": "Deploy failed", "urgency": "1"}));
    env.assert_secret_nowhere(TOKEN);
}

#[test]
fn a_retry_after_that_would_pass_the_tasks_timeout_is_not_waited_for() {
    let env = Env::new();
    let snow = double();
    let yaml = flow(&format!(
        "  - id: close\n    type: servicenow.update\n{}    table: change_request\n    number: CHG0030001\n    values: {{state: \"3\"}}\n    timeout: 8s\n",
        connection(&snow)
    ));
    // 45 s asked, 8 s of timeout: the task fails at once with ServiceNow's words and why,
    // rather than being stopped by the host in the middle of the wait.
    snow.throttle_for(45);
    let started = Instant::now();
    let (code, doc) = env.run_json(&yaml, &SECRET_ENV);
    assert_eq!(code, 1, "{doc:#}");
    assert!(started.elapsed() < Duration::from_secs(8), "it waited until the host stopped it");
    assert_eq!(
        run_of(&doc, "close")["error"],
        "failed: finding change_request CHG0030001: ServiceNow answered HTTP 429: Too many requests (Rate limit exceeded; try again later); gave up after 1 attempt: the next wait of 45 s would pass the task's timeout"
    );
    assert_eq!(
        snow.server.lines(),
        [
            "GET /api/now/table/change_request?sysparm_query=number%3DCHG0030001&sysparm_limit=2&sysparm_fields=sys_id"
        ]
    );
    env.assert_secret_nowhere(PASSWORD);
}

/// The change request around a deploy of docs/plugins/servicenow.md, run as written but for the
/// instance's URL.
#[test]
fn the_documented_change_request_flow_runs() {
    let env = Env::new();
    let snow = double();
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/plugins/servicenow.md"))
            .unwrap();
    let flows = doc_flows(&docs);
    assert_eq!(flows.len(), 1, "{flows:?}");
    let yaml = flows[0]
        .replace("https://acme.service-now.com", &snow.url())
        .replace("username: sluice.ci", &format!("username: {USER}"));
    let (code, doc) = env.run_json_args(&yaml, &["--input", "version=2.7.0"], &SECRET_ENV);
    assert_eq!(code, 0, "{doc:#}");
    let sys_id = "000000000000000000000000abc07531";
    assert_eq!(
        snow.server.lines(),
        [
            "POST /api/now/table/change_request?sysparm_fields=sys_id%2Cnumber%2Cstate".to_string(),
            format!("PATCH /api/now/table/change_request/{sys_id}"),
        ]
    );
    let change = snow.record("change_request", "CHG0030001").unwrap();
    assert_eq!(change["short_description"], "Deploy 2.7.0 to production");
    assert_eq!((change["state"].as_str(), change["close_code"].as_str()), (Some("3"), Some("successful")));

    // A failed deploy: the errors handler closes the change as unsuccessful.
    let failing =
        yaml.replace("type: core.log\n    message: \"deploying", "type: core.fail\n    message: \"deploying");
    assert_ne!(failing, yaml);
    let (code, doc) = env.run_json_args(&failing, &["--input", "version=2.7.1"], &SECRET_ENV);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(run_of(&doc, "change_failed")["state"], "SUCCESS", "{doc:#}");
    let change = snow.record("change_request", "CHG0030002").unwrap();
    assert_eq!(change["short_description"], "Deploy 2.7.1 to production");
    assert_eq!((change["state"].as_str(), change["close_code"].as_str()), (Some("3"), Some("unsuccessful")));
    env.assert_secret_nowhere(PASSWORD);
}
