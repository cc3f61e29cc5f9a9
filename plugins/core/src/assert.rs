//! `core.assert`: fail unless every condition holds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Task, TaskError};

pub struct AssertTask;

/// Config of `core.assert`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssertConfig {
    /// The conditions to check, usually templated from earlier outputs.
    conditions: Vec<Condition>,
}

/// One condition and the message to report when it does not hold.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Condition {
    /// Whether the condition holds.
    that: bool,
    /// What to report when it does not.
    message: String,
}

/// Outputs of `core.assert`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssertOutput {
    /// How many conditions held (all of them).
    passed: usize,
}

impl Task for AssertTask {
    const NAME: &'static str = "assert";
    const DESCRIPTION: &'static str = "Checks a list of conditions, each a boolean (usually a \
        template over earlier outputs) with a message. Fails listing the message of every \
        condition that is false; otherwise outputs how many passed. Use it to guard a \
        deployment or to check a response before going on.";
    type Config = AssertConfig;
    type Output = AssertOutput;

    fn run(config: AssertConfig) -> Result<AssertOutput, TaskError> {
        let total = config.conditions.len();
        let failed: Vec<String> = config
            .conditions
            .into_iter()
            .filter(|condition| !condition.that)
            .map(|condition| format!("- {}", condition.message))
            .collect();
        if failed.is_empty() {
            return Ok(AssertOutput { passed: total });
        }
        Err(TaskError::failed(format!(
            "{} of {total} assertions failed:\n{}",
            failed.len(),
            failed.join("\n")
        )))
    }
}
