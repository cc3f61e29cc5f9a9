//! Write sluice task components in Rust.
//!
//! A plugin is a `cdylib` built for `wasm32-wasip2`. Implement [`Task`] for each task (typed,
//! schema-described config and output), list them in [`plugin!`], and build with
//! `cargo build --release --target wasm32-wasip2`. Inside a task:
//!
//! - log with [`info!`], [`warn!`], ... (the host tags, redacts and streams the lines);
//! - read and write files with plain `std::fs`: the host preopens the task's workspace as
//!   [`workspace()`] (`/workspace`) and makes it the current directory, and nothing else;
//!   [`workspace::set_executable`] and [`workspace::is_executable`] set and read the
//!   executable bit, which WASI cannot;
//! - make HTTP requests with [`http`]: the host allows only the origins the flow grants, and
//!   a refusal becomes [`TaskError::Denied`] through `?`; [`tls::trust_origin`] makes HTTPS to
//!   one granted origin trust its own CA and present a client certificate (a cluster's API
//!   server);
//! - read what the host tells about the execution the task runs in (flow, state, failed
//!   tasks, its URL) with [`context::execution`];
//! - speak a protocol that is not HTTP (SMTP) over TCP to a granted destination with
//!   [`tcp::connect`], TLS from the first byte or started in place, done by the host;
//! - have the host send an HTTP request if the task is stopped (its timeout, a kill), to stop
//!   what it started elsewhere, with [`cleanup::on_abort`];
//! - fail with [`TaskError`].
//!
//! The raw WIT bindings are in [`bindings`], for components that need to bypass the typed layer.
#![deny(missing_docs)]

pub mod bindings;
mod capability;
pub mod cleanup;
pub mod context;
mod error;
pub mod http;
pub mod log;
mod plugin;
mod task;
pub mod tcp;
pub mod tls;
pub mod workspace;

pub use capability::Capability;
pub use error::TaskError;
#[doc(hidden)]
pub use plugin::__private;
pub use task::{Empty, Task};
pub use workspace::{WORKSPACE, workspace};
