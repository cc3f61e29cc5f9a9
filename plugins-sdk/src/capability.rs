//! [`Capability`]: what a task tells the host it may need.

use crate::bindings::sluice::plugin::types::Capability as WitCapability;

/// A capability a task may need; mirrors `capability` in the WIT. The host grants nothing by
/// default: declaring these documents the task and lets the host pick sensible defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Outbound HTTP to the origin of the URL in the named top-level config field; the host
    /// grants that origin by default when the field is set.
    NetworkFromConfig(String),
    /// Outbound HTTP to origins matching a pattern such as `https://*.example.com`.
    Network(String),
    /// The Docker Engine API.
    Docker,
    /// The named environment variable.
    Env(String),
    /// The named secret.
    Secret(String),
}

impl Capability {
    /// Outbound HTTP to the URL held in config field `field`.
    pub fn network_from_config(field: impl Into<String>) -> Self {
        Self::NetworkFromConfig(field.into())
    }

    /// Outbound HTTP to origins matching `pattern` (`scheme://host[:port]`, `*` wildcards).
    pub fn network(pattern: impl Into<String>) -> Self {
        Self::Network(pattern.into())
    }

    /// The environment variable `name`.
    pub fn env(name: impl Into<String>) -> Self {
        Self::Env(name.into())
    }

    /// The secret `name`.
    pub fn secret(name: impl Into<String>) -> Self {
        Self::Secret(name.into())
    }
}

impl From<Capability> for WitCapability {
    fn from(cap: Capability) -> Self {
        match cap {
            Capability::NetworkFromConfig(f) => Self::NetworkFromConfig(f),
            Capability::Network(p) => Self::Network(p),
            Capability::Docker => Self::Docker,
            Capability::Env(n) => Self::Env(n),
            Capability::Secret(n) => Self::Secret(n),
        }
    }
}
