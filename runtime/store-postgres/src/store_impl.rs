//! [`Store`] for [`PostgresStore`]: every call takes a connection of the pool.

use sluice_engine::{
    ArtifactRef, ClusterStatus, CommitBatch, ExecutionFilter, ExecutionRecord, FlowPlace, FlowRevision,
    Lease, LogFilter, PlaceAsk, PlaceOutcome, ScheduleState, Store, StoreError, StoredLog, TaskRun,
    TaskRunKey, Timestamp, TriggerKey,
};

use crate::{
    PostgresStore, artifacts, commit, deployed_plugins, executions, flows, leases, logs, nodes, places,
    schedules, task_runs, wake,
};

impl Store for PostgresStore {
    async fn save_flow(&self, namespace: &str, id: &str, source: &str) -> Result<FlowRevision, StoreError> {
        flows::save(&self.pool, namespace, id, source).await
    }

    async fn get_flow(
        &self,
        namespace: &str,
        id: &str,
        revision: Option<u32>,
    ) -> Result<Option<FlowRevision>, StoreError> {
        flows::get(&self.pool, namespace, id, revision).await
    }

    async fn list_flows(&self, namespace_prefix: Option<&str>) -> Result<Vec<FlowRevision>, StoreError> {
        flows::list(&self.pool, namespace_prefix).await
    }

    async fn flow_revisions(&self, namespace: &str, id: &str) -> Result<Vec<FlowRevision>, StoreError> {
        flows::revisions(&self.pool, namespace, id).await
    }

    async fn delete_flow(&self, namespace: &str, id: &str) -> Result<bool, StoreError> {
        flows::delete(&self.pool, namespace, id).await
    }

    async fn commit(&self, batch: CommitBatch) -> Result<(), StoreError> {
        commit::commit_waiting(&self.pool, &batch).await
    }

    async fn renew_leases(&self, leases: &[Lease]) -> Result<Vec<String>, StoreError> {
        leases::renew(&self.pool, leases).await
    }

    async fn claim_leases(
        &self,
        node: &str,
        tags: &[String],
        ttl: std::time::Duration,
        limit: u32,
        reclaim_own: bool,
    ) -> Result<Vec<Lease>, StoreError> {
        leases::claim(&self.pool, node, tags, ttl, limit, reclaim_own).await
    }

    async fn deploy_plugin(&self, name: &str, artifact: &ArtifactRef) -> Result<(), StoreError> {
        deployed_plugins::deploy(&self.pool, name, artifact).await
    }

    async fn deployed_plugins(&self) -> Result<Vec<(String, ArtifactRef)>, StoreError> {
        deployed_plugins::list(&self.pool).await
    }

    async fn take_place(&self, place: &FlowPlace<'_>, ask: PlaceAsk) -> Result<PlaceOutcome, StoreError> {
        places::take(&self.pool, place, ask).await
    }

    async fn promote_places(&self, namespace: &str, flow_id: &str) -> Result<Vec<String>, StoreError> {
        places::promote(&self.pool, namespace, flow_id).await
    }

    async fn admitted_places(&self, execution_ids: &[String]) -> Result<Vec<String>, StoreError> {
        places::admitted(&self.pool, execution_ids).await
    }

    async fn release_place(&self, execution_id: &str) -> Result<(), StoreError> {
        places::release(&self.pool, execution_id).await
    }

    async fn set_worker_tags(&self, execution_id: &str, tags: &[String]) -> Result<(), StoreError> {
        leases::set_worker_tags(&self.pool, execution_id, tags).await
    }

    async fn take_lease(
        &self,
        execution_id: &str,
        node: &str,
        ttl: std::time::Duration,
    ) -> Result<Lease, StoreError> {
        leases::take(&self.pool, execution_id, node, ttl).await
    }

    async fn heartbeat(&self, node: &str, ttl: std::time::Duration) -> Result<(), StoreError> {
        nodes::heartbeat(&self.pool, node, ttl).await
    }

    async fn cluster_status(&self) -> Result<ClusterStatus, StoreError> {
        nodes::status(&self.pool).await
    }

    async fn send_control(&self, execution_id: &str, control: &serde_json::Value) -> Result<(), StoreError> {
        leases::send_control(&self.pool, execution_id, control).await?;
        wake::announce(&self.pool).await
    }

    async fn announce_work(&self) -> Result<(), StoreError> {
        wake::announce(&self.pool).await
    }

    async fn wait_for_work(&self, longest: std::time::Duration) {
        self.wake.wait(&self.pool, longest).await;
    }

    fn ends(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        Some(self.wake.ends(&self.pool))
    }

    async fn take_controls(
        &self,
        execution_ids: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        leases::take_controls(&self.pool, execution_ids).await
    }

    async fn get_execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        executions::get(&self.pool, id).await
    }

    async fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        executions::list(&self.pool, filter).await
    }

    async fn unfinished_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        executions::unfinished(&self.pool).await
    }

    async fn task_runs(&self, execution_id: &str) -> Result<Vec<TaskRun>, StoreError> {
        task_runs::list(&self.pool, execution_id).await
    }

    async fn delete_task_runs(&self, execution_id: &str, keys: &[TaskRunKey]) -> Result<(), StoreError> {
        task_runs::delete(&self.pool, execution_id, keys).await
    }

    async fn logs(&self, execution_id: &str, filter: &LogFilter) -> Result<Vec<StoredLog>, StoreError> {
        logs::read(&self.pool, execution_id, filter).await
    }

    async fn put_artifact(&self, bytes: &[u8]) -> Result<ArtifactRef, StoreError> {
        artifacts::put(&self.pool, bytes).await
    }

    async fn get_artifact(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        artifacts::get(&self.pool, sha256).await
    }

    async fn attach_artifact(
        &self,
        execution_id: &str,
        task_run: Option<&TaskRunKey>,
        name: &str,
        artifact: &ArtifactRef,
    ) -> Result<(), StoreError> {
        artifacts::attach(&self.pool, execution_id, task_run, name, artifact).await
    }

    async fn artifacts(
        &self,
        execution_id: &str,
    ) -> Result<Vec<(Option<TaskRunKey>, String, ArtifactRef)>, StoreError> {
        artifacts::list(&self.pool, execution_id).await
    }

    async fn schedule_state(&self, key: TriggerKey<'_>) -> Result<Option<ScheduleState>, StoreError> {
        schedules::get(&self.pool, key).await
    }

    async fn claim_schedule(
        &self,
        key: TriggerKey<'_>,
        expected: Option<Timestamp>,
        until: Timestamp,
        skipped: u64,
    ) -> Result<bool, StoreError> {
        schedules::claim(&self.pool, key, expected, until, skipped).await
    }

    async fn set_schedule_execution(
        &self,
        key: TriggerKey<'_>,
        execution_id: &str,
    ) -> Result<(), StoreError> {
        schedules::set_execution(&self.pool, key, execution_id).await
    }
}
