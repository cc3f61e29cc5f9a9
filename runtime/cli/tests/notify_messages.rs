//! What each chat and paging notifier sends, end to end: the real `sluice` binary runs flows
//! whose `notify.teams`, `notify.discord` and `notify.pagerduty` tasks post to the recording
//! doubles on 127.0.0.1 (`support_notify`), and the tests assert the exact bodies received: a
//! Teams card built from the fields and one given whole (`card`), Discord `content` and
//! `embeds`, PagerDuty's trigger, acknowledge and resolve of one incident, and the services'
//! own errors. Retries, signatures, defaults and denials are in `notify_plugin.rs`.

#![allow(clippy::unwrap_used)]

mod support_notify;

use serde_json::json;
use support_notify::flows::{Env, run_of};
use support_notify::{discord, pagerduty, teams};

#[test]
fn teams_gets_an_adaptive_card_and_discord_a_message_with_its_id() {
    let (teams_double, discord_double) = (teams::start(), discord::start());
    let env = Env::new();
    let teams_url = format!("{}?{}", teams_double.url(teams::WEBHOOK_PATH), teams::WEBHOOK_QUERY);
    let yaml = format!(
        r#"
id: chat
namespace: tests
tasks:
  - id: card
    type: notify.teams
    webhook: "{teams_url}"
    title: "Release 1.4 is out"
    text: "All checks passed."
    facts: {{Version: "1.4.0", Environment: prod}}
    linkUrl: "https://shop.example.com/releases/1.4"
    linkTitle: "Release notes"
  - id: chat
    type: notify.discord
    webhook: "{discord_url}"
    content: "Release **1.4** is out"
    username: sluice
"#,
        discord_url = discord_double.url(discord::WEBHOOK_PATH)
    );
    let (code, doc) = env.run_json(&yaml, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["outputs"]["card"], json!({"status": 202}));
    assert_eq!(
        doc["outputs"]["chat"],
        json!({"messageId": discord::MESSAGE_ID, "channelId": discord::CHANNEL_ID})
    );
    let card = &teams_double.received()[0];
    assert_eq!(card.target, format!("{}?{}", teams::WEBHOOK_PATH, teams::WEBHOOK_QUERY));
    assert_eq!(card.header("content-type"), Some("application/json"));
    assert_eq!(
        card.json().unwrap(),
        json!({"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": "Release 1.4 is out", "weight": "Bolder", "size": "Medium", "wrap": true},
                    {"type": "TextBlock", "text": "All checks passed.", "wrap": true},
                    {"type": "FactSet", "facts": [
                        {"title": "Environment", "value": "prod"}, {"title": "Version", "value": "1.4.0"}]},
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Release notes", "url": "https://shop.example.com/releases/1.4"}],
            },
        }]})
    );
    let message = &discord_double.received()[0];
    assert_eq!(message.target, format!("{}?wait=true", discord::WEBHOOK_PATH));
    assert_eq!(message.json(), Some(json!({"content": "Release **1.4** is out", "username": "sluice"})));

    // Discord's own error, the URL (its token) nowhere.
    let wrong = discord_double.url(&format!("/api/webhooks/{}/discordWRONGtoken", discord::WEBHOOK_ID));
    let flow = format!(
        "id: wrong\nnamespace: tests\ntasks:\n  - id: chat\n    type: notify.discord\n    webhook: \"{wrong}\"\n    content: hi\n"
    );
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "chat")["error"],
        format!(
            "failed: Discord ({}) answered HTTP 401: Invalid Webhook Token (code 50027)",
            discord_double.origin
        )
    );
    for credential in ["discordWRONGtoken", discord::WEBHOOK_TOKEN, "teamsSECRETsig"] {
        assert!(!env.printed(credential), "{credential} showed");
    }
}

