//! Starting the child execution of a `flow.subflow` task: the newest stored revision of the
//! named flow, validated against the installed plugins, with the task's rendered inputs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sluice_flow::inputs::RawInput;

use super::{ExecutionHandle, Shared, StartRequest};
use crate::records::TaskRunKey;
use crate::store::Store;

pub(crate) async fn start<S: Store>(
    shared: Arc<Shared<S>>,
    namespace: &str,
    flow_id: &str,
    inputs: Value,
    parent: (String, TaskRunKey),
) -> Result<ExecutionHandle, String> {
    let stored = shared
        .store
        .get_flow(namespace, flow_id, None)
        .await
        .map_err(|e| format!("cannot read flow {namespace}.{flow_id}: {e}"))?
        .ok_or_else(|| {
            format!("flow {namespace}.{flow_id} does not exist; deploy it before running this subflow")
        })?;
    let file_name = format!("{namespace}.{flow_id} (revision {})", stored.revision);
    let locked = sluice_flow::load(&file_name, &stored.source, &shared.plugins).map_err(|diagnostics| {
        format!(
            "flow {namespace}.{flow_id} is not valid:\n{}",
            sluice_flow::render(&diagnostics, &file_name, &stored.source)
        )
    })?;
    let inputs: BTreeMap<String, RawInput> = match inputs {
        Value::Object(map) => map.into_iter().map(|(k, v)| (k, RawInput::Json(v))).collect(),
        Value::Null => BTreeMap::new(),
        other => return Err(format!("subflow inputs must be a mapping, got {other}")),
    };
    let request = StartRequest {
        flow: locked,
        revision: stored.revision,
        inputs,
        labels: BTreeMap::new(),
        trigger: Some(
            serde_json::json!({"type": "subflow", "executionId": parent.0, "taskRun": parent.1.to_string()}),
        ),
        parent: Some(parent),
    };
    super::driver::start(shared, request).await.map_err(|e| e.to_string())
}
