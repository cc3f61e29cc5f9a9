//! Typed inputs: the flow's `inputs` and a pause's `onResume`.

use serde_json::Value;

use super::keys;
use super::reader::{Node, Reader, describe};
use crate::diagnostic::Diagnostic;
use crate::model::{Input, InputType};
use crate::units;

const TYPES: [(&str, InputType); 11] = [
    ("string", InputType::String),
    ("int", InputType::Int),
    ("float", InputType::Float),
    ("bool", InputType::Bool),
    ("select", InputType::Select),
    ("json", InputType::Json),
    ("secret", InputType::Secret),
    ("file", InputType::File),
    ("datetime", InputType::Datetime),
    ("duration", InputType::Duration),
    ("array", InputType::Array),
];

/// The types an `array` input's items may have.
const ITEM_TYPES: [(&str, InputType); 7] = [
    ("string", InputType::String),
    ("int", InputType::Int),
    ("float", InputType::Float),
    ("bool", InputType::Bool),
    ("json", InputType::Json),
    ("datetime", InputType::Datetime),
    ("duration", InputType::Duration),
];

pub fn type_names() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|(name, _)| *name)
}

pub fn item_type_names() -> impl Iterator<Item = &'static str> {
    ITEM_TYPES.iter().map(|(name, _)| *name)
}

pub fn list(r: &mut Reader, node: &Node<'_>) -> Vec<Input> {
    let Some(items) = r.list(node, "a list of inputs") else { return Vec::new() };
    items.iter().filter_map(|item| input(r, item)).collect()
}

fn input(r: &mut Reader, node: &Node<'_>) -> Option<Input> {
    let fields = r.mapping(node, "an input (a mapping with `id` and `type`)")?;
    let context = match fields.map.get("id").and_then(Value::as_str) {
        Some(id) => format!("input `{id}`"),
        None => "this input".to_string(),
    };
    r.unknown_keys(&fields, &keys::INPUT, &context);
    let id = r
        .require(&fields, "id", "this input", "name the input, as in `id: environment`")
        .and_then(|n| r.id(&n, "input"));
    let kind = r
        .require(&fields, "type", &context, "say what the input holds, as in `type: string`")
        .and_then(|n| r.choice(&n, "input type", &TYPES));
    let default = fields.get("default");
    let mut input = Input {
        id: id.unwrap_or_default(),
        kind: kind.unwrap_or(InputType::Json),
        description: fields.get("description").and_then(|n| r.string(&n, "a description (a string)")),
        required: fields.get("required").and_then(|n| r.bool(&n)).unwrap_or(default.is_none()),
        default: default.as_ref().map(|n| n.value.clone()),
        values: Vec::new(),
        pattern: None,
        min: fields.get("min").and_then(|n| r.number(&n)),
        max: fields.get("max").and_then(|n| r.number(&n)),
        item_type: None,
        pointer: node.pointer.clone(),
    };
    let kind = kind?;
    let only_for = |r: &mut Reader, key: &str, applies: bool, types: &str| {
        if fields.has(key) && !applies {
            r.report(Diagnostic::at_key(fields.at(key), format!("`{key}` applies only to {types} inputs")));
        }
    };
    use InputType as T;
    only_for(r, "values", kind == T::Select, "`select`");
    only_for(r, "pattern", matches!(kind, T::String | T::Secret), "`string` and `secret`");
    only_for(r, "itemType", kind == T::Array, "`array`");
    let bounded = matches!(kind, T::Int | T::Float | T::String | T::Array);
    only_for(r, "min", bounded, "`int`, `float`, `string` and `array`");
    only_for(r, "max", bounded, "`int`, `float`, `string` and `array`");

    if kind == T::Select {
        match fields.get("values") {
            Some(n) => input.values = select_values(r, &n),
            None => r.report(
                Diagnostic::at(&fields.pointer, format!("missing key `values` in {context}"))
                    .with_hint("a `select` input needs the list of values to choose from"),
            ),
        }
    }
    if let Some(node) = fields.get("pattern").filter(|_| matches!(kind, T::String | T::Secret)) {
        input.pattern = r.string(&node, "a regular expression (a string)");
        if let Some(pattern) = &input.pattern
            && let Err(reason) = pattern_validator(pattern)
        {
            r.report(
                Diagnostic::at(&node.pointer, format!("invalid regular expression: {reason}")).with_hint(
                    "patterns use the syntax of Rust's `regex` crate: no look-around, no back-references",
                ),
            );
            input.pattern = None;
        }
    }
    if let Some(node) = fields.get("itemType").filter(|_| kind == T::Array) {
        input.item_type = r.choice(&node, "array item type", &ITEM_TYPES);
    }
    if let (Some(min), Some(max)) = (input.min, input.max)
        && min > max
    {
        r.report(Diagnostic::at(fields.at("max"), format!("`max` ({max}) is less than `min` ({min})")));
    }
    if let Some(default) = &default {
        check_default(r, default, &input, &context);
    }
    Some(input)
}