#[test]
fn pagerduty_triggers_acknowledges_and_resolves_one_incident() {
    let double = pagerduty::start();
    let env = Env::new();
    let events = double.url("/v2/enqueue");
    let yaml = format!(
        r#"
id: incident
namespace: tests
tasks:
  - id: open
    type: notify.pagerduty
    eventsUrl: "{events}"
    routingKey: "{{{{ secret('PD_KEY') }}}}"
    summary: "checkout is down"
    source: "shop-prod"
    severity: critical
    component: checkout
    customDetails: {{region: eu-west-1}}
    allow:
      secrets: [PD_KEY]
  - id: ack
    type: notify.pagerduty
    eventsUrl: "{events}"
    routingKey: "{{{{ secret('PD_KEY') }}}}"
    action: acknowledge
    dedupKey: "{{{{ outputs.open.dedupKey }}}}"
    allow:
      secrets: [PD_KEY]
  - id: close
    type: notify.pagerduty
    eventsUrl: "{events}"
    routingKey: "{{{{ secret('PD_KEY') }}}}"
    action: resolve
    allow:
      secrets: [PD_KEY]
"#
    );
    let (code, doc) = env.run_json(&yaml, &[("SLUICE_SECRET_PD_KEY", pagerduty::ROUTING_KEY)]);
    assert_eq!(code, 0, "{doc:#}");
    let key = "sluice/tests/incident";
    let accepted = json!({"dedupKey": key, "status": "success", "message": "Event processed"});
    for task in ["open", "ack", "close"] {
        assert_eq!(doc["outputs"][task], accepted, "{task}");
    }
    let received = double.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.method == "POST" && r.target == "/v2/enqueue" && r.is_json()));
    assert_eq!(
        received[0].json().unwrap(),
        json!({
            "routing_key": pagerduty::ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": key,
            "payload": {"summary": "checkout is down", "source": "shop-prod", "severity": "critical",
                        "component": "checkout", "custom_details": {"region": "eu-west-1"}},
            "client": "sluice",
        })
    );
    // An acknowledge and a resolve are the key and the action only (no payload).
    assert_eq!(
        received[1].json().unwrap(),
        json!({"routing_key": pagerduty::ROUTING_KEY, "event_action": "acknowledge", "dedup_key": key})
    );
    assert_eq!(
        received[2].json().unwrap(),
        json!({"routing_key": pagerduty::ROUTING_KEY, "event_action": "resolve", "dedup_key": key})
    );

    let short = format!(
        "id: bad\nnamespace: tests\ntasks:\n  - id: open\n    type: notify.pagerduty\n    eventsUrl: \"{events}\"\n    routingKey: short\n    summary: x\n"
    );
    let (code, doc) = env.run_json(&short, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "open")["error"],
        format!(
            "failed: PagerDuty ({}) answered HTTP 400: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)",
            double.origin
        )
    );
    assert!(!env.leaked(pagerduty::ROUTING_KEY));
}

