//! The PostgreSQL backend of the store contract (see `runtime/store/tests/contract/mod.rs`):
//! each test gets a fresh database in the test binary's cluster (`cluster.rs`).

#![allow(clippy::unwrap_used, dead_code)]

use sluice_store_postgres::PostgresStore;
use sqlx::{Connection, PgConnection};

pub mod cluster;
#[path = "../../../store/tests/contract/records.rs"]
mod records;
#[allow(unused_imports)]
pub use records::*;

/// The contract's store.
pub type TestStore = PostgresStore;

/// The contract's database: one of the cluster's, left to go with it.
pub struct TestDb {
    url: String,
}

/// A store on a fresh database.
pub async fn open_store() -> (TestDb, TestStore) {
    let url = new_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    (TestDb { url }, store)
}

/// A fresh, empty database (the cluster starts on first use); its URL.
pub async fn new_database() -> String {
    tokio::task::spawn_blocking(|| cluster::cluster().create_database()).await.unwrap()
}

impl TestDb {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Another store on the same database, as a second server would connect.
    pub async fn open_again(&self) -> TestStore {
        PostgresStore::connect(&self.url).await.unwrap()
    }

    /// Runs one statement on a connection of its own.
    pub async fn execute(&self, sql: &str) {
        let mut connection = PgConnection::connect(&self.url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut connection).await.unwrap();
        connection.close().await.unwrap();
    }

    /// The number of rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        let mut connection = PgConnection::connect(&self.url).await.unwrap();
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let count = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut connection).await.unwrap();
        connection.close().await.unwrap();
        count
    }
}
