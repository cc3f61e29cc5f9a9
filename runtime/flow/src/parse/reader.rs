//! Typed reading of the JSON document with every problem collected as a diagnostic: each
//! reader returns `None` (after recording why) when the node is not what it should be, so the
//! caller carries on with the next key instead of stopping at the first error.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
use crate::pointer;
use crate::suggest;
use crate::units;

/// One node of the document and where it is.
#[derive(Debug, Clone)]
pub struct Node<'v> {
    pub value: &'v Value,
    pub pointer: String,
}

impl<'v> Node<'v> {
    pub fn root(value: &'v Value) -> Node<'v> {
        Node { value, pointer: String::new() }
    }
}

/// A mapping node, read key by key.
#[derive(Debug, Clone)]
pub struct Fields<'v> {
    pub map: &'v Map<String, Value>,
    pub pointer: String,
}

impl<'v> Fields<'v> {
    /// The value of `key`; an explicit `null` (`key:` with nothing after it) counts as absent.
    pub fn get(&self, key: &str) -> Option<Node<'v>> {
        self.map.get(key).filter(|v| !v.is_null()).map(|value| Node { value, pointer: self.at(key) })
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The pointer of `key`'s value.
    pub fn at(&self, key: &str) -> String {
        pointer::key(&self.pointer, key)
    }
}

#[derive(Debug, Default)]
pub struct Reader {
    pub diagnostics: Vec<Diagnostic>,
    /// Pointers of the keys reported as unknown, so that a missing key they misspell is not
    /// reported a second time.
    unknown: HashSet<String>,
}

impl Reader {
    pub fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn wrong_type(&mut self, node: &Node<'_>, expected: &str) {
        self.report(Diagnostic::at(
            &node.pointer,
            format!("expected {expected}, found {}", describe(node.value)),
        ));
    }

