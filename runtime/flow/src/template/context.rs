//! What a template can see.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::value::{Object, ObjectRepr, Serde};
use minijinja::{Error, ErrorKind, State, Value as Jinja};
use serde_json::{Value, json};

use super::secrets::SecretVault;

/// The variables of one render, all JSON.
#[derive(Clone)]
pub struct Context {
    /// The execution's inputs, by input id.
    pub inputs: Value,
    /// The flow's `variables`, already rendered.
    pub vars: Value,
    /// Task id -> that task's outputs.
    pub outputs: Value,
    /// `{id, namespace, revision}`.
    pub flow: Value,
    /// `{id, startDate, url}`: `startDate` in RFC 3339, `url` the execution's page under the
    /// server's public URL (null without one).
    pub execution: Value,
    /// `{value, iteration, attempt}`; `value` and `iteration` only inside a `flow.forEach`.
    pub taskrun: Value,
    pub working_dir: String,
    /// What started the execution; `null` when it was started by hand.
    pub trigger: Value,
    /// What `now()` returns, so a render is a function of its context.
    pub now: DateTime<Utc>,
}

impl Default for Context {
    /// Empty objects everywhere, no trigger, and the Unix epoch as `now`.
    fn default() -> Self {
        Self {
            inputs: json!({}),
            vars: json!({}),
            outputs: json!({}),
            flow: json!({}),
            execution: json!({}),
            taskrun: json!({}),
            working_dir: String::new(),
            trigger: Value::Null,
            now: DateTime::UNIX_EPOCH,
        }
    }
}

/// The variable under which a render's [`RenderScope`] travels. Not a root users can name
/// (the static check reports it as unknown and a render refuses it).
pub(super) const SCOPE_VARIABLE: &str = "__sluice_render_scope";

/// Per-render state the template functions need, carried as an opaque value in the context
/// because the environment (and its functions) is shared by every render.
pub(super) struct RenderScope {
    pub now: String,
    pub secrets: SecretVault,
}

impl fmt::Debug for RenderScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderScope").field("now", &self.now).field("secrets", &self.secrets).finish()
    }
}

impl Object for RenderScope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<render scope>")
    }
}

impl Context {
    /// The root value of a render: the context's roots plus the scope.
    pub(super) fn to_jinja(&self, secrets: SecretVault) -> (Jinja, Arc<RenderScope>) {
        let scope =
            Arc::new(RenderScope { now: self.now.to_rfc3339_opts(SecondsFormat::AutoSi, true), secrets });
        let root = Jinja::from_pairs([
            ("inputs", Jinja::from(Serde(&self.inputs))),
            ("vars", Jinja::from(Serde(&self.vars))),
            ("outputs", Jinja::from(Serde(&self.outputs))),
            ("flow", Jinja::from(Serde(&self.flow))),
            ("execution", Jinja::from(Serde(&self.execution))),
            ("taskrun", Jinja::from(Serde(&self.taskrun))),
            ("workingDir", Jinja::from(self.working_dir.as_str())),
            ("trigger", Jinja::from(Serde(&self.trigger))),
            (SCOPE_VARIABLE, Jinja::from_dyn_object(scope.clone())),
        ]);
        (root, scope)
    }
}

/// The scope of the render `state` belongs to.
pub(super) fn scope(state: &State<'_, '_>) -> Result<Arc<RenderScope>, Error> {
    state
        .lookup(SCOPE_VARIABLE)
        .and_then(|value| value.downcast_object::<RenderScope>())
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "secret() and now() need a flow context"))
}

/// The template function `now()`: the context's time, RFC 3339 in UTC.
pub(super) fn now(state: &State<'_, '_>) -> Result<String, Error> {
    Ok(scope(state)?.now.clone())
}
