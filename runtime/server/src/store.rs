//! The store a server runs on: the embedded SQLite file under its data dir, or a PostgreSQL
//! database that several servers may share. One concrete type, so the handlers are not generic
//! over [`Store`]; each call goes to the backend it holds.

use std::time::Duration;

use sluice_engine::{
    ArtifactRef, ClusterStatus, CommitBatch, ExecutionFilter, ExecutionRecord, FlowPlace, FlowRevision,
    Lease, LogFilter, PlaceAsk, PlaceOutcome, ScheduleState, Store, StoreError, StoredLog, TaskRun,
    TaskRunKey, Timestamp, TriggerKey,
};
use sluice_governance::{AuditEntry, AuditFilter, GovernanceStore, NewAuditEntry, TokenRecord};
use sluice_store::SqliteStore;
use sluice_store_postgres::PostgresStore;

#[derive(Debug, Clone)]
pub enum ServerStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl ServerStore {
    /// [`PostgresStore::connect`]: connects to the database at `url` and migrates it.
    pub async fn postgres(url: &str) -> Result<ServerStore, StoreError> {
        Ok(PostgresStore::connect(url).await?.into())
    }

    /// Waits for running statements and closes the connections.
    pub async fn close(&self) {
        match self {
            ServerStore::Sqlite(store) => store.close().await,
            ServerStore::Postgres(store) => store.close().await,
        }
    }
}

impl From<SqliteStore> for ServerStore {
    fn from(store: SqliteStore) -> Self {
        ServerStore::Sqlite(store)
    }
}

impl From<PostgresStore> for ServerStore {
    fn from(store: PostgresStore) -> Self {
        ServerStore::Postgres(store)
    }
}

/// The same call on whichever store it is.
macro_rules! delegate {
    ($self:ident, |$store:ident| $call:expr) => {
        match $self {
            ServerStore::Sqlite($store) => $call.await,
            ServerStore::Postgres($store) => $call.await,
        }
    };
}

impl Store for ServerStore {
    async fn save_flow(&self, namespace: &str, id: &str, source: &str) -> Result<FlowRevision, StoreError> {
        delegate!(self, |s| s.save_flow(namespace, id, source))
    }

    async fn get_flow(
        &self,
        namespace: &str,
        id: &str,
        revision: Option<u32>,
    ) -> Result<Option<FlowRevision>, StoreError> {
        delegate!(self, |s| s.get_flow(namespace, id, revision))
    }

    async fn list_flows(&self, namespace_prefix: Option<&str>) -> Result<Vec<FlowRevision>, StoreError> {
        delegate!(self, |s| s.list_flows(namespace_prefix))
    }

    async fn flow_revisions(&self, namespace: &str, id: &str) -> Result<Vec<FlowRevision>, StoreError> {
        delegate!(self, |s| s.flow_revisions(namespace, id))
    }

    async fn delete_flow(&self, namespace: &str, id: &str) -> Result<bool, StoreError> {
        delegate!(self, |s| s.delete_flow(namespace, id))
    }

    async fn commit(&self, batch: CommitBatch) -> Result<(), StoreError> {
        delegate!(self, |s| s.commit(batch))
    }

    async fn renew_leases(&self, leases: &[Lease]) -> Result<Vec<String>, StoreError> {
        delegate!(self, |s| s.renew_leases(leases))
    }

    async fn claim_leases(
        &self,
        node: &str,
        tags: &[String],
        ttl: Duration,
        limit: u32,
        reclaim_own: bool,
    ) -> Result<Vec<Lease>, StoreError> {
        delegate!(self, |s| s.claim_leases(node, tags, ttl, limit, reclaim_own))
    }

    async fn deploy_plugin(&self, name: &str, artifact: &ArtifactRef) -> Result<(), StoreError> {
        delegate!(self, |s| s.deploy_plugin(name, artifact))
    }

    async fn deployed_plugins(&self) -> Result<Vec<(String, ArtifactRef)>, StoreError> {
        delegate!(self, |s| s.deployed_plugins())
    }

    fn ends(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        match self {
            ServerStore::Sqlite(store) => store.ends(),
            ServerStore::Postgres(store) => store.ends(),
        }
    }

    async fn take_place(&self, place: &FlowPlace<'_>, ask: PlaceAsk) -> Result<PlaceOutcome, StoreError> {
        delegate!(self, |s| s.take_place(place, ask))
    }

    async fn promote_places(&self, namespace: &str, flow_id: &str) -> Result<Vec<String>, StoreError> {
        delegate!(self, |s| s.promote_places(namespace, flow_id))
    }

