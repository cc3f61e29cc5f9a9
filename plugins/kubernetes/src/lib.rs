//! sluice's kubernetes tasks (being built).

/// Parses one YAML document (a placeholder until the tasks land).
pub fn parse(text: &str) -> Result<serde_json::Value, String> {
    yaml_serde::from_str(text).map_err(|e| e.to_string())
}
