//! The sluice HTTP API (`/api/v1`), built on the engine, and the web UI that reads it (`/`).
//!
//! [`router`] is the whole API as an axum `Router` (tests call it directly); [`serve`] runs it
//! on a listener. Errors are RFC 9457 problem documents ([`ApiError`]).

mod audit;
pub mod auth;
mod document;
mod error;
mod executions;
mod flow_graph;
mod flows;
mod health;
mod labels;
mod limits;
mod locked;
mod logs;
mod metrics;
mod openapi;
mod plugins;
mod rerun;
mod routes;
mod serve;
mod state;
mod store;
mod time_bound;
mod tokens;
pub mod triggers;
mod ui;
mod upload;

pub use error::{ApiError, BODY_FILE_NAME, FlowError};
pub use limits::{BodyLimits, DEFAULT_UPLOAD_LIMIT, FLOW_BODY_LIMIT, INPUTS_BODY_LIMIT, WEBHOOK_BODY_LIMIT};
pub use metrics::Metrics;
pub use openapi::openapi;
pub use routes::{Route, WORKER_PATHS, router, routes, worker_router};
pub use serve::{serve, serve_worker};
pub use state::AppState;
pub use store::ServerStore;
pub use tokens::{expiry as token_expiry, token_document};
pub use ui::ui_version;
