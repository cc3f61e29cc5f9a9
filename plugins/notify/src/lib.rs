//! sluice's notify tasks: tell people and systems how an execution went.
//!
//! ```text
//! config, or the default message made from the execution (sluice_plugin::context) -- message
//!   -> the service's request: slack, teams, discord, pagerduty, webhook (signed: signature)
//!   -> send: 429 and 5xx tried again after Retry-After, bounded; the service's own error
//!      text otherwise
//!   -> outputs (the message id, the dedup key, the delivery id)
//! ```
//!
//! Webhook URLs and tokens are credentials: nothing here logs, returns or puts in an error
//! more of a URL than its origin (`endpoint`).

mod discord;
mod email;
mod endpoint;
mod message;
mod pagerduty;
mod send;
mod signature;
mod slack;
mod teams;
mod webhook;

sluice_plugin::plugin! {
    name: "notify",
    version: env!("CARGO_PKG_VERSION"),
    description: "Notifications: Slack, Microsoft Teams, Discord, PagerDuty, signed webhooks and email.",
    tasks: [
        slack::SlackTask,
        teams::TeamsTask,
        discord::DiscordTask,
        pagerduty::PagerDutyTask,
        webhook::WebhookTask,
        email::EmailTask,
    ],
}
