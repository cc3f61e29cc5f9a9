//! Well-behaved tasks: echo, logging, stdio, environment, sleep, chosen errors.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_plugin::bindings::sluice::plugin::types::TaskError;

use crate::Outcome;

/// `noop`: `{}`.
pub fn noop() -> Outcome {
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct Echo {
    value: Value,
}

/// `echo` `{value}`: logs `echo` at info, returns `{"value": value}`.
pub fn echo(config: Echo) -> Outcome {
    sluice_plugin::info!("echo");
    Ok(json!({ "value": config.value }))
}

#[derive(Deserialize)]
pub struct Emit {
    output: Value,
}

/// `emit` `{output}`: returns `output` unchanged, whatever its shape (output-check tests).
pub fn emit(config: Emit) -> Outcome {
    Ok(config.output)
}

#[derive(Deserialize)]
pub struct Say {
    message: String,
}

/// `say` `{message}`: logs the message at info (redaction tests), returns `{"message": ...}`.
pub fn say(config: Say) -> Outcome {
    sluice_plugin::info!("{}", config.message);
    Ok(json!({ "message": config.message }))
}

#[derive(Deserialize)]
pub struct Sleep {
    ms: u64,
}

/// `sleep` `{ms}`: `std::thread::sleep`, returns `{}`.
pub fn sleep(config: Sleep) -> Outcome {
    std::thread::sleep(Duration::from_millis(config.ms));
    Ok(json!({}))
}

/// `env`: `{"vars": {name: value}, "cwd": path or error text}`.
pub fn env() -> Outcome {
    let vars: BTreeMap<String, String> = std::env::vars().collect();
    let cwd = match std::env::current_dir() {
        Ok(path) => path.display().to_string(),
        Err(err) => err.to_string(),
    };
    Ok(json!({ "vars": vars, "cwd": cwd }))
}

#[derive(Deserialize)]
pub struct Stdio {
    #[serde(default)]
    stdout: Vec<String>,
    #[serde(default)]
    stderr: Vec<String>,
}

/// `stdio` `{stdout: [..], stderr: [..]}`: `println!` each stdout line, then `print!("partial")`
/// with no newline (flushed, or std would keep it buffered: a task never reaches `exit`), and
/// `eprintln!` each stderr line; returns `{}`.
pub fn stdio(config: Stdio) -> Outcome {
    for line in &config.stdout {
        println!("{line}");
    }
    print!("partial");
    // A flush error means the host closed stdout; there is nothing to report it to.
    let _ = std::io::stdout().flush();
    for line in &config.stderr {
        eprintln!("{line}");
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    InvalidConfig,
    Denied,
    Failed,
}

#[derive(Deserialize)]
pub struct Fail {
    kind: Kind,
    message: String,
}

/// `fail` `{kind, message}`: returns that task error.
pub fn fail(config: Fail) -> Outcome {
    Err(match config.kind {
        Kind::InvalidConfig => TaskError::InvalidConfig(config.message),
        Kind::Denied => TaskError::Denied(config.message),
        Kind::Failed => TaskError::Failed(config.message),
    })
}

#[derive(Deserialize)]
pub struct KeyBy {
    key: String,
}

/// `key-by` `{key}`: returns `{"byKey": {<key>: true}}`, a map keyed by config (redaction tests).
pub fn key_by(config: KeyBy) -> Outcome {
    let mut by_key = serde_json::Map::new();
    by_key.insert(config.key, Value::Bool(true));
    Ok(json!({ "byKey": by_key }))
}

/// `context`: the execution document the host gives this run, as it came (null without one).
pub fn context() -> Outcome {
    let execution = match sluice_plugin::context::raw() {
        Some(text) => serde_json::from_str(&text)
            .map_err(|err| TaskError::Failed(format!("the host's document is not JSON: {err}")))?,
        None => Value::Null,
    };
    Ok(json!({ "execution": execution }))
}
