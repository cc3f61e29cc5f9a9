//! The sluice executor.
//!
//! - [`machine`]: the deterministic core, `(state, event) -> (state, commands)`.
//! - [`records`]: the persisted vocabulary (states, task runs) the machine works in.
//! - [`store`]: the persistence trait the scheduler writes through.
//! - [`setup`]: the engine over the installed plugins, as `sluice run` and `sluice server` build it.
//! - [`document`]: the JSON the CLI prints and the API answers (executions, plugins).

pub mod document;
pub mod machine;
pub mod node;
pub mod records;
pub mod scheduler;
pub mod setup;
pub mod store;

pub use records::*;
pub use store::*;
