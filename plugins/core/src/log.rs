//! `core.log`: write a message to the execution's log.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_plugin::log::{Level, log};
use sluice_plugin::{Empty, Task, TaskError};

pub struct LogTask;

/// Config of `core.log`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogConfig {
    /// The message; each line becomes one log line.
    message: String,
    /// The severity.
    #[serde(default)]
    level: LogLevel,
}

/// Severity of the message.
#[derive(Deserialize, JsonSchema, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl From<LogLevel> for Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        }
    }
}

impl Task for LogTask {
    const NAME: &'static str = "log";
    const DESCRIPTION: &'static str = "Writes `message` to the execution's log at `level` \
        (trace, debug, info, warn or error; default info), one log line per line of the \
        message. Use it to report progress or values computed by earlier tasks; secrets in \
        the message are redacted by the host. Outputs nothing.";
    type Config = LogConfig;
    type Output = Empty;

    fn run(config: LogConfig) -> Result<Empty, TaskError> {
        let level = config.level.into();
        if config.message.is_empty() {
            log(level, "");
        }
        for line in config.message.lines() {
            log(level, line);
        }
        Ok(Empty {})
    }
}
