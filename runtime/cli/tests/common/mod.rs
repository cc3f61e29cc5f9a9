pub mod doc;
pub mod naps;
pub mod server;
