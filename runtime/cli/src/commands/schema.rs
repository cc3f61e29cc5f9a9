//! `sluice schema`: the JSON Schema of flow files, with the installed plugins' task types, for
//! editors (e.g. `# yaml-language-server: $schema=flow.schema.json` at the top of a flow).

use std::path::Path;

use sluice_engine::setup::EngineBuilder;

pub async fn run(data_dir: &Path) -> anyhow::Result<()> {
    let installed = EngineBuilder::load(data_dir).await?;
    let schema = sluice_flow::flow_json_schema(installed.plugins());
    crate::output::print(&serde_json::to_string_pretty(&schema)?)
}
