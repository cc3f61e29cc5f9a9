//! The sluice flow language.
//!
//! ```text
//! YAML text --parse--> Parsed { Flow, SourceMap } --validate(catalog)--> LockedFlow
//! ```
//!
//! Every error before execution is a [`Diagnostic`] that names the file, line and column and
//! says what would fix it.

mod diagnostic;
pub mod duration;
pub mod inputs;
mod load;
mod model;
mod parse;
mod pointer;
mod render;
mod schema;
mod source_map;
mod suggest;
pub mod template;
mod units;
mod validate;
mod worker_tags;

pub use diagnostic::Diagnostic;
pub use load::{LockedFlow, load};
pub use model::*;
pub use parse::reader::is_name_segment;
pub use parse::{Parsed, parse};
pub use render::{render, render_source, underlined_columns};
pub use schema::flow_json_schema;
pub use source_map::{SourceMap, Span};
pub use units::parse_size;
pub use validate::{CatalogTask, TaskCatalog, validate};
pub use worker_tags::{MAX_WORKER_TAG, check_worker_tag, holds_worker_tags, parse_worker_tags};
