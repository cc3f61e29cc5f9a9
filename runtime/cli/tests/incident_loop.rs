//! `examples/flows/incident-loop.yaml` end to end through the real `sluice` binary, its URLs
//! pointed at the doubles on 127.0.0.1: a failing health check triggers a PagerDuty incident
//! (support_notify/pagerduty.rs) and comments on the Jira ticket (support_tickets/jira.rs) with
//! the execution's link (its id under `sluice run`, which knows no public URL); the next good
//! run resolves the same incident, by the flow's default dedup key.

#![allow(clippy::unwrap_used)]

#[path = "support_tickets/jira.rs"]
#[allow(dead_code)]
mod jira;
mod support_notify;
mod support_tickets;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use support_notify::pagerduty::{self, ROUTING_KEY};
use support_tickets::flows::{Env, basic, run_of};
use support_tickets::http::{Reply, Server};

const EMAIL: &str = "release-bot@acme.example";
const TOKEN: &str = "atl-tok-incident-5ecret";

/// The example with its service URLs replaced by the doubles'.
fn example(health: &str, events: &str, jira: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/flows/incident-loop.yaml");
    let yaml = std::fs::read_to_string(path).unwrap();
    let routing = "    routingKey: \"{{ secret('PD_ROUTING_KEY') }}\"\n";
    assert!(yaml.matches(routing).count() == 2, "both PagerDuty tasks name the routing key");
    yaml.replace("https://shop.example.com/healthz", &format!("{health}/healthz"))
        .replace(routing, &format!("{routing}    eventsUrl: {events}/v2/enqueue\n"))
        .replace("https://acme.atlassian.net", jira)
}

#[test]
fn a_failure_triggers_and_comments_and_the_next_success_resolves_the_same_incident() {
    let env = Env::new();
    let healthy = Arc::new(AtomicBool::new(false));
    let up = healthy.clone();
    let health = Server::start(move |_| Reply::new(if up.load(Ordering::SeqCst) { 200 } else { 503 }));
    let pd = pagerduty::start();
    let jira = jira::Jira::start(&[basic(EMAIL, TOKEN)]);
    jira.add_issue(12, "Release 1.4", "In Progress");
    let yaml = example(&health.url(), &pd.url(""), &jira.url());
    let secrets = [("SLUICE_SECRET_PD_ROUTING_KEY", ROUTING_KEY), ("SLUICE_SECRET_JIRA_TOKEN", TOKEN)];

    let (code, failed) = env.run_json(&yaml, &secrets);
    assert_eq!(code, 1, "{failed:#}");
    let execution = failed["executionId"].as_str().unwrap();
    assert_eq!(run_of(&failed, "check")["state"], "FAILED");
    assert_eq!(
        (run_of(&failed, "page")["state"].as_str(), run_of(&failed, "comment")["state"].as_str()),
        (Some("SUCCESS"), Some("SUCCESS"))
    );
    let events = pd.received();
    assert_eq!(events.len(), 1, "{events:?}");
    let trigger = events[0].json().unwrap();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "critical");
    let key = trigger["dedup_key"].as_str().unwrap().to_string();
    assert_eq!(key, "sluice/examples.cicd/incident-loop");
    let comments = jira.issue(12).unwrap().comments;
    assert_eq!(comments.len(), 1);
    let comment = comments[0].to_string();
    assert!(comment.contains("The release failed: ") && comment.contains(execution), "{comment}");

    healthy.store(true, Ordering::SeqCst);
    let (code, passed) = env.run_json(&yaml, &secrets);
    assert_eq!(code, 0, "{passed:#}");
    assert_eq!(run_of(&passed, "all-clear")["state"], "SUCCESS");
    let events = pd.received();
    assert_eq!(events.len(), 2, "{events:?}");
    let resolve = events[1].json().unwrap();
    assert_eq!(
        (resolve["event_action"].as_str(), resolve["dedup_key"].as_str()),
        (Some("resolve"), Some(&*key))
    );
    assert_eq!(jira.issue(12).unwrap().comments.len(), 1, "a good run comments nothing");
    env.assert_secret_nowhere(TOKEN);
    env.assert_secret_nowhere(ROUTING_KEY);
}
