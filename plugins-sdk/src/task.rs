//! [`Task`]: one typed task of a plugin.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Capability, TaskError};

/// One task of a plugin, with typed config and output.
///
/// [`plugin!`](crate::plugin) turns a list of these into the component's exports: it publishes
/// the JSON Schemas of `Config` and `Output` (derived with `schemars`), parses the config JSON
/// into `Config` (a parse error becomes [`TaskError::InvalidConfig`]) and serializes `Output`.
///
/// Put `#[serde(deny_unknown_fields)]` on configs so typos are rejected, and doc comments on
/// fields: they become the schema's descriptions.
pub trait Task {
    /// The task's name within its plugin (`http` for `core.http`): lower-case letters, digits, `-`.
    const NAME: &'static str;
    /// One paragraph saying what the task does, shown to flow authors.
    const DESCRIPTION: &'static str;
    /// The config object the flow gives the task.
    type Config: DeserializeOwned + JsonSchema;
    /// The outputs object; must serialize to a JSON object (use [`Empty`] for none).
    type Output: Serialize + JsonSchema;

    /// Capabilities the task may need; none by default.
    fn capabilities() -> Vec<Capability> {
        Vec::new()
    }

    /// Run the task.
    fn run(config: Self::Config) -> Result<Self::Output, TaskError>;
}

/// An empty object (`{}`), for tasks without config or outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}
