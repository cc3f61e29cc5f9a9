//! Rendering templated fields: strings, JSON values and conditions.

use std::fmt;
use std::sync::Arc;

use minijinja::{Environment, ErrorKind, Value as Jinja};
use serde_json::Value;

use super::context::{Context, RenderScope, SCOPE_VARIABLE};
use super::environment::find_undefined;
use super::error::{TemplateError, describe};
use super::output_limit::{LimitedCounter, LimitedWriter};
use super::secret_calls::secret_calls;
use super::secrets::{SecretAccess, SecretRefusal, SecretVault};
use super::shape::{Condition, condition, is_template, string_truth, whole_expression};
use super::{MAX_OUTPUT_BYTES, Templates};

/// A render's result and the secret values it read.
#[derive(Clone, PartialEq)]
pub struct Rendered<T> {
    pub value: T,
    /// The secret values read, so the caller can redact them from logs and outputs.
    pub secrets: Vec<String>,
}

impl<T: fmt::Debug> fmt::Debug for Rendered<T> {
    /// Secret values are never printed, only counted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendered").field("value", &self.value).field("secrets", &self.secrets.len()).finish()
    }
}

impl Templates {
    /// Renders a template to text. `name` says what is rendered (`tasks.build.url`,
    /// `/tasks/2/url`) and is the error's location.
    pub fn render_str(
        &self,
        name: &str,
        template: &str,
        ctx: &Context,
        secrets: Option<&SecretAccess<'_>>,
    ) -> Result<Rendered<String>, TemplateError> {
        let mut run = Run::start(&self.env, [(name, template)], ctx, secrets)?;
        let value = run.text(name, template)?;
        Ok(run.finish(value))
    }

    /// Walks a JSON value and renders every string in it. A string that is exactly one
    /// `{{ expr }}` (whitespace around allowed) keeps the expression's native JSON type (so
    /// `values: "{{ outputs.list.items }}"` is a list and `count: "{{ inputs.n }}"` a number);
    /// other strings render to strings. Object keys are not rendered. An error's location is
    /// `name` extended to the failing string (`/tasks/2/headers/0`, `tasks.build.headers[0]`).
    pub fn render_value(
        &self,
        name: &str,
        value: &Value,
        ctx: &Context,
        secrets: Option<&SecretAccess<'_>>,
    ) -> Result<Rendered<Value>, TemplateError> {
        let mut strings = Vec::new();
        collect_strings(name, value, &mut strings);
        let mut run = Run::start(&self.env, strings.iter().map(|(n, s)| (n.as_str(), *s)), ctx, secrets)?;
        let value = run.value(name, value)?;
        Ok(run.finish(value))
    }

    /// A condition: a template (`{{ inputs.deploy }}`) or a bare expression
    /// (`inputs.deploy and outputs.test.passed`), true by Jinja's rules, except that the
    /// strings "false", "0", "" and "no" (any case, trimmed) are false.
    pub fn eval_bool(
        &self,
        name: &str,
        text: &str,
        ctx: &Context,
        secrets: Option<&SecretAccess<'_>>,
    ) -> Result<bool, TemplateError> {
        let source = match condition(text) {
            Condition::Literal(value) => return Ok(value),
            Condition::Template(source) => source,
        };
        let mut run = Run::start(&self.env, [(name, source.as_ref())], ctx, secrets)?;
        Ok(match run.evaluate(name, &source)? {
            Evaluated::Native(value) => match value.as_str() {
                Some(text) => string_truth(text),
                None => value.is_true(),
            },
            Evaluated::Text(text) => string_truth(&text),
        })
    }
}

/// What a template produced: a value (from a whole-expression string) or text.
enum Evaluated {
    Native(Jinja),
    Text(String),
}

/// One render call: the context, the secrets fetched for it and the output budget left.
struct Run<'env> {
    env: &'env Environment<'static>,
    root: Jinja,
    scope: Arc<RenderScope>,
    budget: usize,
}

