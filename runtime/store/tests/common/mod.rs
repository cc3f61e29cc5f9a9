//! The SQLite backend of the store contract (see `contract/mod.rs`), the record builders, and
//! helpers for the SQLite-only tests: a store on a real file in a temporary directory, a raw
//! connection to it.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

use sluice_store::SqliteStore;
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use tempfile::TempDir;

#[path = "../contract/records.rs"]
mod records;
pub use records::*;

/// A store on `<tempdir>/state/sluice.db` (the parent directory does not exist beforehand).
pub async fn temp_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&db_path(&dir)).await.unwrap();
    (dir, store)
}

pub fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("state").join("sluice.db")
}

/// A plain connection to the file, to look at or tamper with rows behind the store's back.
pub async fn raw(path: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path)).await.unwrap()
}

/// The contract's store.
pub type TestStore = SqliteStore;

/// The contract's database: a file in a temporary directory, removed on drop.
pub struct TestDb {
    dir: TempDir,
}

/// A store on a fresh file.
pub async fn open_store() -> (TestDb, TestStore) {
    let (dir, store) = temp_store().await;
    (TestDb { dir }, store)
}

impl TestDb {
    /// Another store on the same file, as a second process would open it.
    pub async fn open_again(&self) -> TestStore {
        SqliteStore::open(&db_path(&self.dir)).await.unwrap()
    }

    /// Runs one statement on a connection of its own.
    pub async fn execute(&self, sql: &str) {
        let raw = raw(&db_path(&self.dir)).await;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&raw).await.unwrap();
        raw.close().await;
    }

    /// The number of rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        let raw = raw(&db_path(&self.dir)).await;
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let count = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&raw).await.unwrap();
        raw.close().await;
        count
    }
}
