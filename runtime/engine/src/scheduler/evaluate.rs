//! Evaluating an execution's templates: the task fields the machine asks for (`runIf`,
//! conditions, switch values, `forEach` values, sleep durations, fail messages), the flow's
//! outputs, a plugin task's config and a subflow's inputs; and locating a template error at
//! its line and column in the flow file.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use sluice_flow::template::{Rendered, SecretAccess, TemplateError, Templates};
use sluice_flow::{LockedFlow, Task, TaskKind};

use super::context::ExecutionScope;
use super::dispatch::{self, now};
use crate::machine::{Evaluate, Evaluation, Event, Execution};
use crate::records::TaskRunKey;

/// What the templates of one execution are rendered with, borrowed from its driver.
pub(super) struct Evaluator<'a> {
    pub(super) templates: &'a Templates,
    pub(super) flow: &'a LockedFlow,
    pub(super) exec: &'a Execution,
    pub(super) scope: &'a ExecutionScope,
    pub(super) tasks: &'a HashMap<String, Arc<Task>>,
    /// Secret input values, kept out of what is stored.
    pub(super) redact: &'a [String],
}

impl Evaluator<'_> {
    /// Answers the machine's `Evaluate` command.
    pub(super) fn evaluate(&self, run: TaskRunKey, what: Evaluate) -> Event {
        // A fail message or an error is stored: keep secret input values out of it.
        let result = match self.evaluate_template(&run, what) {
            Ok(Evaluation::Text(text)) if what == Evaluate::FailMessage => {
                Ok(Evaluation::Text(dispatch::redact_text(&text, self.redact)))
            }
            Err(error) => Err(dispatch::redact_text(&error, self.redact)),
            other => other,
        };
        Event::Evaluated { run, now: now(), result }
    }

    fn evaluate_template(&self, run: &TaskRunKey, what: Evaluate) -> Result<Evaluation, String> {
        let task =
            self.tasks.get(&run.task).ok_or_else(|| format!("task `{}` is not in the flow", run.task))?;
        let ctx = self.scope.context(self.exec, Some(run), now());
        let templates = self.templates;
        let at = |field: &str| format!("{}/{field}", task.pointer);
        let located = |e: TemplateError| located(self.flow, &e);
        let text = |field: &str, template: &str| {
            templates.render_str(&at(field), template, &ctx, None).map(|r| r.value).map_err(located)
        };
        match (what, &task.kind) {
            (Evaluate::RunIf, _) => {
                let condition = task.run_if.as_deref().unwrap_or("true");
                templates
                    .eval_bool(&at("runIf"), condition, &ctx, None)
                    .map(Evaluation::Bool)
                    .map_err(located)
            }
            (Evaluate::IfCondition, TaskKind::If { condition, .. }) => templates
                .eval_bool(&at("condition"), condition, &ctx, None)
                .map(Evaluation::Bool)
                .map_err(located),
            (Evaluate::SwitchValue, TaskKind::Switch { value, .. }) => {
                text("value", value).map(Evaluation::Text)
            }
            (Evaluate::ForEachValues, TaskKind::ForEach { values, .. }) => {
                let rendered =
                    templates.render_value(&at("values"), values, &ctx, None).map_err(located)?.value;
                match rendered {
                    Value::Array(items) => Ok(Evaluation::List(items)),
                    Value::String(s) => match serde_json::from_str::<Value>(&s) {
                        Ok(Value::Array(items)) => Ok(Evaluation::List(items)),
                        _ => Err(self.located_at(
                            &at("values"),
                            format!("`values` must be a list, got the string `{s}`"),
                        )),
                    },
                    other => {
                        Err(self.located_at(&at("values"), format!("`values` must be a list, got {other}")))
                    }
                }
            }
            (Evaluate::SleepDuration, TaskKind::Sleep { duration }) => {
                let shown = text("duration", duration)?;
                sluice_flow::duration::parse_duration(&shown).map(Evaluation::Duration).map_err(|e| {
                    self.located_at(&at("duration"), format!("`{shown}` is not a duration: {e}"))
                })
            }
            (Evaluate::FailMessage, TaskKind::Fail { message }) => {
                text("message", message).map(Evaluation::Text)
            }
            (what, _) => Err(format!("task `{}` has nothing to evaluate for {what:?}", task.id)),
        }
    }

    /// `file:line:col: pointer: message` for a problem with a field of the flow.
    fn located_at(&self, pointer: &str, message: String) -> String {
        let error = TemplateError { location: pointer.to_owned(), message };
        located(self.flow, &error)
    }

    /// Answers the machine's `RenderOutputs` command: the flow's `outputs`, secret inputs
    /// redacted.
    pub(super) fn render_outputs(&self) -> Event {
        let outputs = &self.exec.flow().outputs;
        let ctx = self.scope.context(self.exec, None, now());
        let template = Value::Object(outputs.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        let result = self
            .templates
            .render_value("/outputs", &template, &ctx, None)
            .map(|r| {
                let mut outputs = r.value;
                dispatch::redact_value(&mut outputs, self.redact);
                outputs
            })
            .map_err(|e| located(self.flow, &e));
        Event::OutputsRendered { now: now(), result }
    }

    /// A plugin task's config for one attempt, with the secrets it may read (and did read).
    pub(super) fn task_config(
        &self,
        task: &Task,
        run: &TaskRunKey,
        config: &Map<String, Value>,
        access: &SecretAccess<'_>,
    ) -> Result<Rendered<Value>, String> {
        let ctx = self.scope.context(self.exec, Some(run), now());
        let config = Value::Object(config.clone());
        self.templates
            .render_value(&task.pointer, &config, &ctx, Some(access))
            .map_err(|e| located(self.flow, &e))
    }

    /// The inputs a `flow.subflow` task run passes to its child.
    pub(super) fn subflow_inputs(
        &self,
        task: &Task,
        run: &TaskRunKey,
        inputs: &Map<String, Value>,
    ) -> Result<Value, String> {
        let ctx = self.scope.context(self.exec, Some(run), now());
        self.templates
            .render_value(&format!("{}/inputs", task.pointer), &Value::Object(inputs.clone()), &ctx, None)
            .map(|rendered| rendered.value)
            .map_err(|e| located(self.flow, &e))
    }
}

/// A template error with the file position of the field it came from, when it names one:
/// `flow.yaml:14:14: /tasks/2/message: undefined variable ...`.
pub(super) fn located(flow: &LockedFlow, error: &TemplateError) -> String {
    let source = &flow.source;
    match source.locate(&error.location, false).filter(|_| error.location.starts_with('/')) {
        Some(span) => format!("{}:{}:{}: {error}", source.file_name(), span.start.0, span.start.1),
        None => error.to_string(),
    }
}
