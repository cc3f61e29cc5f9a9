//! Task outputs printed by a container: a line `::{"outputs": {...}}::` adds those values.

use std::collections::BTreeMap;

use serde_json::Value;

/// The values of an outputs line, or `None` when the line is not one.
pub fn parse_line(line: &str) -> Option<BTreeMap<String, Value>> {
    let inner = line.trim().strip_prefix("::")?.strip_suffix("::")?;
    if !inner.starts_with('{') {
        return None;
    }
    let mut value: Value = serde_json::from_str(inner).ok()?;
    match value.get_mut("outputs")?.take() {
        Value::Object(map) => Some(map.into_iter().collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_well_formed_lines_count() {
        let values = parse_line(r#"  ::{"outputs": {"coverage": 81.5, "tag": "v1"}}::"#).expect("outputs");
        assert_eq!(values, BTreeMap::from([("coverage".into(), json!(81.5)), ("tag".into(), json!("v1"))]));
        assert_eq!(parse_line("::{\"other\": 1}::"), None);
        assert_eq!(parse_line("::{not json}::"), None);
        assert_eq!(parse_line("{\"outputs\": {}}"), None);
        assert_eq!(parse_line(r#"::{"outputs": [1]}::"#), None);
    }
}
