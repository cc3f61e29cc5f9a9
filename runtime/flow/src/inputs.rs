//! Checking and typing the inputs an execution is started with, against the flow's `inputs`.
//! Values arrive as text (`--input key=value` on the command line) or as JSON (the HTTP API);
//! either way the result is one JSON object of typed values, or every problem at once.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::model::{Input, InputType};

/// One given input value, before typing.
#[derive(Debug, Clone, PartialEq)]
pub enum RawInput {
    /// From the command line: parsed according to the declared type.
    Text(String),
    /// From JSON: must already have the declared type (a string is also accepted for types
    /// that are written as text, like `datetime`).
    Json(Value),
}

/// What is wrong with one input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}`: {message}")]
pub struct InputError {
    pub input: String,
    pub message: String,
}

/// Stands in for a `secret` input's value wherever inputs are stored or shown.
pub const REDACTED: &str = "******";

/// Types the given values against the declarations: applies defaults, rejects unknown and
/// missing inputs, checks types, `values`, `pattern` and `min`/`max`.
pub fn check_inputs(
    declared: &[Input],
    given: BTreeMap<String, RawInput>,
) -> Result<Map<String, Value>, Vec<InputError>> {
    let mut errors = Vec::new();
    let mut typed = Map::new();
    for name in given.keys() {
        if !declared.iter().any(|d| &d.id == name) {
            let known: Vec<&str> = declared.iter().map(|d| d.id.as_str()).collect();
            let message = if known.is_empty() {
                "the flow declares no inputs".to_owned()
            } else {
                format!("unknown input; the flow declares: {}", known.join(", "))
            };
            errors.push(InputError { input: name.clone(), message });
        }
    }
    for decl in declared {
        let result = match given.get(&decl.id) {
            Some(raw) => check_value(decl, raw),
            None => match &decl.default {
                Some(default) => check_value(decl, &RawInput::Json(default.clone())),
                None if decl.required => {
                    Err(format!("required, but not given (type {})", type_name(decl.kind)))
                }
                None => Ok(Value::Null),
            },
        };
        match result {
            Ok(value) => {
                typed.insert(decl.id.clone(), value);
            }
            Err(message) => errors.push(InputError { input: decl.id.clone(), message }),
        }
    }
    if errors.is_empty() { Ok(typed) } else { Err(errors) }
}

/// The inputs as they may be stored and shown: `secret` values replaced by [`REDACTED`].
pub fn redact_inputs(declared: &[Input], typed: &Map<String, Value>) -> Map<String, Value> {
    let mut shown = typed.clone();
    for decl in declared.iter().filter(|d| d.kind == InputType::Secret) {
        if let Some(value) = shown.get_mut(&decl.id)
            && !value.is_null()
        {
            *value = Value::String(REDACTED.to_owned());
        }
    }
    shown
}

