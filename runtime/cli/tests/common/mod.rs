pub mod doc;
pub mod server;
