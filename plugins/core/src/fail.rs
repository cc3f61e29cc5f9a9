//! `core.fail`: stop with an error.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_plugin::{Empty, Task, TaskError};

pub struct FailTask;

/// Config of `core.fail`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailConfig {
    /// Why the task fails; becomes the task's error message.
    message: String,
}

impl Task for FailTask {
    const NAME: &'static str = "fail";
    const DESCRIPTION: &'static str = "Always fails with `message`. Use it in a branch of an \
        `if` or `switch` to stop the flow with a clear reason, or to test error handlers and \
        retries.";
    type Config = FailConfig;
    type Output = Empty;

    fn run(config: FailConfig) -> Result<Empty, TaskError> {
        Err(TaskError::failed(config.message))
    }
}
