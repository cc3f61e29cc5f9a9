//! sluice's jira tasks against Jira Cloud's REST API v3: `createIssue`, `transition`, `comment`
//! and `search`. [`client`] holds the connection (base URL, basic or bearer auth), sends with
//! retries and turns Jira's error bodies into task errors; [`adf`] turns Markdown-ish text into
//! the Atlassian Document Format that v3 wants for descriptions and comments; one file per task.

mod adf;
mod client;
mod comment;
mod create;
mod search;
mod transition;

sluice_plugin::plugin! {
    name: "jira",
    version: env!("CARGO_PKG_VERSION"),
    description: "Create, transition, comment on and search Jira issues (Jira Cloud REST API v3).",
    tasks: [create::CreateIssueTask, transition::TransitionTask, comment::CommentTask, search::SearchTask],
}
