//! What the engine needs persisted, as one trait. `sluice-store` implements it on SQLite (and,
//! later, PostgreSQL); nothing here assumes one process.

use std::future::Future;
use std::time::Duration;

use crate::records::{
    ExecutionRecord, ExecutionState, FlowRevision, LogRecord, TaskRun, TaskRunKey, Timestamp,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    /// A write lost a race (e.g. two creators of one flow revision); the caller may retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The stored data cannot be read back (corrupt row, unknown state name).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be reached now (connection refused or lost, the server shutting
    /// down or starting): the same request may succeed later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The commit carried a lease that another node has taken over (it expired while this
    /// node was cut off or stalled): nothing of the batch was written, and this node must
    /// stop driving the execution, which goes on under its new owner.
    #[error("execution {0} is driven by another node now: its lease was taken over")]
    LeaseLost(String),
    /// Reading or writing execution workspaces on disk failed (e.g. sweeping old ones).
    #[error("workspace I/O on {}: {error}", path.display())]
    Workspace { path: std::path::PathBuf, error: std::io::Error },
}

/// Everything one engine step changed, written in one transaction before any of its commands
/// is acted on.
#[derive(Debug, Default, Clone)]
pub struct CommitBatch {
    /// Inserted or replaced whole.
    pub executions: Vec<ExecutionRecord>,
    /// Inserted or replaced whole, keyed by `(execution id, task run key)`.
    pub task_runs: Vec<(String, TaskRun)>,
    /// Appended.
    pub logs: Vec<LogRecord>,
    /// The lease the writer holds on the execution the batch belongs to: checked (a batch
    /// whose lease another node holds now is refused whole with [`StoreError::LeaseLost`])
    /// and created with the execution's first batch. Renewing it is the node's keeper's
    /// ([`Store::renew_leases`]); a store may also renew it with each batch (SQLite does:
    /// its row is rewritten in the same write anyway).
    pub lease: Option<Lease>,
    /// Attached (or attached again, replacing the blob under the name) with the rows, so that
    /// what they record and the artifacts they refer to land together or not at all. The
    /// blobs must be stored already ([`Store::put_artifact`]).
    pub artifacts: Vec<Attachment>,
}

impl CommitBatch {
    /// Whether the batch writes no rows (its lease alone is not worth a commit).
    pub fn is_empty(&self) -> bool {
        self.executions.is_empty()
            && self.task_runs.is_empty()
            && self.logs.is_empty()
            && self.artifacts.is_empty()
    }
}

/// A stored blob attached to an execution (or one of its task runs) under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub execution_id: String,
    /// `None` for the execution itself.
    pub task_run: Option<TaskRunKey>,
    pub name: String,
    pub artifact: ArtifactRef,
}

/// The right of one node (a `sluice server` process) to drive one unfinished execution, so
/// that many nodes share one database without two driving the same execution. It holds until
/// `ttl` after its last renewal (by the database's clock); a node that stops renewing (killed,
/// cut off) loses it, and another node takes the execution over with the epoch one higher.
/// Every commit carries its writer's lease, so a node that comes back writes nothing over the
/// new owner's work (fencing by epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub execution_id: String,
    /// The holder ([`crate::EngineConfig::node`]).
    pub node: String,
    /// 1 for the node that created the execution, one more with each takeover.
    pub epoch: u64,
    /// How long the lease holds after this write or renewal.
    pub ttl: Duration,
}

/// An execution's place under its flow's `concurrency.limit` (see [`Store::take_place`]).
#[derive(Debug, Clone, Copy)]
pub struct FlowPlace<'a> {
    pub namespace: &'a str,
    pub flow_id: &'a str,
    pub execution_id: &'a str,
    /// The limit of the revision asking: at most this many of the flow's executions run.
    pub limit: u32,
}

/// How an execution asks for a place ([`Store::take_place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceAsk {
    /// Start if there is room, else write nothing (`cancel`, `fail`, a rerun).
    Start,
    /// Start if there is room, else wait in the queue (`queue`).
    StartOrQueue,
    /// Wait in the queue, unless it holds a place already (a QUEUED execution recovered).
    Requeue,
}

