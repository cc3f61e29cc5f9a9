//! Recording doubles of the services the notify plugin talks to, each a small HTTP/1.1 server
//! on 127.0.0.1 ([`server`]) that checks what the real service checks (method, path, auth
//! header, content type, the body's required fields) and answers as the service documents it,
//! errors included:
//!
//! - [`slack`]: an incoming webhook (`200 ok`, `400 invalid_payload`, `404 no_service`) and
//!   `chat.postMessage` (`ok: false` with `not_authed`, `invalid_auth`, `channel_not_found`,
//!   `no_text`);
//! - [`teams`]: a Workflows webhook taking an Adaptive Card message (`202`, or `400` with the
//!   Workflow's error);
//! - [`discord`]: a webhook with `?wait=true` (the created message, or Discord's JSON errors);
//! - [`pagerduty`]: Events API v2 (`202` with the dedup key, `400` with `errors`);
//! - [`receiver`]: any webhook receiver, answering what it is told.
//!
//! Every double can be told to answer the next requests with canned replies first (a 429 with
//! `Retry-After`, a 503). Left out: TLS (the tasks' URLs are configurable, so the doubles are
//! plain http), the services' rate limits and everything beyond posting a message.

#![allow(dead_code, clippy::unwrap_used)]

pub mod discord;
pub mod flows;
pub mod pagerduty;
pub mod receiver;
pub mod server;
pub mod slack;
pub mod teams;
