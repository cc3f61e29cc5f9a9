//! The store contract (`runtime/store/tests/contract/`, shared with the SQLite store) on
//! PostgreSQL: each test on a fresh database of this binary's cluster.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../store/tests/contract/mod.rs"]
mod contract;