impl PlaceAsk {
    /// What a request decides, given the place the execution holds (`Some(queued)`) and how
    /// many other executions of the flow run and wait: the outcome, and the place to write
    /// (`Some(queued)`), if any. The stores run it under the flow's lock.
    pub fn decide(
        self,
        held: Option<bool>,
        running: u64,
        queued: u64,
        limit: u32,
    ) -> (PlaceOutcome, Option<bool>) {
        match (self, held) {
            (PlaceAsk::Requeue, Some(true)) => (PlaceOutcome::Queued, None),
            (PlaceAsk::Requeue, Some(false)) => (PlaceOutcome::Running, None),
            (PlaceAsk::Requeue, None) => (PlaceOutcome::Queued, Some(true)),
            _ if running < u64::from(limit) && queued == 0 => (PlaceOutcome::Running, Some(false)),
            (PlaceAsk::StartOrQueue, _) => (PlaceOutcome::Queued, Some(true)),
            (PlaceAsk::Start, _) => (PlaceOutcome::Over { running, queued }, None),
        }
    }
}

/// What a place request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceOutcome {
    Running,
    Queued,
    /// No room, and nothing was written: how many of the flow's executions run and wait.
    Over {
        running: u64,
        queued: u64,
    },
}

#[derive(Debug, Default, Clone)]
pub struct ExecutionFilter {
    pub namespace: Option<String>,
    pub flow_id: Option<String>,
    pub states: Vec<ExecutionState>,
    /// `key=value` pairs that must all be present.
    pub labels: Vec<(String, String)>,
    /// Started by a `flow.subflow` task of this execution.
    pub parent: Option<String>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    /// Newest first.
    pub offset: u32,
    pub limit: u32,
}

#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    pub task_run: Option<TaskRunKey>,
    /// Lines of every run of this task (each iteration of a `flow.forEach` body).
    pub task: Option<String>,
    /// Lines at this level or more severe (`TRACE` < ... < `ERROR`).
    pub min_level: Option<String>,
    /// Only lines with a sequence number greater than this (for following).
    pub after_seq: Option<i64>,
    pub limit: Option<u32>,
}

/// A log line as read back, with its position in the execution's log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLog {
    pub seq: i64,
    pub record: LogRecord,
}

/// A content-addressed blob: its sha256 (hex) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRef {
    pub sha256: String,
    pub size: u64,
}

/// The cluster as the database sees it, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStatus {
    /// Nodes whose keeper reported within their lease ttl.
    pub nodes_alive: u64,
    /// Unexpired leases of unfinished executions, all nodes.
    pub leases: u64,
    /// Unfinished executions whose lease expired (their node died or was cut off) or that have
    /// none, not taken over yet.
    pub awaiting_takeover: u64,
}

/// What the server remembers about one `schedule` trigger between ticks and across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    /// Every fire time up to and including this one has been handled: fired, skipped because
    /// the trigger's previous execution was still running, or dropped by `recoverMissed`.
    pub covered_until: Timestamp,
    /// The execution the trigger started last, if any (to refuse overlapping runs).
    pub execution_id: Option<String>,
    /// Fire times skipped because the previous execution was still running, since the state
    /// was created.
    pub skipped: u64,
}

/// Names one trigger of one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerKey<'a> {
    pub namespace: &'a str,
    pub flow_id: &'a str,
    pub trigger_id: &'a str,
}

