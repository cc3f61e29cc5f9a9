//! The store contract: what every backend of [`sluice_engine::Store`] does, tested through the
//! trait alone. Each backend's test binary declares a `common` module beside this one, giving:
//! - the record builders of `records.rs` (`pub use`d);
//! - `TestStore`, the backend's store type, and `TestDb`, a fresh database that outlives the
//!   store (`open_again` opens another store on it, as another process would; `execute` runs
//!   SQL behind the store's back, in the dialect both SQLite and PostgreSQL read; `count`
//!   counts a table's rows);
//! - `open_store()`, a fresh empty database and a store on it.
//!
//! The SQLite store runs it from `runtime/store/tests/contract.rs`, the PostgreSQL store from
//! `runtime/store-postgres/tests/contract.rs`, unchanged.

mod artifacts;
mod concurrent_commits;
mod executions;
mod flows;
mod governance;
mod leases;
mod logs;
mod places;
mod roundtrip;
mod schedules;