    async fn admitted_places(&self, execution_ids: &[String]) -> Result<Vec<String>, StoreError> {
        delegate!(self, |s| s.admitted_places(execution_ids))
    }

    async fn release_place(&self, execution_id: &str) -> Result<(), StoreError> {
        delegate!(self, |s| s.release_place(execution_id))
    }

    async fn set_worker_tags(&self, execution_id: &str, tags: &[String]) -> Result<(), StoreError> {
        delegate!(self, |s| s.set_worker_tags(execution_id, tags))
    }

    async fn take_lease(&self, execution_id: &str, node: &str, ttl: Duration) -> Result<Lease, StoreError> {
        delegate!(self, |s| s.take_lease(execution_id, node, ttl))
    }

    async fn announce_work(&self) -> Result<(), StoreError> {
        delegate!(self, |s| s.announce_work())
    }

    async fn wait_for_work(&self, longest: Duration) {
        delegate!(self, |s| s.wait_for_work(longest))
    }

    async fn heartbeat(&self, node: &str, ttl: Duration) -> Result<(), StoreError> {
        delegate!(self, |s| s.heartbeat(node, ttl))
    }

    async fn cluster_status(&self) -> Result<ClusterStatus, StoreError> {
        delegate!(self, |s| s.cluster_status())
    }

    async fn send_control(&self, execution_id: &str, control: &serde_json::Value) -> Result<(), StoreError> {
        delegate!(self, |s| s.send_control(execution_id, control))
    }

    async fn take_controls(
        &self,
        execution_ids: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        delegate!(self, |s| s.take_controls(execution_ids))
    }

    async fn get_execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        delegate!(self, |s| s.get_execution(id))
    }

    async fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        delegate!(self, |s| s.list_executions(filter))
    }

    async fn unfinished_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        delegate!(self, |s| s.unfinished_executions())
    }

    async fn task_runs(&self, execution_id: &str) -> Result<Vec<TaskRun>, StoreError> {
        delegate!(self, |s| s.task_runs(execution_id))
    }

    async fn delete_task_runs(&self, execution_id: &str, keys: &[TaskRunKey]) -> Result<(), StoreError> {
        delegate!(self, |s| s.delete_task_runs(execution_id, keys))
    }

    async fn logs(&self, execution_id: &str, filter: &LogFilter) -> Result<Vec<StoredLog>, StoreError> {
        delegate!(self, |s| s.logs(execution_id, filter))
    }

    async fn put_artifact(&self, bytes: &[u8]) -> Result<ArtifactRef, StoreError> {
        delegate!(self, |s| s.put_artifact(bytes))
    }

    async fn get_artifact(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        delegate!(self, |s| s.get_artifact(sha256))
    }

    async fn attach_artifact(
        &self,
        execution_id: &str,
        task_run: Option<&TaskRunKey>,
        name: &str,
        artifact: &ArtifactRef,
    ) -> Result<(), StoreError> {
        delegate!(self, |s| s.attach_artifact(execution_id, task_run, name, artifact))
    }

    async fn artifacts(
        &self,
        execution_id: &str,
    ) -> Result<Vec<(Option<TaskRunKey>, String, ArtifactRef)>, StoreError> {
        delegate!(self, |s| s.artifacts(execution_id))
    }

    async fn schedule_state(&self, key: TriggerKey<'_>) -> Result<Option<ScheduleState>, StoreError> {
        delegate!(self, |s| s.schedule_state(key))
    }

    async fn claim_schedule(
        &self,
        key: TriggerKey<'_>,
        expected: Option<Timestamp>,
        until: Timestamp,
        skipped: u64,
    ) -> Result<bool, StoreError> {
        delegate!(self, |s| s.claim_schedule(key, expected, until, skipped))
    }

    async fn set_schedule_execution(
        &self,
        key: TriggerKey<'_>,
        execution_id: &str,
    ) -> Result<(), StoreError> {
        delegate!(self, |s| s.set_schedule_execution(key, execution_id))
    }
}

impl GovernanceStore for ServerStore {
    async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        delegate!(self, |s| s.create_token(token))
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        delegate!(self, |s| s.token(hash))
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        delegate!(self, |s| s.tokens())
    }

    async fn revoke_token(&self, name: &str, at: Timestamp) -> Result<bool, StoreError> {
        delegate!(self, |s| s.revoke_token(name, at))
    }

    async fn has_tokens(&self) -> Result<bool, StoreError> {
        delegate!(self, |s| s.has_tokens())
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        delegate!(self, |s| s.append_audit(entry))
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        delegate!(self, |s| s.audit_entries(filter))
    }
}