impl<'env> Run<'env> {
    /// Fetches the secrets the given templates name, then sets up the context.
    fn start<'s>(
        env: &'env Environment<'static>,
        templates: impl IntoIterator<Item = (&'s str, &'s str)>,
        ctx: &Context,
        access: Option<&SecretAccess<'_>>,
    ) -> Result<Self, TemplateError> {
        let mut names = Vec::new();
        for (location, source) in templates {
            names.extend(secret_names(env, location, source)?);
        }
        let vault = SecretVault::prefetch(access, names.iter().map(String::as_str));
        let (root, scope) = ctx.to_jinja(vault);
        Ok(Self { env, root, scope, budget: MAX_OUTPUT_BYTES })
    }

    fn finish<T>(self, value: T) -> Rendered<T> {
        Rendered { value, secrets: self.scope.secrets.values_read() }
    }

    fn value(&mut self, location: &str, value: &Value) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(text) => match self.evaluate(location, text)? {
                Evaluated::Native(value) => self.native_json(location, &value)?,
                Evaluated::Text(text) => Value::String(text),
            },
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| self.value(&child_location(location, Step::Index(index)), item))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, item)| {
                        Ok((key.clone(), self.value(&child_location(location, Step::Key(key)), item)?))
                    })
                    .collect::<Result<_, TemplateError>>()?,
            ),
            Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
        })
    }

    fn evaluate(&mut self, location: &str, source: &str) -> Result<Evaluated, TemplateError> {
        if let Some((expression, offset)) = whole_expression(source) {
            // A string that does not compile as an expression is reported as a template.
            if let Ok(compiled) = self.env.compile_expression(expression) {
                match compiled.eval(self.root.clone()) {
                    Ok(value) if find_undefined(&value, 0).is_none() => return Ok(Evaluated::Native(value)),
                    // minijinja names the undefined expression only in a render's errors.
                    Ok(_) => {}
                    Err(err) if err.kind() == ErrorKind::UndefinedError => {}
                    Err(err) => {
                        let line_offset = source[..offset].matches('\n').count();
                        return Err(TemplateError::new(location, describe(&err, source, line_offset)));
                    }
                }
                self.text(location, source)?;
                return Err(TemplateError::new(location, "undefined value"));
            }
        }
        self.text(location, source).map(Evaluated::Text)
    }

    fn text(&mut self, location: &str, source: &str) -> Result<String, TemplateError> {
        if !is_template(source) {
            return Ok(source.to_string());
        }
        let fail = |err: minijinja::Error| TemplateError::new(location, describe(&err, source, 0));
        let template = self.env.template_from_named_str(location, source).map_err(fail)?;
        let mut out = LimitedWriter::new(self.budget);
        if let Err(err) = template.render_captured_to(self.root.clone(), &mut out) {
            return Err(match out.overflowed {
                true => too_large(location),
                false => fail(err),
            });
        }
        self.budget -= out.bytes.len();
        String::from_utf8(out.bytes)
            .map_err(|_| TemplateError::new(location, "the template produced invalid UTF-8"))
    }

    /// A native result as JSON, counted against the output budget.
    fn native_json(&mut self, location: &str, value: &Jinja) -> Result<Value, TemplateError> {
        let mut counter = LimitedCounter::new(self.budget);
        if serde_json::to_writer(&mut counter, value).is_err() && counter.count > self.budget {
            return Err(too_large(location));
        }
        let json = serde_json::to_value(value).map_err(|err| {
            TemplateError::new(location, format!("the value cannot be represented as JSON: {err}"))
        })?;
        self.budget -= counter.count;
        Ok(json)
    }
}

fn too_large(location: &str) -> TemplateError {
    TemplateError::new(location, format!("the rendered output is larger than {} MiB", MAX_OUTPUT_BYTES >> 20))
}

/// The secrets a template names, found statically so they can be fetched before rendering.
/// Also refuses the scope variable, which a template must not reach.
fn secret_names(
    env: &Environment<'static>,
    location: &str,
    source: &str,
) -> Result<Vec<String>, TemplateError> {
    if source.contains(SCOPE_VARIABLE) {
        return Err(TemplateError::new(location, format!("undefined variable `{SCOPE_VARIABLE}`")));
    }
    if !is_template(source) || !source.contains("secret") {
        return Ok(Vec::new());
    }
    let template = env
        .template_from_named_str(location, source)
        .map_err(|err| TemplateError::new(location, describe(&err, source, 0)))?;
    // `{% set secret = ... %}` shadows the function; then there is nothing to fetch.
    if !template.undeclared_variables(false).contains("secret") {
        return Ok(Vec::new());
    }
    let calls = secret_calls(source)
        .map_err(|_| TemplateError::new(location, SecretRefusal::NotLiteral.to_string()))?;
    Ok(calls.into_iter().map(|call| call.name).collect())
}

/// Every templated string in a JSON value, with its location.
fn collect_strings<'v>(location: &str, value: &'v Value, out: &mut Vec<(String, &'v str)>) {
    match value {
        Value::String(text) if is_template(text) => out.push((location.to_string(), text)),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_strings(&child_location(location, Step::Index(index)), item, out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect_strings(&child_location(location, Step::Key(key)), item, out);
            }
        }
        _ => {}
    }
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A JSON pointer location gets a pointer step (RFC 6901 escaped); a dotted one a dot or
/// index.
fn child_location(parent: &str, step: Step<'_>) -> String {
    let pointer = parent.is_empty() || parent.starts_with('/');
    match step {
        Step::Key(key) if pointer => format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1")),
        Step::Key(key) => format!("{parent}.{key}"),
        Step::Index(index) if pointer => format!("{parent}/{index}"),
        Step::Index(index) => format!("{parent}[{index}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_locations_follow_the_style_of_the_parent() {
        assert_eq!(child_location("/tasks/2", Step::Key("a/b~c")), "/tasks/2/a~1b~0c");
        assert_eq!(child_location("/tasks/2/list", Step::Index(3)), "/tasks/2/list/3");
        assert_eq!(child_location("", Step::Key("url")), "/url");
        assert_eq!(child_location("tasks.build", Step::Key("url")), "tasks.build.url");
        assert_eq!(child_location("tasks.build.list", Step::Index(0)), "tasks.build.list[0]");
    }
}
