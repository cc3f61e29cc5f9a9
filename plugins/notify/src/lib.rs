//! sluice's notify tasks: tell people and systems how an execution went.
//!
//! ```text
//! config (or the execution's default message, from sluice_plugin::context)
//!   -> the service's request (slack, teams, discord, pagerduty, webhook; email over SMTP)
//!   -> send: 429 and 5xx retried after Retry-After, bounded; the service's own error text
//!   -> outputs (the message id, the dedup key)
//! ```
//!
//! Webhook URLs and tokens are credentials: nothing here logs, returns or puts in an error
//! more of a URL than its origin.

sluice_plugin::plugin! {
    name: "notify",
    version: env!("CARGO_PKG_VERSION"),
    description: "Notifications: Slack, Microsoft Teams, Discord, PagerDuty, signed webhooks and email.",
    tasks: [],
}
