//! `servicenow.get`: one record by `sys_id` (`GET /api/now/table/{table}/{sys_id}`) or by
//! number, or the records an encoded query matches (`sysparm_query`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_plugin::{Capability, Task, TaskError};

use crate::client::Connection;
use crate::table::{self, DisplayValue, RecordOutput};

pub struct GetTask;

/// Config of `servicenow.get`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct GetConfig {
    #[serde(flatten)]
    connection: Connection,
    /// The table: `incident`, `change_request`, or any other.
    table: String,
    /// One record by its `sys_id` (a missing one fails the task).
    #[serde(default)]
    sys_id: Option<String>,
    /// One record by its `number` (a missing one fails the task).
    #[serde(default)]
    number: Option<String>,
    /// An encoded query (`sysparm_query`): `active=true^priority=1^ORDERBYDESCsys_created_on`.
    /// No match is no error: `count` is 0.
    #[serde(default)]
    query: Option<String>,
    /// The fields to return (`sysparm_fields`; default: all).
    #[serde(default)]
    fields: Vec<String>,
    /// How reference and choice fields come back (`sysparm_display_value`).
    #[serde(default)]
    display_value: Option<DisplayValue>,
    /// At most this many records for a `query` (`sysparm_limit`, default 100).
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// Outputs of `servicenow.get`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetOutput {
    /// The first record found (`sysId`, `number`, `record`, `url` are null when none is).
    #[serde(flatten)]
    first: RecordOutput,
    /// Every record found.
    records: Vec<Value>,
    /// How many were found.
    count: usize,
}

impl Task for GetTask {
    const NAME: &'static str = "get";
    const DESCRIPTION: &'static str = "Reads the record of `table` named by `sysId` or `number`, \
        or those matching the encoded `query`. Outputs the first one's `sysId`, `number`, \
        `record` and `url`, and all of them as `records` with their `count`.";
    type Config = GetConfig;
    type Output = GetOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("instanceUrl")]
    }

    fn run(config: GetConfig) -> Result<GetOutput, TaskError> {
        let client = config.connection.client()?;
        let table_path = table::table_path(&config.table)?;
        let limit = config.limit.to_string();
        let records = match (&config.sys_id, &config.number, &config.query) {
            (Some(sys_id), None, None) => {
                let sys_id = table::sys_id_segment(sys_id)?;
                let path = format!(
                    "{table_path}/{sys_id}{}",
                    table::query(&config.fields, config.display_value, &[])
                );
                vec![client.send("GET", &path, None, &format!("reading {} {sys_id}", config.table))?]
            }
            (None, Some(number), None) => {
                let condition = format!("number={number}");
                let extra = [("sysparm_query", condition.as_str()), ("sysparm_limit", "2")];
                let path =
                    format!("{table_path}{}", table::query(&config.fields, config.display_value, &extra));
                let found =
                    list(client.send("GET", &path, None, &format!("reading {} {number}", config.table))?);
                if found.is_empty() {
                    return Err(TaskError::failed(format!(
                        "no {} record has the number {number}",
                        config.table
                    )));
                }
                found
            }
            (None, None, Some(query)) => {
                let extra = [("sysparm_query", query.as_str()), ("sysparm_limit", limit.as_str())];
                let path =
                    format!("{table_path}{}", table::query(&config.fields, config.display_value, &extra));
                list(client.send("GET", &path, None, &format!("querying {}", config.table))?)
            }
            _ => return Err(TaskError::invalid_config("give one of `sysId`, `number` and `query`")),
        };
        sluice_plugin::info!("{} {} records", records.len(), config.table);
        let first = records.first().cloned().unwrap_or(Value::Null);
        let first = if first.is_null() {
            RecordOutput { sys_id: None, number: None, record: Value::Null, url: None }
        } else {
            RecordOutput::of(&client, &config.table, first)
        };
        Ok(GetOutput { first, count: records.len(), records })
    }
}

fn list(result: Value) -> Vec<Value> {
    match result {
        Value::Array(records) => records,
        Value::Null => Vec::new(),
        one => vec![one],
    }
}