    pub fn mapping<'v>(&mut self, node: &Node<'v>, expected: &str) -> Option<Fields<'v>> {
        match node.value {
            Value::Object(map) => Some(Fields { map, pointer: node.pointer.clone() }),
            _ => {
                self.wrong_type(node, expected);
                None
            }
        }
    }

    /// Reports every key of `fields` that is not in `allowed`, suggesting the closest one.
    pub fn unknown_keys(&mut self, fields: &Fields<'_>, allowed: &[&str], context: &str) {
        for key in fields.map.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let hint = suggest::did_you_mean(key, allowed.iter().copied())
                .unwrap_or_else(|| format!("the keys here are {}", suggest::list(allowed.iter().copied())));
            self.unknown.insert(fields.at(key));
            self.report(
                Diagnostic::at_key(fields.at(key), format!("unknown key `{key}` in {context}"))
                    .with_hint(hint),
            );
        }
    }

    /// The value of a key that must be there (an explicit null is left to the typed reader to
    /// report as "found nothing").
    pub fn require<'v>(
        &mut self,
        fields: &Fields<'v>,
        key: &str,
        context: &str,
        hint: &str,
    ) -> Option<Node<'v>> {
        match fields.map.get(key) {
            Some(value) => Some(Node { value, pointer: fields.at(key) }),
            None => {
                let misspelled = fields
                    .map
                    .keys()
                    .any(|k| self.unknown.contains(&fields.at(k)) && suggest::closest(k, [key]).is_some());
                if misspelled {
                    return None;
                }
                let diagnostic = Diagnostic::at(&fields.pointer, format!("missing key `{key}` in {context}"));
                self.report(if hint.is_empty() { diagnostic } else { diagnostic.with_hint(hint) });
                None
            }
        }
    }

    pub fn string(&mut self, node: &Node<'_>, expected: &str) -> Option<String> {
        match node.value {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.wrong_type(node, expected);
                None
            }
        }
    }

    /// A string, or a number or boolean taken as its text (label values, `select` values).
    pub fn scalar_text(&mut self, node: &Node<'_>, expected: &str) -> Option<String> {
        match node.value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.wrong_type(node, expected);
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node<'_>) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(node, "`true` or `false`");
                None
            }
        }
    }

    /// A whole number from `min` up.
    pub fn count(&mut self, node: &Node<'_>, min: u32) -> Option<u32> {
        let expected = format!("a whole number from {min} up");
        match node.value.as_u64() {
            Some(n) if n >= u64::from(min) => match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.report(Diagnostic::at(
                        &node.pointer,
                        format!("{n} is too large; the most is {}", u32::MAX),
                    ));
                    None
                }
            },
            _ => {
                self.wrong_type(node, &expected);
                None
            }
        }
    }

    pub fn number(&mut self, node: &Node<'_>) -> Option<f64> {
        match node.value.as_f64() {
            Some(n) => Some(n),
            None => {
                self.wrong_type(node, "a number");
                None
            }
        }
    }

    pub fn duration(&mut self, node: &Node<'_>) -> Option<Duration> {
        let expected = format!("a duration like {}", units::DURATION_FORMS);
        let Value::String(text) = node.value else {
            self.wrong_type(node, &expected);
            if let Value::Number(n) = node.value
                && let Some(last) = self.diagnostics.last_mut()
            {
                last.hint = Some(format!("add a unit, as in `{n}s` or `{n}m`"));
            }
            return None;
        };
        match crate::duration::parse_duration(text) {
            Ok(duration) => Some(duration),
            Err(reason) => {
                // The ISO parser's reasons already quote the text.
                let message = if reason.starts_with('`') {
                    format!("invalid duration: {reason}")
                } else {
                    format!("invalid duration `{text}`: {reason}")
                };
                self.report(
                    Diagnostic::at(&node.pointer, message)
                        .with_hint(format!("write a duration like {}", units::DURATION_FORMS)),
                );
                None
            }
        }
    }

    /// A positive duration (timeouts: zero would kill everything at once).
    pub fn positive_duration(&mut self, node: &Node<'_>) -> Option<Duration> {
        let duration = self.duration(node)?;
        if duration.is_zero() {
            self.report(Diagnostic::at(&node.pointer, "the duration must be longer than zero"));
            return None;
        }
        Some(duration)
    }

    /// A byte size: a whole number of bytes, or a string with a unit (`256MiB`).
    pub fn size(&mut self, node: &Node<'_>) -> Option<u64> {
        let units_list = suggest::list(units::SIZE_UNITS.iter().map(|(u, _)| *u));
        let size = match node.value {
            Value::Number(n) => n.as_u64().ok_or_else(|| "it is not a whole number of bytes".to_string()),
            Value::String(text) => units::parse_size(text),
            _ => {
                self.wrong_type(node, "a size like `256MiB` or a number of bytes");
                return None;
            }
        };
        match size {
            Ok(0) => {
                self.report(Diagnostic::at(&node.pointer, "the size must be more than zero"));
                None
            }
            Ok(size) => Some(size),
            Err(reason) => {
                let shown = match node.value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.report(
                    Diagnostic::at(&node.pointer, format!("invalid size `{shown}`: {reason}"))
                        .with_hint(format!("write a number of bytes, or a number and one of {units_list}")),
                );
                None
            }
        }
    }

    pub fn list<'v>(&mut self, node: &Node<'v>, expected: &str) -> Option<Vec<Node<'v>>> {
        match node.value {
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, value)| Node { value, pointer: pointer::index(&node.pointer, i) })
                    .collect(),
            ),
            _ => {
                self.wrong_type(node, expected);
                None
            }
        }
    }

    /// A list of strings; a lone string gets a hint to wrap it in brackets.
    pub fn strings(&mut self, node: &Node<'_>, expected: &str) -> Option<Vec<String>> {
        if let Value::String(s) = node.value {
            self.wrong_type(node, expected);
            if let Some(last) = self.diagnostics.last_mut() {
                last.hint = Some(format!("write a list: `[{s}]`"));
            }
            return None;
        }
        let items = self.list(node, expected)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in &items {
            match self.string(item, "a string") {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One of a fixed set of names.
    pub fn choice<T: Copy>(&mut self, node: &Node<'_>, what: &str, options: &[(&str, T)]) -> Option<T> {
        let names = || options.iter().map(|(name, _)| *name);
        let Value::String(text) = node.value else {
            self.wrong_type(node, &format!("a {what} (one of {})", suggest::list(names())));
            return None;
        };
        if let Some((_, value)) = options.iter().find(|(name, _)| name == text) {
            return Some(*value);
        }
        let diagnostic = Diagnostic::at(
            &node.pointer,
            format!("unknown {what} `{text}`; expected one of {}", suggest::list(names())),
        );
        self.report(match suggest::did_you_mean(text, names()) {
            Some(hint) => diagnostic.with_hint(hint),
            None => diagnostic,
        });
        None
    }

    /// An id of a task, input or trigger: it is used in templates (`outputs.<id>`).
    pub fn id(&mut self, node: &Node<'_>, what: &str) -> Option<String> {
        let id = self.string(node, &format!("{what} id (a string)"))?;
        let mut chars = id.chars();
        let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if starts_well && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            Some(id)
        } else {
            self.report(
                Diagnostic::at(&node.pointer, format!("invalid {what} id `{id}`"))
                    .with_hint("use letters, digits, `_` and `-`, starting with a letter or `_`"),
            );
            Some(id)
        }
    }
}

/// How a value reads in "found ..." messages.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(s) if s.is_empty() => "an empty string".to_string(),
        Value::String(s) if s.chars().count() > 40 || s.contains('\n') => "a string".to_string(),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

impl Reader {
    /// A flow's id: it appears in URLs (`/webhooks/{namespace}/{flowId}/...`).
    pub fn flow_id(&mut self, node: &Node<'_>) -> Option<String> {
        let id = self.string(node, "a flow id (a string)")?;
        if !is_name_segment(&id) {
            self.report(
                Diagnostic::at(&node.pointer, format!("invalid flow id `{id}`"))
                    .with_hint("use letters, digits, `_` and `-`, starting with a letter or digit"),
            );
        }
        Some(id)
    }

    /// A namespace: dot-separated names, `company.team`.
    pub fn namespace(&mut self, node: &Node<'_>) -> Option<String> {
        let namespace = self.string(node, "a namespace like `company.team`")?;
        if !namespace.split('.').all(is_name_segment) {
            self.report(Diagnostic::at(&node.pointer, format!("invalid namespace `{namespace}`")).with_hint(
                "use names of letters, digits, `_` and `-`, separated by single dots, as in `company.team`",
            ));
        }
        Some(namespace)
    }
}

/// A segment of an id or namespace: letters, digits, `_` and `-`, starting with a letter or digit.
pub fn is_name_segment(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether a string holds a template expression or statement, rendered at run time.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}
