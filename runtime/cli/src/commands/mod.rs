//! One module per subcommand.

mod node;
pub mod plugin;
pub mod run;
pub mod schema;
pub mod server;
pub mod validate;
pub mod worker;
