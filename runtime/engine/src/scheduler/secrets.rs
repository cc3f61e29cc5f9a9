//! Where secret values come from. The scheduler resolves `secret('NAME')` only at dispatch,
//! only for names the task is granted, and never persists the rendered value.

use std::collections::HashMap;

use sluice_flow::template::Secrets;

/// Secrets from the host environment: `secret('GITHUB_TOKEN')` reads `SLUICE_SECRET_GITHUB_TOKEN`.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvSecrets;

/// The prefix of the environment variables [`EnvSecrets`] reads.
pub use sluice_flow::SECRET_ENV_PREFIX;

impl Secrets for EnvSecrets {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(format!("{SECRET_ENV_PREFIX}{name}")).ok()
    }
}

/// A fixed set of secrets (tests, and embedding sluice as a library).
#[derive(Debug, Default, Clone)]
pub struct StaticSecrets(pub HashMap<String, String>);

impl Secrets for StaticSecrets {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}
