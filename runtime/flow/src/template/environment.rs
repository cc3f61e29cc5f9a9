//! The one minijinja environment every template runs in.

use minijinja::value::{Serde, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, Value, escape_formatter};

use super::FUEL;
use super::context::now;
use super::secrets::secret;

pub(super) fn build() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    // Flow fields are commands, URLs and JSON, never HTML.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // Debug mode is what makes minijinja name the undefined expression in an error. The debug
    // info it also attaches (context values) is dropped with the error: a `TemplateError` is
    // built from the kind, detail and line only.
    env.set_debug(true);
    env.set_formatter(|out, state, value| {
        // Strict mode refuses to print an undefined value but not a list holding one (`[x.typo]`).
        if let Some(undefined) = find_undefined(value, 0) {
            return Err(undefined_error(&undefined));
        }
        // Booleans print as JSON spells them, for shell and CLI arguments (`--push={{ x }}`).
        match value.kind() {
            ValueKind::Bool => {
                out.write_str(if value.is_true() { "true" } else { "false" }).map_err(Error::from)
            }
            _ => escape_formatter(out, state, value),
        }
    });
    env.add_function("secret", secret);
    env.add_function("now", now);
    env.add_filter("toJson", to_json);
    env.add_filter("fromJson", from_json);
    env
}

/// Containers nested deeper than this are not searched (the JSON they came from is finite and
/// fuel bounds what a template builds; this only bounds the recursion).
const MAX_SEARCH_DEPTH: usize = 64;

/// The first undefined value in `value` (itself, or an item or map value at any depth).
pub(super) fn find_undefined(value: &Value, depth: usize) -> Option<Value> {
    if value.is_undefined() {
        return Some(value.clone());
    }
    if depth >= MAX_SEARCH_DEPTH {
        return None;
    }
    match value.kind() {
        ValueKind::Seq => value.try_iter().ok()?.find_map(|item| find_undefined(&item, depth + 1)),
        ValueKind::Map => value.try_iter().ok()?.find_map(|key| {
            let item = value.get_item(&key).ok()?;
            find_undefined(&item, depth + 1)
        }),
        _ => None,
    }
}

/// An error about an undefined value that keeps where it came from, so minijinja can name the
/// expression (`` `outputs.clone.comit` is undefined ``). Looking up an attribute of an
/// undefined value is the public way to get that error.
fn undefined_error(undefined: &Value) -> Error {
    match undefined.get_attr("value") {
        Err(err) => err,
        Ok(_) => Error::new(ErrorKind::UndefinedError, "undefined value"),
    }
}

/// `{{ x | toJson }}`: compact JSON.
fn to_json(value: &Value) -> Result<String, Error> {
    if let Some(undefined) = find_undefined(value, 0) {
        return Err(undefined_error(&undefined));
    }
    serde_json::to_string(value).map_err(|err| {
        Error::new(ErrorKind::InvalidOperation, format!("toJson: cannot encode the value: {err}"))
    })
}

/// `{{ text | fromJson }}`: the value a JSON text encodes. The error names the position, not
/// the text (which may be anything).
fn from_json(text: &str) -> Result<Value, Error> {
    let parsed: serde_json::Value = serde_json::from_str(text).map_err(|err| {
        Error::new(ErrorKind::InvalidOperation, format!("fromJson: not valid JSON ({err})"))
    })?;
    Ok(Value::from(Serde(parsed)))
}
