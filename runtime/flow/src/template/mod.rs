//! Jinja templates in flows: rendering templated fields at run time, and checking every
//! templated field of a flow before it runs.
//!
//! Templates run in one minijinja environment: strict about undefined variables and
//! attributes, without auto-escaping, with a fuel budget so a hostile template cannot loop
//! forever, and with the flow functions `secret('NAME')` and `now()` and the filters `toJson`
//! and `fromJson`. Nothing here logs or stores a rendered value.

mod check;
mod context;
mod environment;
mod error;
mod lexer;
mod output_limit;
mod references;
mod render;
mod secret_calls;
mod secrets;
mod shape;
mod suggest;

pub use check::check_flow;
pub use context::Context;
pub use error::TemplateError;
pub use references::{Reference, condition_references, references};
pub use render::Rendered;
pub use secrets::{SecretAccess, Secrets};

/// The work one render may do, in minijinja fuel (about one unit per instruction, plus the data
/// it produces): ample for the templates a flow holds, and a few hundred milliseconds of work.
pub const FUEL: u64 = 1_000_000;

/// The most text (and JSON, for values) one render may produce.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// Renders templates; build one and share it (it holds the configured environment).
pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Templates {
    pub fn new() -> Self {
        Self { env: environment::build() }
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}
