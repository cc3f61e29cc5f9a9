//! The store contract (`contract/`) on SQLite: each test on a fresh file in a temporary
//! directory.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "contract/mod.rs"]
mod contract;
