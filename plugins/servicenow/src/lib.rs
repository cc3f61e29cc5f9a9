//! sluice's servicenow tasks on the Table API (`/api/now/table/{table}`): `create`, `update`
//! and `get`, for incidents, change requests or any table. [`client`] holds the connection
//! (instance URL, basic auth or an OAuth token), sends with retries and turns ServiceNow's error
//! bodies into task errors; [`table`] the paths, `sysparm_*` parameters and the record outputs;
//! one file per task.

mod client;
mod create;
mod get;
mod table;
mod update;

sluice_plugin::plugin! {
    name: "servicenow",
    version: env!("CARGO_PKG_VERSION"),
    description: "Create, update and read ServiceNow records (incidents, change requests, any table) through the Table API.",
    tasks: [create::CreateTask, update::UpdateTask, get::GetTask],
}
