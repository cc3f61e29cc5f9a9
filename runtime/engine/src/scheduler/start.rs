//! Starting an execution: its inputs checked and typed, its `file` inputs copied into the
//! workspace, its `variables` rendered, and its driver registered as live and spawned (or the
//! execution handed to the nodes that run executions, see `hand_off`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};

use serde_json::{Map, Value};
use sluice_flow::inputs::{check_inputs, redact_inputs, secret_values};
use sluice_flow::{InputType, LockedFlow};

use super::context::ExecutionScope;
use super::dispatch::now;
use super::driver::{Begin, Driver, Hold};
use super::evaluate::located;
use super::hand_off;
use super::workspace::workspace_dir;
use super::{ExecutionHandle, Shared, StartError, StartRequest};
use crate::machine::Execution;
use crate::records::{ExecutionRecord, ExecutionState};
use crate::store::Store;

pub(crate) async fn start<S: Store>(
    shared: Arc<Shared<S>>,
    request: StartRequest,
) -> Result<ExecutionHandle, StartError> {
    if shared.drain.is_draining() {
        return Err(StartError::ShuttingDown);
    }
    let flow = request.flow.flow.clone();
    if flow.disabled {
        return Err(StartError::Disabled(format!("{}.{}", flow.namespace, flow.id)));
    }
    let mut typed = check_inputs(&flow.inputs, request.inputs).map_err(StartError::Inputs)?;
    let wanted = flow.worker_tags();
    let here = hand_off::runs_here(&shared, &wanted);
    if !here {
        hand_off::refuse_secret_inputs(&flow, &typed)?;
    }
    let id = uuid::Uuid::now_v7().to_string();
    let workspace = workspace_dir(&shared.config.workspaces, &id);
    tokio::fs::create_dir_all(&workspace)
        .await
        .map_err(|error| StartError::Workspace { path: workspace.clone(), error })?;
    copy_file_inputs(&shared, &id, &flow.inputs, &mut typed, &workspace).await?;

    let mut labels = flow.labels.clone();
    labels.extend(request.labels);
    let created = now();
    let record = ExecutionRecord {
        id: id.clone(),
        namespace: flow.namespace.clone(),
        flow_id: flow.id.clone(),
        revision: request.revision,
        state: ExecutionState::Created,
        inputs: Value::Object(redact_inputs(&flow.inputs, &typed)),
        outputs: None,
        error: None,
        labels,
        parent: request.parent,
        trigger: request.trigger,
        created_at: created,
        started_at: None,
        ended_at: None,
    };
    if !wanted.is_empty() {
        shared.store.set_worker_tags(&id, &wanted).await?;
    }
    if !here {
        return hand_off::hand_off(&shared, record, &workspace).await;
    }
    let exec = Execution::new(flow.clone(), record.clone());
    let redact = secret_values(&flow.inputs, &typed);
    let mut scope = ExecutionScope::new(&exec, typed, created);
    scope.set_public_url(shared.config.public_url.as_deref());
    let variables = render_variables(&shared, &request.flow, &exec, &mut scope);
    let hold = Hold { workspace, lease: shared.new_lease(&id) };
    Ok(spawn_driver(shared, request.flow, exec, scope, hold, redact, Begin::New { variables }))
}

/// Registers the execution as live and starts its driver.
pub(crate) fn spawn_driver<S: Store>(
    shared: Arc<Shared<S>>,
    flow: LockedFlow,
    exec: Execution,
    scope: ExecutionScope,
    hold: Hold,
    redact: Vec<String>,
    begin: Begin,
) -> ExecutionHandle {
    let id = exec.record().id.clone();
    let (driver, live) = Driver::new(shared.clone(), flow, exec, scope, hold, redact);
    let done = live.done.clone();
    let recorded = live.recorded.clone();
    shared.live.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), live);
    tokio::spawn(driver.run(begin));
    ExecutionHandle { id, done, recorded }
}

/// Copies each `file` input into the workspace (`inputs/<id>/<file name>`), records it as an
/// artifact, and replaces the input's value with the path the tasks see.
async fn copy_file_inputs<S: Store>(
    shared: &Shared<S>,
    execution_id: &str,
    declared: &[sluice_flow::Input],
    typed: &mut Map<String, Value>,
    workspace: &Path,
) -> Result<(), StartError> {
    for decl in declared.iter().filter(|d| d.kind == InputType::File) {
        let Some(Value::String(source)) = typed.get(&decl.id).cloned() else { continue };
        let source = PathBuf::from(source);
        let file_name =
            source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
        let relative = format!("inputs/{}/{file_name}", decl.id);
        let io = |error| StartError::Workspace { path: source.clone(), error };
        let bytes = tokio::fs::read(&source).await.map_err(io)?;
        let target = workspace.join(&relative);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        tokio::fs::write(&target, &bytes).await.map_err(io)?;
        let artifact = shared.store.put_artifact(&bytes).await?;
        shared.store.attach_artifact(execution_id, None, &relative, &artifact).await?;
        typed.insert(
            decl.id.clone(),
            Value::String(format!("{}/{relative}", sluice_sandbox::GUEST_WORKSPACE)),
        );
    }
    Ok(())
}

/// Renders the flow's `variables` once. A variable may use others, in any order: each pass
/// renders what it can, until all are rendered or a pass makes no progress (then the first
/// error is reported, e.g. a cycle or an undefined name).
pub(crate) fn render_variables<S: Store>(
    shared: &Shared<S>,
    flow: &LockedFlow,
    exec: &Execution,
    scope: &mut ExecutionScope,
) -> Result<(), String> {
    let mut pending: Vec<(&String, &Value)> = exec.flow().variables.iter().collect();
    let mut vars = Map::new();
    while !pending.is_empty() {
        let mut first_error = None;
        let before = pending.len();
        let mut still = Vec::new();
        for (name, value) in pending {
            let ctx = scope.context(exec, None, now());
            match shared.templates.render_value(&format!("/variables/{name}"), value, &ctx, None) {
                Ok(rendered) => {
                    vars.insert(name.clone(), rendered.value);
                    scope.vars = Value::Object(vars.clone());
                }
                Err(error) => {
                    first_error.get_or_insert_with(|| located(flow, &error));
                    still.push((name, value));
                }
            }
        }
        if still.len() == before {
            return Err(first_error.unwrap_or_default());
        }
        pending = still;
    }
    Ok(())
}
