//! One module per subcommand.

pub mod audit;
mod node;
pub mod plugin;
pub mod run;
pub mod schema;
pub mod server;
pub mod token;
pub mod validate;
pub mod worker;
