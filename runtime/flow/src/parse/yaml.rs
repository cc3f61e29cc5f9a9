//! YAML text -> one JSON document, or the syntax errors that prevent it. Values come from
//! yaml_serde; positions for the errors it cannot place (duplicate keys, extra documents) come
//! from the source map's own parse.

use serde_json::{Map, Number, Value};
use yaml_serde::Value as Yaml;

use crate::diagnostic::Diagnostic;
use crate::pointer;
use crate::source_map::SourceMap;

pub fn load(source: &SourceMap) -> Result<Value, Vec<Diagnostic>> {
    if let Some(start) = source.extra_documents.first() {
        let mut diagnostic =
            Diagnostic::at("", "a flow file holds one YAML document, and a second one starts here")
                .with_hint("remove the `---` line, or move the second flow to a file of its own");
        diagnostic.position = Some(*start);
        return Err(vec![diagnostic]);
    }
    if let Some(at) = source.too_deep {
        let mut diagnostic = Diagnostic::at(
            "",
            format!("invalid YAML: nested more than {} levels deep", crate::source_map::MAX_NESTING),
        )
        .with_hint("a flow needs a few levels of lists and mappings; flatten this structure");
        diagnostic.position = Some(at);
        return Err(vec![diagnostic]);
    }
    let mut yaml: Yaml = match yaml_serde::from_str(source.text()) {
        Ok(yaml) => yaml,
        Err(err) => return Err(syntax_errors(source, &err)),
    };
    if let Err(err) = yaml.apply_merge() {
        return Err(vec![Diagnostic::at("", format!("invalid YAML merge (`<<`): {err}"))]);
    }
    let mut errors = Vec::new();
    let json = to_json(&yaml, "", &mut errors);
    if errors.is_empty() { Ok(json) } else { Err(errors) }
}

fn syntax_errors(source: &SourceMap, err: &yaml_serde::Error) -> Vec<Diagnostic> {
    if !source.duplicate_keys.is_empty() {
        return source
            .duplicate_keys
            .iter()
            .map(|dup| {
                Diagnostic::at_key(&dup.pointer, format!("duplicate key `{}`", dup.key)).with_hint(format!(
                    "`{}` is already set on line {}; keep one of them",
                    dup.key, dup.first.start.0
                ))
            })
            .collect();
    }
    let mut message = err.to_string();
    let mut diagnostic = Diagnostic::at("", "");
    if let Some(location) = err.location() {
        let (line, column) = (location.line(), location.column());
        // The position is shown in front of the message; keep only the parser's context.
        message = message.replacen(&format!(" at line {line} column {column}"), "", 1);
        diagnostic.position = Some((line, column));
        if source.line(line).is_some_and(|text| text.contains('\t')) {
            diagnostic.hint = Some("indent with spaces: YAML does not allow tabs in indentation".to_string());
        }
    }
    diagnostic.message = format!("invalid YAML: {message}");
    vec![diagnostic]
}

fn to_json(yaml: &Yaml, at: &str, errors: &mut Vec<Diagnostic>) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(f) = n.as_f64().and_then(Number::from_f64) {
                Value::Number(f)
            } else {
                errors.push(Diagnostic::at(at, format!("`{n}` is not a finite number")));
                Value::Null
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(
            items.iter().enumerate().map(|(i, item)| to_json(item, &pointer::index(at, i), errors)).collect(),
        ),
        Yaml::Mapping(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Null => "null".to_string(),
                    Yaml::Sequence(_) | Yaml::Mapping(_) | Yaml::Tagged(_) => {
                        errors.push(Diagnostic::at(
                            at,
                            "a mapping key must be a plain value, not a list, mapping or tag",
                        ));
                        continue;
                    }
                };
                let value = to_json(value, &pointer::key(at, &key), errors);
                map.insert(key, value);
            }
            Value::Object(map)
        }
        Yaml::Tagged(tagged) => {
            errors.push(
                Diagnostic::at(at, format!("YAML tags like `{}` are not supported in flows", tagged.tag))
                    .with_hint("remove the tag; quote the value if it should be a string"),
            );
            Value::Null
        }
    }
}
