//! Workspace access through plain `std::fs`; failures are outputs, so tests can read the error.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::Outcome;

fn io_error(err: std::io::Error) -> Value {
    json!({ "ok": false, "error": err.to_string() })
}

#[derive(Deserialize)]
pub struct ReadFile {
    path: String,
}

/// `read-file` `{path}`: `{"ok":true,"content":..}` or `{"ok":false,"error":..}`.
pub fn read_file(config: ReadFile) -> Outcome {
    Ok(match std::fs::read_to_string(&config.path) {
        Ok(content) => json!({ "ok": true, "content": content }),
        Err(err) => io_error(err),
    })
}

#[derive(Deserialize)]
pub struct WriteFile {
    path: String,
    content: String,
}

/// `write-file` `{path, content}`: `{"ok":true}` or `{"ok":false,"error":..}`.
pub fn write_file(config: WriteFile) -> Outcome {
    Ok(match std::fs::write(&config.path, &config.content) {
        Ok(()) => json!({ "ok": true }),
        Err(err) => io_error(err),
    })
}

#[derive(Deserialize)]
pub struct ListDir {
    path: String,
}

/// `list-dir` `{path}`: `{"ok":true,"entries":[sorted names]}` or `{"ok":false,"error":..}`.
pub fn list_dir(config: ListDir) -> Outcome {
    let entries = std::fs::read_dir(&config.path).and_then(|entries| {
        entries
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<Vec<String>, _>>()
    });
    Ok(match entries {
        Ok(mut names) => {
            names.sort();
            json!({ "ok": true, "entries": names })
        }
        Err(err) => io_error(err),
    })
}

#[derive(Deserialize)]
pub struct SetExecutable {
    path: String,
    executable: bool,
}

/// `set-executable` `{path, executable}` through the SDK: `{"ok":true}` or
/// `{"ok":false,"error":..}` (the host's reason).
pub fn set_executable(config: SetExecutable) -> Outcome {
    Ok(match sluice_plugin::workspace::set_executable(config.path.as_ref(), config.executable) {
        Ok(()) => json!({ "ok": true }),
        Err(err) => io_error(err),
    })
}

/// `is-executable` `{path}` through the SDK: `{"ok":true,"executable":..}` or
/// `{"ok":false,"error":..}`.
pub fn is_executable(config: ReadFile) -> Outcome {
    Ok(match sluice_plugin::workspace::is_executable(config.path.as_ref()) {
        Ok(executable) => json!({ "ok": true, "executable": executable }),
        Err(err) => io_error(err),
    })
}