#[test]
fn a_whole_card_given_by_the_flow_is_sent_as_it_is() {
    let double = teams::start();
    let env = Env::new();
    let webhook = format!("{}?{}", double.url(teams::WEBHOOK_PATH), teams::WEBHOOK_QUERY);
    let yaml = format!(
        r#"
id: release
namespace: tests
tasks:
  - id: card
    type: notify.teams
    webhook: "{webhook}"
    card:
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json"
      type: AdaptiveCard
      version: "1.5"
      msteams: {{width: Full}}
      body:
        - type: TextBlock
          text: "{{{{ flow.namespace }}}}.{{{{ flow.id }}}} is live"
          style: heading
        - type: ColumnSet
          columns:
            - {{type: Column, width: auto, items: [{{type: TextBlock, text: "Canary", weight: Bolder}}]}}
            - {{type: Column, width: stretch, items: [{{type: TextBlock, text: "5 % → 100 %"}}]}}
      actions:
        - {{type: Action.OpenUrl, title: Dashboard, url: "https://grafana.example.com/d/shop"}}
"#
    );
    let (code, doc) = env.run_json(&yaml, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["outputs"]["card"], json!({"status": 202}));
    let received = double.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    // The card as the flow wrote it (templates rendered), nothing of the built card added.
    assert_eq!(
        received[0].json().unwrap(),
        json!({"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.5",
                "msteams": {"width": "Full"},
                "body": [
                    {"type": "TextBlock", "text": "tests.release is live", "style": "heading"},
                    {"type": "ColumnSet", "columns": [
                        {"type": "Column", "width": "auto", "items": [{"type": "TextBlock", "text": "Canary", "weight": "Bolder"}]},
                        {"type": "Column", "width": "stretch", "items": [{"type": "TextBlock", "text": "5 % → 100 %"}]}]},
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Dashboard", "url": "https://grafana.example.com/d/shop"}],
            },
        }]})
    );

    // A card is not mended: one without a `body` gets the Workflow's own refusal.
    let flow = format!(
        "id: bare\nnamespace: tests\ntasks:\n  - id: card\n    type: notify.teams\n    webhook: \"{webhook}\"\n    card: {{type: AdaptiveCard, version: \"1.5\"}}\n"
    );
    let (code, doc) = env.run_json(&flow, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        double.received()[1].json().unwrap()["attachments"][0]["content"],
        json!({"type": "AdaptiveCard", "version": "1.5"})
    );
    assert_eq!(
        run_of(&doc, "card")["error"],
        format!(
            "failed: Teams ({}) answered HTTP 400: TriggerInputSchemaMismatch: The input body for trigger 'manual' of type 'Request' did not match its schema definition.",
            double.origin
        )
    );
    assert!(!env.printed("teamsSECRETsig"), "the webhook's signature showed");
}

#[test]
fn discord_embeds_are_sent_as_they_are_with_or_without_content() {
    let double = discord::start();
    let env = Env::new();
    let webhook = double.url(discord::WEBHOOK_PATH);
    let yaml = format!(
        r#"
id: release
namespace: tests
tasks:
  - id: embed
    type: notify.discord
    webhook: "{webhook}"
    avatarUrl: "https://sluice.example.com/logo.png"
    threadId: "1200000000000000001"
    embeds:
      - title: "{{{{ flow.id }}}} 1.4.0"
        description: "All checks passed."
        url: "https://shop.example.com/releases/1.4"
        color: 3066993
        fields:
          - {{name: Environment, value: prod, inline: true}}
          - {{name: Duration, value: "4 min", inline: true}}
        footer: {{text: sluice}}
  - id: both
    type: notify.discord
    webhook: "{webhook}"
    content: "Release **1.4** is out"
    embeds:
      - {{title: Changelog, url: "https://shop.example.com/changelog"}}
"#
    );
    let (code, doc) = env.run_json(&yaml, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let created = json!({"messageId": discord::MESSAGE_ID, "channelId": discord::CHANNEL_ID});
    assert_eq!((&doc["outputs"]["embed"], &doc["outputs"]["both"]), (&created, &created));
    let received = double.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.method == "POST" && r.is_json()));
    assert_eq!(
        received[0].target,
        format!("{}?wait=true&thread_id=1200000000000000001", discord::WEBHOOK_PATH)
    );
    // Embeds without `content`: no default message is made up beside them.
    assert_eq!(
        received[0].json().unwrap(),
        json!({
            "embeds": [{
                "title": "release 1.4.0",
                "description": "All checks passed.",
                "url": "https://shop.example.com/releases/1.4",
                "color": 3066993,
                "fields": [{"name": "Environment", "value": "prod", "inline": true},
                           {"name": "Duration", "value": "4 min", "inline": true}],
                "footer": {"text": "sluice"},
            }],
            "avatar_url": "https://sluice.example.com/logo.png",
        })
    );
    assert_eq!(received[1].target, format!("{}?wait=true", discord::WEBHOOK_PATH));
    assert_eq!(
        received[1].json().unwrap(),
        json!({"content": "Release **1.4** is out",
               "embeds": [{"title": "Changelog", "url": "https://shop.example.com/changelog"}]})
    );
    assert!(!env.printed(discord::WEBHOOK_TOKEN), "the webhook's token showed");
}
