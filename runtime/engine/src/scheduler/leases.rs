//! Many nodes on one store: each execution is driven by the node holding its lease (see
//! [`crate::store::Lease`]). The keeper renews this node's leases while their executions run
//! here, stops a driver whose lease another node took, and takes over executions whose lease
//! expired (their node died or was cut off), continuing them from their records as after a
//! restart.

use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::controls::apply_controls;
use super::driver::Control;
use super::recover::{Waiting, reattach, restore_one};
use super::{Engine, ExecutionHandle, Shared, SharedLease};
use crate::store::{Lease, Store, StoreError};

/// At most this many leases are claimed by one statement.
const CLAIM_BATCH: u32 = 100;

/// The longest pause between two rounds of the keeper.
const MAX_ROUND: Duration = Duration::from_secs(1);

/// What the keeper does besides renewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeper {
    /// Renew only (`sluice run`: it drives what it started and nothing else).
    RenewOnly,
    /// Renew, take over expired leases and load newly deployed plugins (a server or worker).
    TakeOver,
}

impl<S: Store> Engine<S> {
    /// Starts the lease keeper: every `min(lease_ttl / 3, 1 s)` it renews the leases of the
    /// executions live here (a driver whose lease another node holds now is stopped) and, with
    /// [`Keeper::TakeOver`], continues executions whose lease expired. It stops when the
    /// returned guard is dropped (or the engine is).
    #[must_use = "the keeper stops when its guard is dropped"]
    pub fn keep_leases(&self, keeper: Keeper) -> LeaseKeeper {
        let shared = Arc::downgrade(&self.shared);
        let round = (self.shared.config.lease_ttl / 3).min(MAX_ROUND);
        LeaseKeeper(tokio::spawn(keep(shared, round, keeper)))
    }
}

impl<S: Store> Engine<S> {
    /// How many executions this node drives (holds the lease of) now.
    pub fn leases_held(&self) -> usize {
        let live = self.shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.values().filter(|l| l.lease.is_some()).count()
    }
}

/// The running lease keeper; dropping it stops it.
pub struct LeaseKeeper(JoinHandle<()>);

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn keep<S: Store>(shared: Weak<Shared<S>>, round: Duration, keeper: Keeper) {
    let mut failing = false;
    // Held apart from `shared`, so that waiting does not keep the engine alive.
    let Some(store) = shared.upgrade().map(|s| s.store.clone()) else { return };
    loop {
        // A node that takes work over is woken early when work is announced.
        match keeper {
            Keeper::TakeOver => store.wait_for_work(round).await,
            Keeper::RenewOnly => tokio::time::sleep(round).await,
        }
        let Some(shared) = shared.upgrade() else { return };
        // A server reports itself alive; a `sluice run` is no member of the cluster.
        let mut result = match keeper {
            Keeper::TakeOver => shared.store.heartbeat(&shared.config.node, shared.config.lease_ttl).await,
            Keeper::RenewOnly => Ok(()),
        };
        if result.is_ok() {
            result = renew(&shared).await;
        }
        if result.is_ok() {
            result = shared.start_waiting().await;
        }
        // Plugins deployed since the last round first: what is claimed next may use them.
        if result.is_ok() && keeper == Keeper::TakeOver {
            result = shared.refresh_plugins().await.map(drop);
        }
        if result.is_ok() && keeper == Keeper::TakeOver && !shared.drain.is_draining() {
            result = shared.take_over(false).await.map(drop);
        }
        match result {
            Err(error) if !failing => {
                tracing::warn!("cannot keep this node's leases ({error}); trying again every {round:?}");
                failing = true;
            }
            Ok(()) if failing => {
                tracing::info!("this node's leases are kept again");
                failing = false;
            }
            _ => {}
        }
    }
}

/// Renews the leases of the drivers live here and stops those another node took over; then
/// applies the kills and resumes asked of other servers for the rest.
async fn renew<S: Store>(shared: &Shared<S>) -> Result<(), StoreError> {
    let held: Vec<Lease> = {
        let live = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        let current = |held: &SharedLease| held.lock().unwrap_or_else(PoisonError::into_inner).clone();
        live.values().filter_map(|l| l.lease.as_ref().map(current)).collect()
    };
    let lost = shared.store.renew_leases(&held).await?;
    for id in &lost {
        tracing::warn!(execution = %id, "another node took the execution over; stopping it here");
        shared.control(id, Control::LeaseLost);
    }
    let driven = held.into_iter().map(|l| l.execution_id).filter(|id| !lost.contains(id)).collect();
    apply_controls(shared, driven).await
}

impl<S: Store> Shared<S> {
    /// Claims executions to continue here: those whose lease expired or that have none, and
    /// with `reclaim_own` those this node held before it restarted. Returns their handles.
    pub(crate) async fn take_over(
        self: &Arc<Self>,
        reclaim_own: bool,
    ) -> Result<Vec<ExecutionHandle>, StoreError> {
        let mut handles = Vec::new();
        if !self.config.runs_executions {
            return Ok(handles);
        }
        let mut waiting: Vec<Waiting> = Vec::new();
        loop {
            let limit = self.claimable();
            if limit == 0 {
                break;
            }
            let (node, tags, ttl) = (&self.config.node, &self.config.worker_tags, self.config.lease_ttl);
            let leases = self.store.claim_leases(node, tags, ttl, limit, reclaim_own).await?;
            let full = leases.len() == limit as usize;
            for lease in leases {
                if !self.settle_live_driver(&lease).await {
                    continue;
                }
                let Some(record) = self.store.get_execution(&lease.execution_id).await? else { continue };
                tracing::info!(execution = %record.id, epoch = lease.epoch, "taking the execution over");
                if let Some(handle) = restore_one(self, record, lease, &mut waiting).await? {
                    handles.push(handle);
                }
            }
            if !full {
                break;
            }
        }
        for wait in waiting {
            reattach(self.clone(), wait).await?;
        }
        self.start_waiting().await?;
        Ok(handles)
    }

    /// How many executions one claim may take: [`CLAIM_BATCH`], or fewer when
    /// [`crate::EngineConfig::max_executions`] leaves less room beside those driven here.
    fn claimable(&self) -> u32 {
        let Some(max) = self.config.max_executions else { return CLAIM_BATCH };
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let held = live.values().filter(|l| l.lease.is_some()).count();
        u32::try_from(max.saturating_sub(held)).unwrap_or(u32::MAX).min(CLAIM_BATCH)
    }

    /// Settles a claimed execution that is still live here (its renewals failed until the
    /// lease expired, as in a long database outage, and this node claimed it anew). If no other
    /// node held it in between (the new epoch is the driver's plus one), the driver missed
    /// nothing and keeps going under the new epoch. Otherwise it may have missed another
    /// node's commits: it is stopped, to be restored from the store. True when the caller
    /// should restore the execution: it was not live, or its driver was stopped.
    async fn settle_live_driver(&self, lease: &Lease) -> bool {
        let live = {
            let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            live.get(&lease.execution_id).map(|l| (l.lease.clone(), l.control.clone(), l.done.clone()))
        };
        let Some((held, control, mut done)) = live else { return true };
        // A restart being prepared here holds the place and keeps it.
        let Some(held) = held else { return false };
        {
            let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
            if held.node == lease.node && held.epoch + 1 == lease.epoch {
                tracing::info!(execution = %lease.execution_id, "the lease lapsed and was claimed back; driving on");
                *held = lease.clone();
                return false;
            }
        }
        let _ = control.send(Control::LeaseLost);
        let _ = done.wait_for(Option::is_some).await;
        true
    }
}
