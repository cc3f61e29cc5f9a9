//! The context capability: what a run is told about the execution it belongs to (the `context`
//! interface), so a task that reports on it can say which flow ran, how it went and where to
//! look. The engine builds the document ([`RunRequest::execution`](crate::RunRequest)); the
//! sandbox redacts the run's secrets from it once, when the run starts, as it does for logs:
//! an earlier task's error may quote a secret this run was given.

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::sluice::plugin::context;
use crate::capabilities::secrets::Redactor;
use crate::state::RunState;

/// Links the `context` interface.
pub(crate) fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    context::add_to_linker::<RunState, HasSelf<RunState>>(linker, |s| s)
}

/// The JSON text a run's `execution()` answers: the document with every secret value of the
/// run replaced, or None without an execution.
pub(crate) fn document(execution: Option<&serde_json::Value>, secrets: &[String]) -> Option<String> {
    let mut value = execution?.clone();
    Redactor::new(secrets).redact_json(&mut value);
    Some(value.to_string())
}

impl context::Host for RunState {
    fn execution(&mut self) -> Option<String> {
        self.execution.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_no_execution_is_none() {
        let doc = serde_json::json!({"error": "token s3cr3t refused", "flowId": "f"});
        let text = document(Some(&doc), &["s3cr3t".into()]).expect("a document");
        assert_eq!(text, r#"{"error":"token ****** refused","flowId":"f"}"#);
        assert_eq!(document(None, &["s3cr3t".into()]), None);
    }
}
