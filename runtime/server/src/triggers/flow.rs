//! `flow` triggers: when an execution that this process drives ends, start every flow whose
//! `flow` trigger names its flow and lists its final state, with the finished execution's
//! outputs as `trigger.outputs`.
//!
//! A chain of flow triggers (A ends, starts B, B ends, starts A...) is cut at
//! [`MAX_CHAIN_DEPTH`] executions: each trigger document carries its `depth`, and a start
//! that would exceed the cap is refused and logged, so a flow that triggers itself cannot loop
//! forever.

use std::collections::{HashSet, VecDeque};

use serde_json::{Value, json};
use sluice_engine::ExecutionRecord;
use sluice_engine::scheduler::Update;
use sluice_flow::TriggerKind;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};

use super::TriggerContext;
use super::fire::fire;

/// The longest chain of executions started by flow triggers from one execution.
pub const MAX_CHAIN_DEPTH: u64 = 16;

/// Finished executions remembered, so a terminal state reported twice triggers once.
const SEEN: usize = 4096;

pub async fn listen(ctx: TriggerContext, mut stop: watch::Receiver<bool>) {
    let mut updates = ctx.engine.subscribe();
    // Starting followers takes store reads and starts; a separate task does it so that this
    // loop only filters and keeps up with the engine's updates (log lines included).
    let (ended, mut to_start) = mpsc::unbounded_channel::<ExecutionRecord>();
    let worker = {
        let ctx = ctx.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let record = tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    record = to_start.recv() => record,
                };
                let Some(record) = record else { return };
                on_finished(&ctx, &record).await;
            }
        })
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut order: VecDeque<String> = VecDeque::new();
    loop {
        let update = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            update = updates.recv() => update,
        };
        let record = match update {
            Ok(Update::Execution(record)) if record.state.is_terminal() => record,
            Ok(_) => continue,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the flow-trigger listener fell behind; some flow triggers may not fire"
                );
                continue;
            }
            Err(RecvError::Closed) => break,
        };
        if !seen.insert(record.id.clone()) {
            continue;
        }
        order.push_back(record.id.clone());
        if order.len() > SEEN
            && let Some(old) = order.pop_front()
        {
            seen.remove(&old);
        }
        if ended.send(record).is_err() {
            break;
        }
    }
    drop(ended);
    let _ = worker.await;
}

fn depth_of(record: &ExecutionRecord) -> u64 {
    record.trigger.as_ref().filter(|t| t["type"] == "flow").and_then(|t| t["depth"].as_u64()).unwrap_or(0)
}

async fn on_finished(ctx: &TriggerContext, record: &ExecutionRecord) {
    let flows = ctx.triggers.index.flows(&ctx.engine).await;
    let depth = depth_of(record) + 1;
    for indexed in flows.iter() {
        for trigger in &indexed.flow.flow.triggers {
            let TriggerKind::Flow { namespace, flow_id, states } = &trigger.kind else { continue };
            if trigger.disabled
                || *namespace != record.namespace
                || *flow_id != record.flow_id
                || !states.iter().any(|s| s == record.state.as_str())
            {
                continue;
            }
            let target = format!("{}.{}", indexed.flow.flow.namespace, indexed.flow.flow.id);
            if depth > MAX_CHAIN_DEPTH {
                tracing::error!(
                    flow = %target,
                    trigger = %trigger.id,
                    execution = %record.id,
                    "not started: {MAX_CHAIN_DEPTH} executions in a row were started by flow triggers \
                     (a flow trigger loop?)"
                );
                continue;
            }
            let document = json!({
                "type": "flow",
                "id": trigger.id,
                "executionId": record.id,
                "namespace": record.namespace,
                "flowId": record.flow_id,
                "state": record.state,
                "outputs": record.outputs.clone().unwrap_or_else(|| Value::Object(Default::default())),
                "depth": depth,
            });
            match fire(
                &ctx.engine,
                &ctx.triggers.templates,
                indexed.flow.clone(),
                indexed.revision,
                trigger,
                document,
            )
            .await
            {
                Ok(handle) => tracing::info!(
                    flow = %target, trigger = %trigger.id, execution = %handle.id, after = %record.id,
                    "flow trigger started an execution"
                ),
                Err(error) => {
                    tracing::error!(flow = %target, trigger = %trigger.id, %error, "flow trigger failed")
                }
            }
        }
    }
}
