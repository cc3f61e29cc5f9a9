//! Recording doubles of the services the ticket and CI plugins talk to (Jira Cloud,
//! ServiceNow's Table API, Jenkins), each a small HTTP/1.1 server on 127.0.0.1 ([`http`]) that
//! checks what the real service checks and answers as it documents, and a runner for flows
//! through the real `sluice` binary ([`flows`]). A test file declares the double it uses:
//! `#[path = "support_tickets/jira.rs"] mod jira;`.

#![allow(dead_code, clippy::unwrap_used)]

pub mod flows;
pub mod http;
