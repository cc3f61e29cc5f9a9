//! sluice persistence: [`sluice_engine::Store`] on PostgreSQL.
//!
//! [`PostgresStore::connect`] connects to a database by URL, migrates it with the numbered
//! files in `migrations/` (the SQLite store's schema in PostgreSQL's types), and serves the
//! engine's reads and writes from a connection pool. Several servers may share one database:
//! every write is a transaction or a single conditional statement, and the writes that number
//! rows (flow revisions, task run and log sequence numbers) serialise on advisory locks.
//! [`sluice_engine::Store::commit`] writes a batch of any size in one transaction of two
//! statements (see `commit.rs`).
//!
//! How records are stored, with the SQLite store's round-trip guarantees:
//! - timestamps are BIGINT nanoseconds since the Unix epoch, so they read back exactly as
//!   written (the representable range is 1677-09-21 to 2262-04-11);
//! - JSON values (inputs, outputs, labels, attempts...) are the TEXT serde_json wrote; an absent
//!   value is SQL NULL, distinct from a JSON `null`;
//! - other strings (ids, names, messages) are BYTEA holding their UTF-8, since PostgreSQL's
//!   TEXT cannot hold NUL; bytes that are not UTF-8 read back as
//!   [`sluice_engine::StoreError::Corrupt`];
//! - states are the engine's `as_str` names; a name the engine does not know reads back as
//!   [`sluice_engine::StoreError::Corrupt`] naming the row.

mod artifacts;
mod codec;
mod commit;
mod connect;
mod deployed_plugins;
mod error;
mod executions;
mod flows;
mod governance;
mod leases;
mod locks;
mod logs;
mod nodes;
mod places;
mod schedules;
mod schema;
mod store_impl;
mod task_runs;
mod wake;

pub use connect::PostgresStore;
pub use executions::DEFAULT_LIST_LIMIT;
pub use logs::LOG_LEVELS;
pub use schema::schema_version;
