//! `servicenow.update`: `PATCH /api/now/table/{table}/{sys_id}`, the record named by its
//! `sys_id` or found by its `number`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_plugin::{Capability, Task, TaskError};

use crate::client::Connection;
use crate::table::{self, DisplayValue, RecordOutput};

pub struct UpdateTask;

/// Config of `servicenow.update`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct UpdateConfig {
    #[serde(flatten)]
    connection: Connection,
    /// The table: `incident`, `change_request`, or any other.
    table: String,
    /// The record's `sys_id` (e.g. `{{ outputs.open_change.sysId }}`).
    #[serde(default)]
    sys_id: Option<String>,
    /// The record's `number` instead of `sysId` (`CHG0030001`); looked up first.
    #[serde(default)]
    number: Option<String>,
    /// The fields to change, by column name: `state: "3"`, `close_code`, `close_notes`, ...
    values: BTreeMap<String, Value>,
    /// The fields to return (`sysparm_fields`; default: all).
    #[serde(default)]
    fields: Vec<String>,
    /// How reference and choice fields come back (`sysparm_display_value`).
    #[serde(default)]
    display_value: Option<DisplayValue>,
}

impl Task for UpdateTask {
    const NAME: &'static str = "update";
    const DESCRIPTION: &'static str = "Changes `values` of the record of `table` named by `sysId` \
        (or found by its `number`). Outputs its `sysId`, `number`, the `record` as returned and \
        its `url`.";
    type Config = UpdateConfig;
    type Output = RecordOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("instanceUrl")]
    }

    fn run(config: UpdateConfig) -> Result<RecordOutput, TaskError> {
        let client = config.connection.client()?;
        let table_path = table::table_path(&config.table)?;
        let sys_id = match (&config.sys_id, &config.number) {
            (Some(sys_id), None) => table::sys_id_segment(sys_id)?.to_string(),
            (None, Some(number)) => table::sys_id_of_number(&client, &config.table, number)?,
            _ => return Err(TaskError::invalid_config("give one of `sysId` and `number`")),
        };
        let query = table::query(&config.fields, config.display_value, &[]);
        let path = format!("{table_path}/{sys_id}{query}");
        let body = serde_json::to_value(&config.values).map_err(|err| TaskError::failed(err.to_string()))?;
        let what = format!("updating {} {}", config.table, config.number.as_deref().unwrap_or(&sys_id));
        let record = client.send("PATCH", &path, Some(&body), &what)?;
        let output = RecordOutput::of(&client, &config.table, record);
        let changed: Vec<&str> = config.values.keys().map(String::as_str).collect();
        let name = output.number.as_deref().unwrap_or(&sys_id);
        sluice_plugin::info!("updated {} {name}: {}", config.table, changed.join(", "));
        Ok(output)
    }
}