/// The values of `secret` inputs, to redact from logs.
pub fn secret_values(declared: &[Input], typed: &Map<String, Value>) -> Vec<String> {
    declared
        .iter()
        .filter(|d| d.kind == InputType::Secret)
        .filter_map(|d| typed.get(&d.id).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn type_name(kind: InputType) -> &'static str {
    match kind {
        InputType::String => "string",
        InputType::Int => "int",
        InputType::Float => "float",
        InputType::Bool => "bool",
        InputType::Select => "select",
        InputType::Json => "json",
        InputType::Secret => "secret",
        InputType::File => "file",
        InputType::Datetime => "datetime",
        InputType::Duration => "duration",
        InputType::Array => "array",
    }
}

fn check_value(decl: &Input, raw: &RawInput) -> Result<Value, String> {
    let value = typed_value(decl.kind, decl.item_type, raw)?;
    check_constraints(decl, &value)?;
    Ok(value)
}

fn typed_value(kind: InputType, item_type: Option<InputType>, raw: &RawInput) -> Result<Value, String> {
    match (kind, raw) {
        (InputType::String | InputType::Secret | InputType::Select, RawInput::Text(text)) => {
            Ok(Value::String(text.clone()))
        }
        (InputType::String | InputType::Secret | InputType::Select, RawInput::Json(Value::String(s))) => {
            Ok(Value::String(s.clone()))
        }
        // A select's values are text (`values: [1, 2]` lists "1" and "2"), so a number or a
        // bool given for one (a YAML default, a JSON input) is its text.
        (InputType::Select, RawInput::Json(Value::Number(n))) => Ok(Value::String(n.to_string())),
        (InputType::Select, RawInput::Json(Value::Bool(b))) => Ok(Value::String(b.to_string())),
        (InputType::Int, RawInput::Text(text)) => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected an integer, got `{text}`")),
        (InputType::Int, RawInput::Json(Value::Number(n))) if n.is_i64() || n.is_u64() => {
            Ok(Value::Number(n.clone()))
        }
        (InputType::Float, RawInput::Text(text)) => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::from(f)),
            _ => Err(format!("expected a number, got `{text}`")),
        },
        (InputType::Float, RawInput::Json(Value::Number(n))) => Ok(Value::Number(n.clone())),
        (InputType::Bool, RawInput::Text(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got `{text}`")),
        },
        (InputType::Bool, RawInput::Json(Value::Bool(b))) => Ok(Value::Bool(*b)),
        (InputType::Json, RawInput::Text(text)) => {
            serde_json::from_str(text).map_err(|e| format!("expected JSON, got `{text}` ({e})"))
        }
        (InputType::Json, RawInput::Json(value)) => Ok(value.clone()),
        (InputType::File, RawInput::Text(text)) | (InputType::File, RawInput::Json(Value::String(text))) => {
            let path = Path::new(text);
            if path.is_file() {
                Ok(Value::String(text.clone()))
            } else {
                Err(format!("expected a path to a readable file, but `{text}` is not a file"))
            }
        }
        (InputType::Datetime, RawInput::Text(text))
        | (InputType::Datetime, RawInput::Json(Value::String(text))) => {
            chrono::DateTime::parse_from_rfc3339(text.trim())
                .map(|dt| Value::String(dt.with_timezone(&chrono::Utc).to_rfc3339()))
                .map_err(|e| {
                    format!("expected an RFC 3339 date-time like 2026-01-31T12:00:00Z, got `{text}` ({e})")
                })
        }
        (InputType::Duration, RawInput::Text(text))
        | (InputType::Duration, RawInput::Json(Value::String(text))) => {
            crate::duration::parse_duration(text.trim())
                .map(|d| Value::String(humantime::format_duration(d).to_string()))
                .map_err(|e| format!("expected a duration like 30s, 5m or PT1H, got `{text}` ({e})"))
        }
        (InputType::Array, RawInput::Text(text)) => {
            let trimmed = text.trim();
            let items: Vec<RawInput> = if trimmed.starts_with('[') {
                match serde_json::from_str::<Vec<Value>>(trimmed) {
                    Ok(items) => items.into_iter().map(RawInput::Json).collect(),
                    Err(e) => return Err(format!("expected a JSON array or comma-separated values ({e})")),
                }
            } else if trimmed.is_empty() {
                Vec::new()
            } else {
                trimmed.split(',').map(|s| RawInput::Text(s.trim().to_owned())).collect()
            };
            typed_items(item_type, &items)
        }
        (InputType::Array, RawInput::Json(Value::Array(items))) => {
            let items: Vec<RawInput> = items.iter().cloned().map(RawInput::Json).collect();
            typed_items(item_type, &items)
        }
        (kind, RawInput::Json(other)) => {
            Err(format!("expected {}, got {}", expected_json(kind), json_kind(other)))
        }
    }
}

fn typed_items(item_type: Option<InputType>, items: &[RawInput]) -> Result<Value, String> {
    let kind = item_type.unwrap_or(InputType::String);
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(typed_value(kind, None, item).map_err(|e| format!("item {i}: {e}"))?);
    }
    Ok(Value::Array(out))
}

