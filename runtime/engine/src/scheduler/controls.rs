//! Kills and resumes wherever the execution runs. One driven here gets the message at once;
//! one driven by another node (a cluster behind one load balancer answers on any server) gets
//! it through the store: the request is left there, and the holder's lease keeper takes and
//! applies it on its next round. A resume is checked here first, against the execution as
//! stored, so a wrong one is refused to the caller either way.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sluice_flow::inputs::{RawInput, check_inputs};

use super::dispatch::now;
use super::driver::Control;
use super::recover::pinned_flow;
use super::{Engine, ResumeError, Shared};
use crate::machine::{Event, Execution};
use crate::records::TaskRunKey;
use crate::store::{Store, StoreError};

impl<S: Store> Engine<S> {
    /// Asks a running execution to stop, wherever it runs. False when it is not running
    /// (ended, or unknown).
    pub async fn kill_anywhere(&self, execution_id: &str) -> Result<bool, StoreError> {
        if self.kill(execution_id) {
            return Ok(true);
        }
        match self.shared.store.get_execution(execution_id).await? {
            Some(record) if !record.state.is_terminal() => {
                self.shared.store.send_control(execution_id, &json!({"kill": {}})).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Resumes a paused task (the only paused one when `run` is None) with inputs typed
    /// against its `onResume` declarations, wherever the execution runs. The error says what
    /// was wrong.
    pub async fn resume(
        &self,
        execution_id: &str,
        run: Option<TaskRunKey>,
        inputs: BTreeMap<String, RawInput>,
    ) -> Result<(), ResumeError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let control = Control::Resume { run, inputs, reply };
        match self.shared.control_or_return(execution_id, control) {
            None => answer.await.unwrap_or_else(|_| Err(ResumeError::Ended(execution_id.to_owned()))),
            Some(Control::Resume { run, inputs, .. }) => {
                resume_elsewhere(&self.shared, execution_id, run, inputs).await
            }
            Some(_) => unreachable!("the control given back is the one sent"),
        }
    }
}

/// Checks the resume against the stored execution and leaves it for the node driving it.
async fn resume_elsewhere<S: Store>(
    shared: &Shared<S>,
    execution_id: &str,
    run: Option<TaskRunKey>,
    inputs: BTreeMap<String, RawInput>,
) -> Result<(), ResumeError> {
    let not_running = || ResumeError::NotRunning(execution_id.to_owned());
    let record = shared.store.get_execution(execution_id).await.map_err(ResumeError::Store)?;
    let record = record.filter(|r| !r.state.is_terminal()).ok_or_else(not_running)?;
    let locked =
        pinned_flow(shared, &record).await.map_err(ResumeError::Store)?.map_err(|_| not_running())?;
    let runs = shared.store.task_runs(execution_id).await.map_err(ResumeError::Store)?;
    let (exec, _) = Execution::restore(locked.flow.clone(), record, runs, now());
    let (run, inputs) = resume_of(&exec, run, inputs)?;
    let control = json!({"resume": {"run": run.to_string(), "inputs": inputs}});
    shared.store.send_control(execution_id, &control).await.map_err(ResumeError::Store)
}

/// The resume event for `run` (the only paused run when None), its inputs typed against the
/// run's `onResume` declarations.
pub(crate) fn resume_event(
    exec: &Execution,
    run: Option<TaskRunKey>,
    inputs: BTreeMap<String, RawInput>,
) -> Result<Event, ResumeError> {
    let (run, inputs) = resume_of(exec, run, inputs)?;
    Ok(Event::Resume { run: Some(run), now: now(), inputs })
}

/// The run to resume and its typed inputs.
fn resume_of(
    exec: &Execution,
    run: Option<TaskRunKey>,
    inputs: BTreeMap<String, RawInput>,
) -> Result<(TaskRunKey, Value), ResumeError> {
    let paused: Vec<&TaskRunKey> = exec
        .task_runs()
        .filter(|r| !r.state.is_terminal() && exec.pause_inputs(&r.key).is_some())
        .map(|r| &r.key)
        .collect();
    let key = match run {
        Some(key) if paused.contains(&&key) => key,
        Some(key) => return Err(ResumeError::NotPaused(key)),
        None => match paused.as_slice() {
            [only] => (*only).clone(),
            [] => return Err(ResumeError::NothingPaused),
            many => return Err(ResumeError::SeveralPaused(many.iter().map(|&k| k.clone()).collect())),
        },
    };
    let declared = exec.pause_inputs(&key).unwrap_or_default();
    let typed = check_inputs(declared, inputs).map_err(ResumeError::Inputs)?;
    Ok((key, Value::Object(typed)))
}

/// Applies the requests other nodes left for the executions driven here.
pub(crate) async fn apply_controls<S: Store>(
    shared: &Shared<S>,
    driven: Vec<String>,
) -> Result<(), StoreError> {
    for (id, control) in shared.store.take_controls(&driven).await? {
        match decode(&control) {
            Some(event) => {
                tracing::info!(execution = %id, "applying a request made on another server");
                shared.control(&id, Control::Event(event));
            }
            None => {
                tracing::warn!(execution = %id, "ignoring a control request this sluice does not know: {control}")
            }
        }
    }
    Ok(())
}

fn decode(control: &Value) -> Option<Event> {
    if control.get("kill").is_some() {
        return Some(Event::Kill { now: now() });
    }
    let resume = control.get("resume")?;
    let run = resume.get("run")?.as_str()?.parse().ok()?;
    Some(Event::Resume { run: Some(run), now: now(), inputs: resume.get("inputs")?.clone() })
}
