//! sluice persistence: [`sluice_engine::Store`] on SQLite.
//!
//! [`SqliteStore::open`] opens (or creates) one database file, migrates it with the numbered
//! files in `migrations/`, and serves the engine's reads and writes: a single write
//! connection takes every write, a small pool of read-only connections serves reads beside it
//! (WAL). [`sluice_engine::Store::commit`] writes a batch of any size with one SQL statement
//! (see `commit.rs`).
//!
//! How records are stored:
//! - timestamps are integer nanoseconds since the Unix epoch, so they read back exactly as
//!   written (the representable range is 1677-09-21 to 2262-04-11);
//! - JSON values (inputs, outputs, labels, attempts...) are the text serde_json wrote; an absent
//!   value is SQL NULL, distinct from a JSON `null`;
//! - states are the engine's `as_str` names; a name the engine does not know reads back as
//!   [`sluice_engine::StoreError::Corrupt`] naming the row.
//!
//! See [`SqliteStore`] for the durability guarantees.

/// Runs one read against the reader pool, or against the write connection when there is none.
macro_rules! read {
    ($store:expr, |$db:ident| $call:expr) => {
        match &$store.readers {
            Some($db) => $call.await,
            None => {
                let mut connection = $store.writer.lock().await?;
                let $db = &mut *connection;
                $call.await
            }
        }
    };
}

mod artifacts;
mod commit;
mod connect;
mod deployed_plugins;
mod error;
mod executions;
mod flows;
mod governance;
mod leases;
mod logs;
mod nodes;
mod places;
pub mod records;
mod schedules;
mod schema;
mod store_impl;
mod task_runs;
mod writer;

pub use connect::SqliteStore;
pub use executions::DEFAULT_LIST_LIMIT;
pub use logs::LOG_LEVELS;
pub use schema::schema_version;
