//! One module per subcommand.

pub mod plugin;
pub mod run;
pub mod schema;
pub mod server;
pub mod validate;