fn check_constraints(decl: &Input, value: &Value) -> Result<(), String> {
    if decl.kind == InputType::Select && !decl.values.iter().any(|v| Some(v.as_str()) == value.as_str()) {
        return Err(format!(
            "`{}` is not one of the allowed values: {}",
            value.as_str().unwrap_or_default(),
            decl.values.join(", ")
        ));
    }
    if let (Some(pattern), Some(text)) = (&decl.pattern, value.as_str()) {
        let anchored = format!("^(?:{pattern})$");
        let regex =
            regex::Regex::new(&anchored).map_err(|e| format!("the pattern `{pattern}` is invalid: {e}"))?;
        if !regex.is_match(text) {
            let shown = if decl.kind == InputType::Secret { REDACTED } else { text };
            return Err(format!("`{shown}` does not match the pattern `{pattern}`"));
        }
    }
    let measured = match (decl.kind, value) {
        (InputType::Int | InputType::Float, Value::Number(n)) => n.as_f64().map(|n| (n, "the value")),
        (InputType::String | InputType::Secret, Value::String(s)) => {
            Some((s.chars().count() as f64, "the length"))
        }
        (InputType::Array, Value::Array(items)) => Some((items.len() as f64, "the number of items")),
        _ => None,
    };
    if let Some((n, what)) = measured {
        if let Some(min) = decl.min
            && n < min
        {
            return Err(format!("{what} is {n}, below the minimum of {min}"));
        }
        if let Some(max) = decl.max
            && n > max
        {
            return Err(format!("{what} is {n}, above the maximum of {max}"));
        }
    }
    Ok(())
}

