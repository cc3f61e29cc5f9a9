//! `servicenow.create`: `POST /api/now/table/{table}`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_plugin::{Capability, Task, TaskError};

use crate::client::Connection;
use crate::table::{self, DisplayValue, RecordOutput};

pub struct CreateTask;

/// Config of `servicenow.create`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct CreateConfig {
    #[serde(flatten)]
    connection: Connection,
    /// The table: `incident`, `change_request`, or any other.
    table: String,
    /// The new record's fields, by column name: `short_description`, `assignment_group`, ...
    values: BTreeMap<String, Value>,
    /// The fields to return (`sysparm_fields`; default: all).
    #[serde(default)]
    fields: Vec<String>,
    /// How reference and choice fields come back (`sysparm_display_value`: `false`, `true`,
    /// `all`).
    #[serde(default)]
    display_value: Option<DisplayValue>,
}

impl Task for CreateTask {
    const NAME: &'static str = "create";
    const DESCRIPTION: &'static str = "Creates a record in `table` (`incident`, `change_request`, \
        any table) with `values`. Outputs its `sysId`, `number`, the `record` as returned and its \
        `url`.";
    type Config = CreateConfig;
    type Output = RecordOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("instanceUrl")]
    }

    fn run(config: CreateConfig) -> Result<RecordOutput, TaskError> {
        let client = config.connection.client()?;
        let path = format!(
            "{}{}",
            table::table_path(&config.table)?,
            table::query(&config.fields, config.display_value, &[])
        );
        let body = serde_json::to_value(&config.values).map_err(|err| TaskError::failed(err.to_string()))?;
        let record =
            client.send("POST", &path, Some(&body), &format!("creating a {} record", config.table))?;
        let output = RecordOutput::of(&client, &config.table, record);
        let name = output.number.as_deref().or(output.sys_id.as_deref()).unwrap_or("a record");
        sluice_plugin::info!("created {} {name}", config.table);
        Ok(output)
    }
}
