//! The Table API's shapes: checked table and record paths, the `sysparm_*` parameters the tasks
//! share, finding a record by number, and the outputs made from a record.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_plugin::TaskError;
use sluice_plugin::http::{encode_component, form};

use crate::client::Client;

/// How reference and choice fields come back (`sysparm_display_value`).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DisplayValue {
    /// The stored values (`sys_id`s, choice values): ServiceNow's default.
    False,
    /// The display values (names, choice labels).
    True,
    /// Both, each field as `{display_value, value}`.
    All,
}

/// `/api/now/table/{table}`, the table's name checked so it cannot change the path.
pub fn table_path(table: &str) -> Result<String, TaskError> {
    if table.is_empty() || !table.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(TaskError::invalid_config(format!(
            "`table`: `{table}` is not a table name like incident, change_request or u_my_table"
        )));
    }
    Ok(format!("/api/now/table/{table}"))
}

/// A `sys_id` (32 hex digits), checked so it cannot change the path.
pub fn sys_id_segment(sys_id: &str) -> Result<&str, TaskError> {
    let sys_id = sys_id.trim();
    if sys_id.is_empty() || !sys_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TaskError::invalid_config(format!(
            "`sysId`: `{sys_id}` is not a sys_id (32 hex digits)"
        )));
    }
    Ok(sys_id)
}

/// `?sysparm_...` for the fields to return and how, plus `extra` pairs; empty when there are
/// none.
pub fn query(fields: &[String], display_value: Option<DisplayValue>, extra: &[(&str, &str)]) -> String {
    let fields = fields.join(",");
    let display = display_value.map(|d| match d {
        DisplayValue::False => "false",
        DisplayValue::True => "true",
        DisplayValue::All => "all",
    });
    let mut pairs: Vec<(&str, &str)> = extra.to_vec();
    if !fields.is_empty() {
        pairs.push(("sysparm_fields", &fields));
    }
    if let Some(display) = display {
        pairs.push(("sysparm_display_value", display));
    }
    if pairs.is_empty() { String::new() } else { format!("?{}", form(pairs)) }
}

/// The `sys_id` of the one record of `table` whose `number` is `number`.
pub fn sys_id_of_number(client: &Client, table: &str, number: &str) -> Result<String, TaskError> {
    let condition = format!("number={number}");
    let path = format!(
        "{}{}",
        table_path(table)?,
        query(&["sys_id".to_string()], None, &[("sysparm_query", &condition), ("sysparm_limit", "2")])
    );
    let found = client.send("GET", &path, None, &format!("finding {table} {number}"))?;
    let records = found.as_array().cloned().unwrap_or_default();
    match records.as_slice() {
        [one] => field_text(one, "sys_id")
            .ok_or_else(|| TaskError::failed(format!("finding {table} {number}: the record has no sys_id"))),
        [] => Err(TaskError::failed(format!("no {table} record has the number {number}"))),
        _ => Err(TaskError::failed(format!(
            "more than one {table} record has the number {number}; give `sysId`"
        ))),
    }
}

/// A field's value as text: a string, or the `value` of a `{display_value, value}` pair.
pub fn field_text(record: &Value, field: &str) -> Option<String> {
    match record.get(field)? {
        Value::String(text) => Some(text.clone()),
        Value::Object(pair) => pair.get("value").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// What `create`, `update` and `get` output about one record.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordOutput {
    /// The record's `sys_id` (absent when `fields` left it out).
    pub sys_id: Option<String>,
    /// Its `number` (`CHG0030001`, `INC0010002`), for tables that number their records.
    pub number: Option<String>,
    /// The record as the Table API returned it.
    pub record: Value,
    /// Its form in the instance, `<instanceUrl>/<table>.do?sys_id=...`.
    pub url: Option<String>,
}

impl RecordOutput {
    pub fn of(client: &Client, table: &str, record: Value) -> Self {
        let sys_id = field_text(&record, "sys_id");
        let url =
            sys_id.as_ref().map(|id| format!("{}/{table}.do?sys_id={}", client.base, encode_component(id)));
        Self { number: field_text(&record, "number"), sys_id, record, url }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_and_parameters() {
        assert_eq!(table_path("change_request").unwrap(), "/api/now/table/change_request");
        assert!(table_path("incident/../sys_user").is_err());
        assert!(sys_id_segment("a/b").is_err());
        assert_eq!(query(&[], None, &[]), "");
        assert_eq!(
            query(
                &["sys_id".into(), "number".into()],
                Some(DisplayValue::All),
                &[("sysparm_query", "state=1^active=true")]
            ),
            "?sysparm_query=state%3D1%5Eactive%3Dtrue&sysparm_fields=sys_id%2Cnumber&sysparm_display_value=all"
        );
    }

    #[test]
    fn values_or_display_pairs() {
        let record = json!({"sys_id": {"display_value": "x", "value": "abc"}, "number": "CHG1"});
        assert_eq!(field_text(&record, "sys_id").unwrap(), "abc");
        assert_eq!(field_text(&record, "number").unwrap(), "CHG1");
        assert_eq!(field_text(&record, "state"), None);
    }
}
