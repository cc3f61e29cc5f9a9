//! The name a process holds leases under (see [`crate::EngineConfig::node`]).

use std::path::Path;

use crate::setup::SetupError;

/// The file in a server's data dir that keeps its node name across restarts.
pub const NODE_FILE: &str = "node-id";

/// A server's node: read from `<data dir>/node-id`, or made up (host name and a random part)
/// and written there the first time. Two servers must not share a data dir.
pub fn server_node(data_dir: &Path) -> Result<String, SetupError> {
    let path = data_dir.join(NODE_FILE);
    let error = |error| SetupError::Read { path: path.clone(), error };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(e)),
    }
    let node = format!("{}-{}", host_name(), short_random());
    std::fs::create_dir_all(data_dir).map_err(error)?;
    std::fs::write(&path, format!("{node}\n")).map_err(error)?;
    Ok(node)
}

/// A node for one `sluice run`: its own, so a server on the same data dir never mistakes the
/// run's executions for its own from before a restart.
pub fn run_node() -> String {
    format!("run-{}-{}", host_name(), short_random())
}

fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    let name: String =
        name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').collect();
    if name.is_empty() { "node".to_owned() } else { name }
}

fn short_random() -> String {
    // The last 12 hex digits of a v7 UUID are random.
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[id.len() - 12..].to_owned()
}