fn expected_json(kind: InputType) -> &'static str {
    match kind {
        InputType::String | InputType::Secret | InputType::Select => "a string",
        InputType::Int => "an integer",
        InputType::Float => "a number",
        InputType::Bool => "true or false",
        InputType::Json => "any JSON value",
        InputType::File => "a file path",
        InputType::Datetime => "an RFC 3339 date-time string",
        InputType::Duration => "a duration string",
        InputType::Array => "an array",
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn input(id: &str, kind: InputType) -> Input {
        Input::new(id, kind, "")
    }

    fn text(pairs: &[(&str, &str)]) -> BTreeMap<String, RawInput> {
        pairs.iter().map(|(k, v)| (k.to_string(), RawInput::Text(v.to_string()))).collect()
    }

    #[test]
    fn types_text_values() {
        let decls = [
            input("s", InputType::String),
            input("i", InputType::Int),
            input("f", InputType::Float),
            input("b", InputType::Bool),
            input("j", InputType::Json),
            input("d", InputType::Datetime),
            input("t", InputType::Duration),
            input("a", InputType::Array),
        ];
        let typed = check_inputs(
            &decls,
            text(&[
                ("s", "hi"),
                ("i", "42"),
                ("f", "1.5"),
                ("b", "yes"),
                ("j", r#"{"k":[1]}"#),
                ("d", "2026-01-31T13:00:00+01:00"),
                ("t", "PT90S"),
                ("a", "x, y"),
            ]),
        )
        .unwrap();
        assert_eq!(
            Value::Object(typed),
            serde_json::json!({"s":"hi","i":42,"f":1.5,"b":true,"j":{"k":[1]},
                "d":"2026-01-31T12:00:00+00:00","t":"1m 30s","a":["x","y"]})
        );
    }

    #[test]
    fn reports_every_problem() {
        let mut sel = input("env", InputType::Select);
        sel.values = vec!["dev".into(), "prod".into()];
        let mut n = input("n", InputType::Int);
        n.max = Some(10.0);
        let decls = [sel, n, input("must", InputType::String)];
        let errors = check_inputs(&decls, text(&[("env", "qa"), ("n", "11"), ("extra", "1")])).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "input `extra`: unknown input; the flow declares: env, n, must",
                "input `env`: `qa` is not one of the allowed values: dev, prod",
                "input `n`: the value is 11, above the maximum of 10",
                "input `must`: required, but not given (type string)",
            ]
        );
    }

    #[test]
    fn json_values_must_have_the_type() {
        let decls = [input("i", InputType::Int), input("b", InputType::Bool)];
        let given = BTreeMap::from([
            ("i".to_string(), RawInput::Json(serde_json::json!("4"))),
            ("b".to_string(), RawInput::Json(serde_json::json!(true))),
        ]);
        let errors = check_inputs(&decls, given).unwrap_err();
        assert_eq!(errors[0].to_string(), "input `i`: expected an integer, got a string");
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn defaults_and_optional() {
        let mut with_default = input("d", InputType::Int);
        with_default.default = Some(serde_json::json!(3));
        with_default.required = false;
        let mut optional = input("o", InputType::String);
        optional.required = false;
        let typed = check_inputs(&[with_default, optional], BTreeMap::new()).unwrap();
        assert_eq!(Value::Object(typed), serde_json::json!({"d": 3, "o": null}));
    }

    #[test]
    fn secrets_are_redacted_and_pattern_errors_hide_them() {
        let mut token = input("token", InputType::Secret);
        token.pattern = Some("ghp_[a-z]+".into());
        let errors = check_inputs(std::slice::from_ref(&token), text(&[("token", "wrong1")])).unwrap_err();
        assert_eq!(errors[0].to_string(), "input `token`: `******` does not match the pattern `ghp_[a-z]+`");
        let typed = check_inputs(std::slice::from_ref(&token), text(&[("token", "ghp_abc")])).unwrap();
        assert_eq!(secret_values(std::slice::from_ref(&token), &typed), ["ghp_abc"]);
        assert_eq!(Value::Object(redact_inputs(&[token], &typed)), serde_json::json!({"token": "******"}));
    }

    #[test]
    fn array_items_are_typed() {
        let mut nums = input("nums", InputType::Array);
        nums.item_type = Some(InputType::Int);
        let typed = check_inputs(std::slice::from_ref(&nums), text(&[("nums", "[1, 2]")])).unwrap();
        assert_eq!(typed["nums"], serde_json::json!([1, 2]));
        let errors = check_inputs(&[nums], text(&[("nums", "1,x")])).unwrap_err();
        assert_eq!(errors[0].to_string(), "input `nums`: item 1: expected an integer, got `x`");
    }
    #[test]
    fn a_select_of_numbers_or_bools_takes_them_as_text() {
        let mut sel = input("n", InputType::Select);
        sel.values = vec!["1".into(), "2".into(), "true".into()];
        sel.default = Some(serde_json::json!(2));
        sel.required = false;
        let typed = check_inputs(std::slice::from_ref(&sel), BTreeMap::new()).unwrap();
        assert_eq!(typed["n"], "2");
        let given = BTreeMap::from([("n".to_string(), RawInput::Json(serde_json::json!(true)))]);
        assert_eq!(check_inputs(std::slice::from_ref(&sel), given).unwrap()["n"], "true");
        let given = BTreeMap::from([("n".to_string(), RawInput::Json(serde_json::json!(3)))]);
        let errors = check_inputs(&[sel], given).unwrap_err();
        assert_eq!(errors[0].to_string(), "input `n`: `3` is not one of the allowed values: 1, 2, true");
    }

    #[test]
    fn every_type_refuses_what_it_cannot_be() {
        let bounded = |id: &str, kind, min: Option<f64>, max: Option<f64>| {
            let mut decl = input(id, kind);
            (decl.min, decl.max) = (min, max);
            decl
        };
        let decls = [
            bounded("i", InputType::Int, Some(1.0), None),
            bounded("f", InputType::Float, None, Some(0.5)),
            input("bad_f", InputType::Float),
            input("j", InputType::Json),
            input("d", InputType::Datetime),
            input("t", InputType::Duration),
            bounded("s", InputType::String, Some(3.0), None),
            bounded("a", InputType::Array, None, Some(1.0)),
            input("file", InputType::File),
        ];
        let errors = check_inputs(
            &decls,
            text(&[
                ("i", "0"),
                ("f", "0.75"),
                ("bad_f", "1,5"),
                ("j", "{not json"),
                ("d", "yesterday"),
                ("t", "soon"),
                ("s", "ab"),
                ("a", "x, y"),
                ("file", "/nonexistent/input.txt"),
            ]),
        )
        .unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "input `i`: the value is 0, below the minimum of 1",
                "input `f`: the value is 0.75, above the maximum of 0.5",
                "input `bad_f`: expected a number, got `1,5`",
                "input `j`: expected JSON, got `{not json` (key must be a string at line 1 column 2)",
                "input `d`: expected an RFC 3339 date-time like 2026-01-31T12:00:00Z, got `yesterday` (premature end of input)",
                "input `t`: expected a duration like 30s, 5m or PT1H, got `soon` (expected number at 0)",
                "input `s`: the length is 2, below the minimum of 3",
                "input `a`: the number of items is 2, above the maximum of 1",
                "input `file`: expected a path to a readable file, but `/nonexistent/input.txt` is not a file",
            ]
        );
    }
}