/// Persistence for flows, executions, task runs, logs and artifacts.
pub trait Store: Send + Sync + 'static {
    // --- flows ---

    /// Stores `source` as the newest revision of `namespace.id`, unless it is byte-identical to
    /// the newest revision, which is then returned unchanged.
    fn save_flow(
        &self,
        namespace: &str,
        id: &str,
        source: &str,
    ) -> impl Future<Output = Result<FlowRevision, StoreError>> + Send;

    /// The given revision, or the newest when `revision` is None. Deleted flows are not found.
    fn get_flow(
        &self,
        namespace: &str,
        id: &str,
        revision: Option<u32>,
    ) -> impl Future<Output = Result<Option<FlowRevision>, StoreError>> + Send;

    /// The newest revision of every flow (not deleted), optionally within a namespace prefix.
    fn list_flows(
        &self,
        namespace_prefix: Option<&str>,
    ) -> impl Future<Output = Result<Vec<FlowRevision>, StoreError>> + Send;

    /// Every revision of one flow, oldest first.
    fn flow_revisions(
        &self,
        namespace: &str,
        id: &str,
    ) -> impl Future<Output = Result<Vec<FlowRevision>, StoreError>> + Send;

    /// Marks a flow deleted; its revisions stay for the executions that pinned them.
    fn delete_flow(&self, namespace: &str, id: &str)
    -> impl Future<Output = Result<bool, StoreError>> + Send;

    // --- executions ---

    /// Writes a batch atomically.
    fn commit(&self, batch: CommitBatch) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_execution(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ExecutionRecord>, StoreError>> + Send;

    fn list_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> impl Future<Output = Result<Vec<ExecutionRecord>, StoreError>> + Send;

    /// Executions not in a terminal state (for recovery after a crash).
    fn unfinished_executions(&self) -> impl Future<Output = Result<Vec<ExecutionRecord>, StoreError>> + Send;

    /// The task runs of one execution, in creation order.
    fn task_runs(&self, execution_id: &str) -> impl Future<Output = Result<Vec<TaskRun>, StoreError>> + Send;

    /// Removes task runs of an execution (a restart drops the runs of `errors` and `finally`,
    /// which run again if needed). Unknown keys are ignored.
    fn delete_task_runs(
        &self,
        execution_id: &str,
        keys: &[TaskRunKey],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn logs(
        &self,
        execution_id: &str,
        filter: &LogFilter,
    ) -> impl Future<Output = Result<Vec<StoredLog>, StoreError>> + Send;

    // --- artifacts ---

    /// Stores bytes under their sha256; storing the same bytes twice keeps one copy.
    fn put_artifact(&self, bytes: &[u8]) -> impl Future<Output = Result<ArtifactRef, StoreError>> + Send;

    fn get_artifact(&self, sha256: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Records that an execution (optionally one task run of it) produced an artifact under
    /// `name` (e.g. a `file` input's file name).
    fn attach_artifact(
        &self,
        execution_id: &str,
        task_run: Option<&TaskRunKey>,
        name: &str,
        artifact: &ArtifactRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The artifacts attached to an execution: `(task run, name, artifact)`.
    fn artifacts(
        &self,
        execution_id: &str,
    ) -> impl Future<Output = Result<Vec<(Option<TaskRunKey>, String, ArtifactRef)>, StoreError>> + Send;

    // --- leases (many servers on one database) ---

    /// Extends each lease still held as given (same node and epoch) by its `ttl`. Returns the
    /// ids of those another node holds now; a lease not written yet (its execution's first
    /// commit is on its way) is not lost.
    fn renew_leases(&self, leases: &[Lease]) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Takes over up to `limit` unfinished executions, oldest first, whose lease expired or
    /// that have none (and, with `reclaim_own`, those `node` itself held: a restarted node
    /// takes its work back at once), among those whose worker tags
    /// ([`Store::set_worker_tags`]) are all in `tags`. Each lease passes to `node` for `ttl`,
    /// its epoch one higher. Two nodes claiming at once never both get one execution.
    fn claim_leases(
        &self,
        node: &str,
        tags: &[String],
        ttl: Duration,
        limit: u32,
        reclaim_own: bool,
    ) -> impl Future<Output = Result<Vec<Lease>, StoreError>> + Send;

    /// Records the worker tags an execution's tasks ask for, before its first commit: only a
    /// node holding them all claims it.
    fn set_worker_tags(
        &self,
        execution_id: &str,
        tags: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the lease of one execution whatever its state or holder, the epoch one higher
    /// (a rerun of a finished execution drives it again here).
    fn take_lease(
        &self,
        execution_id: &str,
        node: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Lease, StoreError>> + Send;

    /// Deploys the stored component `artifact` ([`Store::put_artifact`]) as plugin `name` to
    /// every node on the store, replacing the one deployed under that name before. An
    /// artifact that was never put is [`StoreError::NotFound`].
    fn deploy_plugin(
        &self,
        name: &str,
        artifact: &ArtifactRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every deployed plugin: its name and its component, sorted by name.
    fn deployed_plugins(&self)
    -> impl Future<Output = Result<Vec<(String, ArtifactRef)>, StoreError>> + Send;

    /// Tells the nodes' lease keepers that there is work to claim or a control to take (an
    /// execution handed over, see [`Store::wait_for_work`]). A store that cannot tell them
    /// does nothing: they find it on their next round.
    fn announce_work(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }

    /// Until another node announces work ([`Store::announce_work`], or a control sent), at
    /// most `longest`: the lease keeper's pause between rounds. Without a way to be told (the
    /// embedded SQLite), the whole pause.
    fn wait_for_work(&self, longest: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(longest)
    }

    /// The ids of the executions whose end any node commits from now on, where the store can
    /// tell (PostgreSQL's `NOTIFY`); None: a watcher looks at the store now and then instead.
    /// A receiver that lags, or a listener that reconnects, may miss some: watchers look at the
    /// store now and then all the same.
    fn ends(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    /// Records that `node` is alive, for `ttl` from now.
    fn heartbeat(&self, node: &str, ttl: Duration) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The cluster's nodes and leases now.
    fn cluster_status(&self) -> impl Future<Output = Result<ClusterStatus, StoreError>> + Send;

    /// Leaves a control request (a kill, a resume: the engine's JSON) for the node driving
    /// the execution, which takes it with [`Store::take_controls`].
    fn send_control(
        &self,
        execution_id: &str,
        control: &serde_json::Value,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes and returns the control requests left for these executions, oldest first, as
    /// `(execution id, control)`.
    fn take_controls(
        &self,
        execution_ids: &[String],
    ) -> impl Future<Output = Result<Vec<(String, serde_json::Value)>, StoreError>> + Send;

    // --- flow concurrency (across every node on the database) ---
    //
    // Each request runs under a lock on its flow, so two nodes admitting at once never both
    // take the last place. A commit that records an execution's end frees its place.

    /// An execution of a flow that sets a `concurrency.limit` asks for a place. Running count:
    /// the flow's executions holding a running place, and those recorded RUNNING, PAUSED or
    /// KILLING without one (started under a revision without a limit). There is room when
    /// fewer than `limit` run and none waits (a newcomer does not overtake the queue). A place
    /// taken for an execution that is never recorded (its node died first) lapses after a
    /// minute. Asking again for an execution that holds a place replaces it, except with
    /// [`PlaceAsk::Requeue`].
    fn take_place(
        &self,
        place: &FlowPlace<'_>,
        ask: PlaceAsk,
    ) -> impl Future<Output = Result<PlaceOutcome, StoreError>> + Send;

    /// Admits the flow's queued executions, oldest first (by the executions' creation, then
    /// the order they queued in), while fewer run than the limit each was queued under; returns
    /// the ones admitted now.
    fn promote_places(
        &self,
        namespace: &str,
        flow_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Of these executions, the ones holding a running place (admitted, by any node).
    fn admitted_places(
        &self,
        execution_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Gives the place of an execution back (a rerun that did not go through).
    fn release_place(&self, execution_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    // --- schedule triggers (server) ---
    //
    // Claims are conditional writes, so two servers on one database never both fire one tick:
    // only the one whose `expected` matches the stored state wins.

    /// The stored state of a schedule trigger; None before its first claim.
    fn schedule_state(
        &self,
        key: TriggerKey<'_>,
    ) -> impl Future<Output = Result<Option<ScheduleState>, StoreError>> + Send;

    /// Moves `covered_until` from `expected` (None: no state yet) to `until`, adding `skipped`
    /// to the skip count. False when the stored state is not `expected` (another server claimed
    /// first, or the caller's view is stale): nothing is written then.
    fn claim_schedule(
        &self,
        key: TriggerKey<'_>,
        expected: Option<Timestamp>,
        until: Timestamp,
        skipped: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records the execution the trigger's last claimed fire started.
    fn set_schedule_execution(
        &self,
        key: TriggerKey<'_>,
        execution_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