fn select_values(r: &mut Reader, node: &Node<'_>) -> Vec<String> {
    let Some(items) = r.list(node, "a list of the values to choose from") else { return Vec::new() };
    if items.is_empty() {
        r.report(Diagnostic::at(&node.pointer, "`values` is empty").with_hint("list at least one value"));
    }
    let mut values: Vec<String> = Vec::new();
    for item in &items {
        let Some(value) = r.scalar_text(item, "a value (a string)") else { continue };
        if values.contains(&value) {
            r.report(Diagnostic::at(&item.pointer, format!("`{value}` is listed twice")));
        }
        values.push(value);
    }
    values
}

/// A whole-value match, as the model promises, in the dialect the run-time check uses (the
/// `regex` crate: no look-around or back-references), so a pattern valid here works there.
fn pattern_validator(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|err| match err {
        // The syntax error draws the pattern with a caret; its last line says what is wrong.
        regex::Error::Syntax(text) => {
            let last = text.lines().last().unwrap_or_default();
            last.strip_prefix("error: ").unwrap_or(last).to_string()
        }
        other => other.to_string(),
    })
}

fn check_default(r: &mut Reader, node: &Node<'_>, input: &Input, context: &str) {
    if let Some(expected) =
        mismatch(node.value, input.kind, input.item_type.unwrap_or(InputType::String), input)
    {
        r.report(Diagnostic::at(
            &node.pointer,
            format!("the default of {context} must be {expected}, found {}", describe(node.value)),
        ));
    }
}

/// What the value should have been, when it is not a valid value of the input.
fn mismatch(value: &Value, kind: InputType, item_type: InputType, input: &Input) -> Option<String> {
    use InputType as T;
    let bounds = |n: f64, what: &str| -> Option<String> {
        match (input.min, input.max) {
            (Some(min), _) if n < min => Some(format!("{what} of at least {min}")),
            (_, Some(max)) if n > max => Some(format!("{what} of at most {max}")),
            _ => None,
        }
    };
    match kind {
        T::String | T::Secret | T::File => {
            let Value::String(text) = value else { return Some("a string".to_string()) };
            if kind == T::String || kind == T::Secret {
                if let Some(pattern) = &input.pattern
                    && pattern_validator(pattern).is_ok_and(|v| !v.is_match(text))
                {
                    return Some(format!("a string matching `{pattern}`"));
                }
                return bounds(text.chars().count() as f64, "a string with a length");
            }
            None
        }
        T::Int => match value.as_i64() {
            Some(n) => bounds(n as f64, "a whole number"),
            None => Some("a whole number".to_string()),
        },
        T::Float => match value.as_f64() {
            Some(n) => bounds(n, "a number"),
            None => Some("a number".to_string()),
        },
        T::Bool => (!value.is_boolean()).then(|| "`true` or `false`".to_string()),
        T::Select => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => String::new(),
            };
            (!input.values.contains(&text))
                .then(|| format!("one of {}", crate::suggest::list(input.values.iter().map(String::as_str))))
        }
        T::Json => None,
        T::Datetime => match value {
            Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => None,
            _ => Some("an RFC 3339 date and time like `2024-05-01T12:00:00Z`".to_string()),
        },
        T::Duration => match value {
            Value::String(s) if crate::duration::parse_duration(s).is_ok() => None,
            _ => Some(format!("a duration like {}", units::DURATION_FORMS)),
        },
        T::Array => {
            let Value::Array(items) = value else { return Some("a list".to_string()) };
            let item_input = Input { min: None, max: None, pattern: None, ..input.clone() };
            if let Some(bad) = items.iter().find_map(|item| mismatch(item, item_type, T::String, &item_input))
            {
                return Some(format!("a list whose items are each {bad}"));
            }
            bounds(items.len() as f64, "a list with a length")
        }
    }
}
