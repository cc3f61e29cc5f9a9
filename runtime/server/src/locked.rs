//! Validated flows by stored revision, so a start does not parse and validate the same YAML
//! again on every request. An entry is used only while its source is the one stored (a flow
//! deleted and created again may reuse a revision number with other YAML) and the plugins are
//! the set it was validated against (a deploy changes them).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sluice_engine::FlowRevision;
use sluice_engine::scheduler::{Engine, Plugins};
use sluice_flow::LockedFlow;

use crate::ServerStore;
use crate::error::{ApiError, BODY_FILE_NAME};

/// Parses and validates a flow against the installed plugins: the one check every deployed
/// or started flow passes.
pub(crate) fn validate(plugins: &Plugins, text: &str) -> Result<LockedFlow, ApiError> {
    sluice_flow::load(BODY_FILE_NAME, text, plugins)
        .map_err(|diagnostics| ApiError::invalid_flow(&diagnostics, text))
}

/// [`validate`] against this server's plugins; when that fails and a plugin was deployed
/// through another server since this one last looked, again once it is loaded here.
pub(crate) async fn validate_fresh(engine: &Engine<ServerStore>, text: &str) -> Result<LockedFlow, ApiError> {
    match validate(&engine.plugins(), text) {
        Err(error) if engine.refresh_plugins().await.unwrap_or(false) => {
            validate(&engine.plugins(), text).map_err(|_| error)
        }
        result => result,
    }
}

/// Entries kept before the cache starts over; each is a few KiB.
const CAPACITY: usize = 4096;

type RevisionKey = (String, String, u32);

#[derive(Default)]
pub struct LockedFlows {
    /// By (namespace, id, revision): the plugins' generation it was validated against, and it.
    entries: Mutex<HashMap<RevisionKey, (u64, LockedFlow)>>,
}

impl LockedFlows {
    /// The revision, validated against the installed plugins (from the cache when it can).
    pub fn get(&self, plugins: &Plugins, revision: &FlowRevision) -> Result<LockedFlow, ApiError> {
        let key = (revision.namespace.clone(), revision.id.clone(), revision.revision);
        {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let fresh = |(generation, locked): &&(u64, LockedFlow)| {
                *generation == plugins.generation() && locked.source.text() == revision.source
            };
            if let Some((_, locked)) = entries.get(&key).filter(fresh) {
                return Ok(locked.clone());
            }
        }
        let locked = validate(plugins, &revision.source)?;
        self.insert(plugins, key, &locked);
        Ok(locked)
    }

    /// [`LockedFlows::get`] with this server's plugins, loading plugins deployed through
    /// another server when the revision names one not loaded here yet.
    pub async fn get_fresh(
        &self,
        engine: &Engine<ServerStore>,
        revision: &FlowRevision,
    ) -> Result<LockedFlow, ApiError> {
        match self.get(&engine.plugins(), revision) {
            Err(error) if engine.refresh_plugins().await.unwrap_or(false) => {
                self.get(&engine.plugins(), revision).map_err(|_| error)
            }
            result => result,
        }
    }

    fn insert(&self, plugins: &Plugins, key: RevisionKey, locked: &LockedFlow) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, (plugins.generation(), locked.clone()));
    }
}
