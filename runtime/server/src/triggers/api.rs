//! `GET /api/v1/flows/{namespace}/{id}/triggers`: a flow's triggers and, for schedules, what
//! the server has done with them (how far fire times are handled, the next one, the last
//! execution, how many were skipped because a run was still going).

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use chrono::SecondsFormat;
use serde_json::{Value, json};
use sluice_engine::{Store, TriggerKey};
use sluice_flow::TriggerKind;

use super::cron::Schedule;
use crate::error::{ApiError, BODY_FILE_NAME};
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((namespace, id)) = path?;
    let store = state.engine.store();
    let Some(stored) = store.get_flow(&namespace, &id, None).await? else {
        return Err(ApiError::NotFound(format!("no flow {namespace}.{id}")));
    };
    let parsed = sluice_flow::parse(BODY_FILE_NAME, &stored.source)
        .map_err(|d| ApiError::invalid_flow(&d, &stored.source))?;
    let mut out = Vec::new();
    for trigger in &parsed.flow.triggers {
        let mut doc = json!({"id": trigger.id, "disabled": trigger.disabled});
        match &trigger.kind {
            TriggerKind::Schedule { cron, timezone, recover_missed } => {
                doc["type"] = json!("schedule");
                doc["cron"] = json!(cron);
                doc["timezone"] = json!(timezone.as_deref().unwrap_or("UTC"));
                doc["recoverMissed"] = json!(recover_missed);
                let key = TriggerKey { namespace: &namespace, flow_id: &id, trigger_id: &trigger.id };
                let saved = store.schedule_state(key).await?;
                let from = saved.as_ref().map_or_else(chrono::Utc::now, |s| s.covered_until);
                let next = Schedule::parse(cron, timezone.as_deref()).ok().and_then(|s| s.next_after(from));
                let date = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                doc["coveredUntil"] = json!(saved.as_ref().map(|s| date(s.covered_until)));
                doc["nextDate"] = json!(next.map(date));
                doc["executionId"] = json!(saved.as_ref().and_then(|s| s.execution_id.clone()));
                doc["skipped"] = json!(saved.as_ref().map_or(0, |s| s.skipped));
            }
            TriggerKind::Webhook { key, signature } => {
                doc["type"] = json!("webhook");
                doc["path"] = json!(format!("/api/v1/webhooks/{namespace}/{id}/{key}"));
                doc["signature"] = json!(signature.as_ref().map(super::signature::header_name));
            }
            TriggerKind::Flow { namespace: ns, flow_id, states } => {
                doc["type"] = json!("flow");
                doc["namespace"] = json!(ns);
                doc["flowId"] = json!(flow_id);
                doc["states"] = json!(states);
            }
        }
        out.push(doc);
    }
    Ok(Json(Value::Array(out)))
}
