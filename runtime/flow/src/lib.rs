//! The sluice flow language.
//!
//! ```text
//! YAML text --parse--> Parsed { Flow, SourceMap } --validate(catalog)--> LockedFlow
//! ```
//!
//! Every error before execution is a [`Diagnostic`] that names the file, line and column and
//! says what would fix it.

mod diagnostic;
mod model;

pub use diagnostic::Diagnostic;
pub use model::*;
