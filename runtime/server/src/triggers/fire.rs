//! Starting an execution for a trigger: its `inputs` rendered with `trigger.*` in scope, then
//! [`sluice_engine::scheduler::Engine::start`] with the trigger's document as `trigger`, so
//! every trigger goes through the same start (inputs check, concurrency, disabled flows).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sluice_engine::scheduler::{Engine, ExecutionHandle, StartError, StartRequest};
use sluice_flow::inputs::RawInput;
use sluice_flow::template::{Context, Templates};
use sluice_flow::{LockedFlow, Trigger};

use sluice_governance::NewAuditEntry;

use crate::ServerStore;

#[derive(Debug, thiserror::Error)]
pub enum FireError {
    /// The trigger's `inputs` did not render against this trigger document.
    #[error("the inputs of trigger `{trigger}` cannot be rendered: {error}")]
    Inputs { trigger: String, error: String },
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Renders the trigger's inputs against `document` (which becomes `trigger` in templates)
/// and starts the flow.
pub async fn fire(
    engine: &Engine<ServerStore>,
    templates: &Templates,
    flow: LockedFlow,
    revision: u32,
    trigger: &Trigger,
    document: Value,
) -> Result<ExecutionHandle, FireError> {
    let context = Context {
        flow: json!({"id": flow.flow.id, "namespace": flow.flow.namespace, "revision": revision}),
        trigger: document.clone(),
        now: chrono::Utc::now(),
        ..Context::default()
    };
    let name = format!("triggers.{}.inputs", trigger.id);
    let rendered = templates
        .render_value(&name, &Value::Object(trigger.inputs.clone()), &context, None)
        .map_err(|e| FireError::Inputs { trigger: trigger.id.clone(), error: e.to_string() })?;
    let inputs: BTreeMap<String, RawInput> = match rendered.value {
        Value::Object(map) => map.into_iter().map(|(k, v)| (k, RawInput::Json(v))).collect(),
        _ => BTreeMap::new(),
    };
    let request = StartRequest {
        flow,
        revision,
        inputs,
        labels: BTreeMap::new(),
        trigger: Some(document),
        parent: None,
    };
    let (namespace, flow_id) = (request.flow.flow.namespace.clone(), request.flow.flow.id.clone());
    let handle = engine.start(request).await?;
    let entry = NewAuditEntry::now(
        format!("trigger:{namespace}.{flow_id}/{}", trigger.id),
        "execution.start",
        format!("execution:{}", handle.id),
        json!({"flow": format!("{namespace}.{flow_id}"), "revision": revision}),
    );
    crate::audit::append(engine.store(), entry).await;
    Ok(handle)
}
