//! `secret('NAME')`: reading a secret the task was granted.
//!
//! The source is borrowed by the caller while a template's values must be owned, so the
//! secrets a template names (found statically, see `secret_calls`) are fetched before the
//! render starts, and only those the task is allowed. The render records which ones it read so
//! the caller can redact their values.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use minijinja::{Error, ErrorKind, State};

use super::context::scope;

/// Where secret values come from (a vault, the server's store, the environment in the CLI).
pub trait Secrets: Send + Sync {
    fn get(&self, name: &str) -> Option<String>;
}

/// Which secrets a render may read: the task's `allow.secrets`. A render given no access
/// refuses every `secret()` call (flow outputs, `runIf`).
#[derive(Clone, Copy)]
pub struct SecretAccess<'a> {
    pub source: &'a dyn Secrets,
    pub allowed: &'a [String],
}

/// Why a `secret()` call failed. Never carries a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SecretRefusal {
    #[error(
        "secret `{0}` cannot be read here: only the fields of a task that lists it in `allow.secrets` can read secrets"
    )]
    NotAvailable(String),
    #[error("the task has no grant for secret `{0}`: add `{0}` to the task's `allow.secrets`")]
    NotGranted(String),
    #[error("secret `{0}` is not set")]
    Missing(String),
    #[error("secret() takes a literal name, e.g. secret('GITHUB_TOKEN')")]
    NotLiteral,
}

/// The secrets one render may read, fetched up front, and the names it read.
pub(super) struct SecretVault {
    /// `None`: the render has no secret access at all.
    allowed: Option<Vec<String>>,
    /// Allowed names the template mentions -> value (`None` when the source has no such secret).
    fetched: BTreeMap<String, Option<String>>,
    read: Mutex<Vec<String>>,
}

impl SecretVault {
    /// Fetches the allowed ones among `names` from the source.
    pub(super) fn prefetch<'n>(
        access: Option<&SecretAccess<'_>>,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Self {
        let mut fetched = BTreeMap::new();
        if let Some(access) = access {
            for name in names {
                if access.allowed.iter().any(|allowed| allowed == name) && !fetched.contains_key(name) {
                    fetched.insert(name.to_string(), access.source.get(name));
                }
            }
        }
        Self { allowed: access.map(|a| a.allowed.to_vec()), fetched, read: Mutex::new(Vec::new()) }
    }

    fn read(&self, name: &str) -> Result<String, SecretRefusal> {
        let Some(allowed) = &self.allowed else {
            return Err(SecretRefusal::NotAvailable(name.to_string()));
        };
        if !allowed.iter().any(|a| a == name) {
            return Err(SecretRefusal::NotGranted(name.to_string()));
        }
        match self.fetched.get(name) {
            Some(Some(value)) => {
                let mut read = self.read.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if !read.iter().any(|r| r == name) {
                    read.push(name.to_string());
                }
                Ok(value.clone())
            }
            Some(None) => Err(SecretRefusal::Missing(name.to_string())),
            // Every literal call was fetched; a name computed at run time was not.
            None => Err(SecretRefusal::NotLiteral),
        }
    }

    /// The values of the secrets read so far, in the order first read.
    pub(super) fn values_read(&self) -> Vec<String> {
        let read = self.read.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        read.iter().filter_map(|name| self.fetched.get(name).cloned().flatten()).collect()
    }
}

impl fmt::Debug for SecretVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVault").field("names", &self.fetched.keys().collect::<Vec<_>>()).finish()
    }
}

/// The template function `secret('NAME')`.
pub(super) fn secret(state: &State<'_, '_>, name: &str) -> Result<String, Error> {
    scope(state)?
        .secrets
        .read(name)
        .map_err(|refusal| Error::new(ErrorKind::InvalidOperation, refusal.to_string()).with_source(refusal))
}
