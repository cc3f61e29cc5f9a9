//! The sluice executor.
//!
//! - [`machine`]: the deterministic core, `(state, event) -> (state, commands)`.
//! - [`records`]: the persisted vocabulary (states, task runs) the machine works in.
//! - [`store`]: the persistence trait the scheduler writes through.

pub mod machine;
pub mod records;
pub mod scheduler;
pub mod store;

pub use records::*;
pub use store::*;
