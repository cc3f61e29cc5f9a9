//! Plugins deployed once for the whole cluster: a component sent to any server
//! ([`Engine::deploy_plugin`]) is stored content-addressed in the shared store, and every node
//! on it loads the one deployed under each name ([`Engine::refresh_plugins`], run by the lease
//! keeper each round and when a claimed execution names a plugin this node lacks), compiling
//! it once into its own component cache. A deploy cannot replace a built-in plugin or a
//! plugin file installed on the node; a component replaced by a newer deploy stays loaded for
//! the executions whose flow pinned it.

use std::sync::{Arc, PoisonError};

use sluice_sandbox::{LoadError, Plugin};

use super::{Engine, Shared};
use crate::setup::Origin;
use crate::store::{Store, StoreError};

/// Why a deploy was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A plugin of this name is built in, or installed as a file on this node.
    #[error("plugin `{name}` is {origin} on this server; deploy it under another name")]
    Installed { name: String, origin: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<S: Store> Engine<S> {
    /// Checks `wasm` as a plugin (it loads and describes itself), stores it, deploys it under
    /// its name to every node on the store, and installs it here. The nodes are told at once
    /// where the store can (see [`Store::announce_work`]).
    pub async fn deploy_plugin(&self, wasm: &[u8]) -> Result<Arc<Plugin>, DeployError> {
        let plugin = self.shared.sandbox.load(wasm).await?;
        let name = plugin.info().name.clone();
        if let Some((_, origin)) = self.shared.plugins().find(&name)
            && *origin != Origin::Deployed
        {
            let origin = match origin {
                Origin::Builtin => "built in".to_owned(),
                other => format!("installed from {other}"),
            };
            return Err(DeployError::Installed { name, origin });
        }
        let stored = self.shared.store.put_artifact(wasm).await?;
        self.shared.store.deploy_plugin(&name, &stored).await?;
        self.shared.install_deployed(plugin.clone());
        if let Err(error) = self.shared.store.announce_work().await {
            tracing::warn!(plugin = %name, "cannot tell the other nodes; they find it on their next round: {error}");
        }
        tracing::info!(plugin = %name, digest = %plugin.digest(), "plugin deployed");
        Ok(plugin)
    }

    /// Loads the deployed plugins this node lacks, or has another component of. True when
    /// any arrived.
    pub async fn refresh_plugins(&self) -> Result<bool, StoreError> {
        self.shared.refresh_plugins().await
    }
}

impl<S: Store> Shared<S> {
    pub(crate) async fn refresh_plugins(&self) -> Result<bool, StoreError> {
        let mut changed = false;
        for (name, artifact) in self.store.deployed_plugins().await? {
            match self.plugins().find(&name) {
                Some((plugin, Origin::Deployed)) if plugin.digest().hex() == artifact.sha256 => continue,
                // A built-in or file plugin of the name wins on this node.
                Some((_, Origin::Builtin | Origin::File(_))) => continue,
                _ => {}
            }
            let Some(wasm) = self.store.get_artifact(&artifact.sha256).await? else {
                tracing::error!(plugin = %name, sha256 = %artifact.sha256, "the deployed plugin's component is missing");
                continue;
            };
            match self.sandbox.load(&wasm).await {
                Ok(plugin) if plugin.digest().hex() == artifact.sha256 && plugin.info().name == name => {
                    tracing::info!(plugin = %name, digest = %plugin.digest(), "deployed plugin loaded");
                    self.install_deployed(plugin);
                    changed = true;
                }
                Ok(plugin) => tracing::error!(
                    plugin = %name,
                    "the deployed component is {} with digest {}; it is not loaded",
                    plugin.info().name,
                    plugin.digest()
                ),
                Err(error) => tracing::error!(plugin = %name, "cannot load the deployed plugin: {error}"),
            }
        }
        Ok(changed)
    }

    fn install_deployed(&self, plugin: Arc<Plugin>) {
        let mut plugins = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
        *plugins = plugins.with_deployed(plugin);
    }
}
