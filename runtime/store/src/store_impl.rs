//! [`Store`] for [`SqliteStore`]: writes go through the write connection, reads to the reader
//! pool (or the write connection of an in-memory store).

use sluice_engine::{
    ArtifactRef, ClusterStatus, CommitBatch, ExecutionFilter, ExecutionRecord, FlowPlace, FlowRevision,
    Lease, LogFilter, PlaceAsk, PlaceOutcome, ScheduleState, Store, StoreError, StoredLog, TaskRun,
    TaskRunKey, Timestamp, TriggerKey,
};

use crate::{
    SqliteStore, artifacts, commit, deployed_plugins, executions, flows, leases, logs, nodes, places,
    schedules, task_runs,
};

impl Store for SqliteStore {
    async fn save_flow(&self, namespace: &str, id: &str, source: &str) -> Result<FlowRevision, StoreError> {
        flows::save(&self.writer, namespace, id, source).await
    }

    async fn get_flow(
        &self,
        namespace: &str,
        id: &str,
        revision: Option<u32>,
    ) -> Result<Option<FlowRevision>, StoreError> {
        read!(self, |db| flows::get(db, namespace, id, revision))
    }

    async fn list_flows(&self, namespace_prefix: Option<&str>) -> Result<Vec<FlowRevision>, StoreError> {
        read!(self, |db| flows::list(db, namespace_prefix))
    }

    async fn flow_revisions(&self, namespace: &str, id: &str) -> Result<Vec<FlowRevision>, StoreError> {
        read!(self, |db| flows::revisions(db, namespace, id))
    }

    async fn delete_flow(&self, namespace: &str, id: &str) -> Result<bool, StoreError> {
        flows::delete(&self.writer, namespace, id).await
    }

    async fn commit(&self, batch: CommitBatch) -> Result<(), StoreError> {
        commit::commit(&self.writer, &batch).await
    }

    async fn renew_leases(&self, leases: &[Lease]) -> Result<Vec<String>, StoreError> {
        leases::renew(&self.writer, leases).await
    }

    async fn claim_leases(
        &self,
        node: &str,
        tags: &[String],
        ttl: std::time::Duration,
        limit: u32,
        reclaim_own: bool,
    ) -> Result<Vec<Lease>, StoreError> {
        leases::claim(&self.writer, node, tags, ttl, limit, reclaim_own).await
    }

    async fn deploy_plugin(&self, name: &str, artifact: &ArtifactRef) -> Result<(), StoreError> {
        deployed_plugins::deploy(&self.writer, name, artifact).await
    }

    async fn deployed_plugins(&self) -> Result<Vec<(String, ArtifactRef)>, StoreError> {
        read!(self, |db| deployed_plugins::list(db))
    }

    async fn take_place(&self, place: &FlowPlace<'_>, ask: PlaceAsk) -> Result<PlaceOutcome, StoreError> {
        places::take(&self.writer, place, ask).await
    }

    async fn promote_places(&self, namespace: &str, flow_id: &str) -> Result<Vec<String>, StoreError> {
        if !read!(self, |db| places::any_queued(db, namespace, flow_id))? {
            return Ok(Vec::new());
        }
        places::promote(&self.writer, namespace, flow_id).await
    }

    async fn admitted_places(&self, execution_ids: &[String]) -> Result<Vec<String>, StoreError> {
        read!(self, |db| places::admitted(db, execution_ids))
    }

    async fn release_place(&self, execution_id: &str) -> Result<(), StoreError> {
        places::release(&self.writer, execution_id).await
    }

    async fn set_worker_tags(&self, execution_id: &str, tags: &[String]) -> Result<(), StoreError> {
        leases::set_worker_tags(&self.writer, execution_id, tags).await
    }

    async fn take_lease(
        &self,
        execution_id: &str,
        node: &str,
        ttl: std::time::Duration,
    ) -> Result<Lease, StoreError> {
        leases::take(&self.writer, execution_id, node, ttl).await
    }

    async fn heartbeat(&self, node: &str, ttl: std::time::Duration) -> Result<(), StoreError> {
        nodes::heartbeat(&self.writer, node, ttl).await
    }

    async fn cluster_status(&self) -> Result<ClusterStatus, StoreError> {
        let terminal = leases::terminal_states_json();
        read!(self, |db| nodes::status(db, &terminal))
    }

    async fn send_control(&self, execution_id: &str, control: &serde_json::Value) -> Result<(), StoreError> {
        leases::send_control(&self.writer, execution_id, control).await
    }

    async fn take_controls(
        &self,
        execution_ids: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        leases::take_controls(&self.writer, execution_ids).await
    }

    async fn get_execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        read!(self, |db| executions::get(db, id))
    }

    async fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        read!(self, |db| executions::list(db, filter))
    }

    async fn unfinished_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        read!(self, |db| executions::unfinished(db))
    }

    async fn task_runs(&self, execution_id: &str) -> Result<Vec<TaskRun>, StoreError> {
        read!(self, |db| task_runs::list(db, execution_id))
    }

    async fn delete_task_runs(&self, execution_id: &str, keys: &[TaskRunKey]) -> Result<(), StoreError> {
        task_runs::delete(&self.writer, execution_id, keys).await
    }

    async fn logs(&self, execution_id: &str, filter: &LogFilter) -> Result<Vec<StoredLog>, StoreError> {
        read!(self, |db| logs::read(db, execution_id, filter))
    }

    async fn put_artifact(&self, bytes: &[u8]) -> Result<ArtifactRef, StoreError> {
        artifacts::put(&self.writer, bytes).await
    }

    async fn get_artifact(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read!(self, |db| artifacts::get(db, sha256))
    }

    async fn attach_artifact(
        &self,
        execution_id: &str,
        task_run: Option<&TaskRunKey>,
        name: &str,
        artifact: &ArtifactRef,
    ) -> Result<(), StoreError> {
        artifacts::attach(&self.writer, execution_id, task_run, name, artifact).await
    }

    async fn artifacts(
        &self,
        execution_id: &str,
    ) -> Result<Vec<(Option<TaskRunKey>, String, ArtifactRef)>, StoreError> {
        read!(self, |db| artifacts::list(db, execution_id))
    }

    async fn schedule_state(&self, key: TriggerKey<'_>) -> Result<Option<ScheduleState>, StoreError> {
        read!(self, |db| schedules::get(db, key))
    }

    async fn claim_schedule(
        &self,
        key: TriggerKey<'_>,
        expected: Option<Timestamp>,
        until: Timestamp,
        skipped: u64,
    ) -> Result<bool, StoreError> {
        schedules::claim(&self.writer, key, expected, until, skipped).await
    }

    async fn set_schedule_execution(
        &self,
        key: TriggerKey<'_>,
        execution_id: &str,
    ) -> Result<(), StoreError> {
        schedules::set_execution(&self.writer, key, execution_id).await
    }
}
