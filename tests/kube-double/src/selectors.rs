//! Label selectors (`app=web,tier!=db,env in (a,b),!canary,track`), field selectors
//! (`metadata.name=x`) and the `LabelSelector` objects of workload specs.

use std::collections::BTreeMap;

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector: every requirement must hold. Empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn word(&mut self) -> &'a str {
        self.skip_spaces();
        let end = self.rest.find(|c: char| !is_key_char(c)).unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_spaces();
        if let Some(rest) = self.rest.strip_prefix(token) {
            self.rest = rest;
            true
        } else {
            false
        }
    }

    fn done(&mut self) -> bool {
        self.skip_spaces();
        self.rest.is_empty()
    }
}

fn value_list(lexer: &mut Lexer<'_>, selector: &str) -> Result<Vec<String>, String> {
    if !lexer.eat("(") {
        return Err(format!("unable to parse requirement: found '{}', expected: '('", lexer.rest));
    }
    let mut values = Vec::new();
    loop {
        let value = lexer.word();
        values.push(value.to_string());
        if lexer.eat(")") {
            return Ok(values);
        }
        if !lexer.eat(",") {
            return Err(format!("unable to parse requirement in {selector:?}: expected ',' or ')'"));
        }
    }
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(selector: &str) -> Result<Self, String> {
        let mut lexer = Lexer { rest: selector };
        let mut requirements = Vec::new();
        if lexer.done() {
            return Ok(LabelSelector(requirements));
        }
        loop {
            let requirement = if lexer.eat("!") {
                let key = lexer.word();
                if key.is_empty() {
                    return Err(format!(
                        "unable to parse requirement: expected a key after '!' in {selector:?}"
                    ));
                }
                Requirement::DoesNotExist(key.to_string())
            } else {
                let key = lexer.word().to_string();
                if key.is_empty() {
                    return Err(format!(
                        "unable to parse requirement: found '{}', expected: identifier",
                        lexer.rest
                    ));
                }
                if lexer.eat("!=") {
                    Requirement::NotEquals(key, lexer.word().to_string())
                } else if lexer.eat("==") || lexer.eat("=") {
                    Requirement::Equals(key, lexer.word().to_string())
                } else {
                    let save = lexer.rest;
                    match lexer.word() {
                        "in" => Requirement::In(key, value_list(&mut lexer, selector)?),
                        "notin" => Requirement::NotIn(key, value_list(&mut lexer, selector)?),
                        "" => {
                            lexer.rest = save;
                            Requirement::Exists(key)
                        }
                        other => {
                            return Err(format!(
                                "unable to parse requirement: found '{other}', expected: in, notin, =, ==, !=, gt, lt"
                            ));
                        }
                    }
                }
            };
            requirements.push(requirement);
            if lexer.done() {
                return Ok(LabelSelector(requirements));
            }
            if !lexer.eat(",") {
                return Err(format!("found '{}', expected: ',' or 'end of string'", lexer.rest));
            }
        }
    }

    /// The selector of a `LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(selector: &Value) -> Result<Self, String> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector["matchLabels"].as_object() {
            for (k, v) in labels {
                requirements.push(Requirement::Equals(k.clone(), v.as_str().unwrap_or("").to_string()));
            }
        }
        for expr in selector["matchExpressions"].as_array().into_iter().flatten() {
            let key = expr["key"].as_str().unwrap_or("").to_string();
            let values: Vec<String> = expr["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            requirements.push(match expr["operator"].as_str().unwrap_or("") {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            });
        }
        Ok(LabelSelector(requirements))
    }

    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }

    /// Whether the object's `metadata.labels` match.
    pub fn matches(&self, object: &Value) -> bool {
        self.matches_labels(&labels_of(object))
    }

    /// The selector as the query syntax (`a=b,c in (d,e)`), as `Scale.status.selector` shows it.
    pub fn to_query(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        parts.join(",")
    }
}

/// The object's labels.
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object["metadata"]["labels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default()
}

/// A field selector: `path=value` / `path!=value` terms over dotted paths of the object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(selector: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = term.split_once('=') {
                (p, true, v)
            } else {
                return Err(format!("invalid selector: '{selector}'; can't understand '{term}'"));
            };
            terms.push((path.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let mut node = object;
            for part in path.split('.') {
                node = &node[part];
            }
            let actual = match node {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_every_operator() {
        let s = LabelSelector::parse(
            "app=web, tier==front,env!=prod,zone in (a, b),track notin (canary),release,!debug",
        )
        .expect("parses");
        assert_eq!(
            s.0,
            vec![
                Requirement::Equals("app".into(), "web".into()),
                Requirement::Equals("tier".into(), "front".into()),
                Requirement::NotEquals("env".into(), "prod".into()),
                Requirement::In("zone".into(), vec!["a".into(), "b".into()]),
                Requirement::NotIn("track".into(), vec!["canary".into()]),
                Requirement::Exists("release".into()),
                Requirement::DoesNotExist("debug".into()),
            ]
        );
        let yes = labels(&[("app", "web"), ("tier", "front"), ("zone", "b"), ("release", "1")]);
        assert!(s.matches_labels(&yes));
        let mut no = yes.clone();
        no.insert("debug".into(), "1".into());
        assert!(!s.matches_labels(&no));
        let mut no = yes.clone();
        no.insert("track".into(), "canary".into());
        assert!(!s.matches_labels(&no));
    }

    #[test]
    fn empty_selects_everything_and_garbage_is_refused() {
        assert!(LabelSelector::parse("").expect("empty").matches_labels(&labels(&[])));
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
        assert!(LabelSelector::parse("a in (b").is_err());
    }

    #[test]
    fn not_equals_and_notin_match_absent_labels() {
        let s = LabelSelector::parse("env!=prod,zone notin (a)").expect("parses");
        assert!(s.matches_labels(&labels(&[])));
    }

    #[test]
    fn selector_objects_and_their_query_form() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
        }))
        .expect("valid");
        assert_eq!(s.to_query(), "app=web,tier in (a,b)");
        assert!(s.matches(&json!({"metadata": {"labels": {"app": "web", "tier": "a"}}})));
    }

    #[test]
    fn field_selectors() {
        let s = FieldSelector::parse("metadata.name=web,status.phase!=Failed").expect("parses");
        assert!(s.matches(&json!({"metadata": {"name": "web"}, "status": {"phase": "Running"}})));
        assert!(!s.matches(&json!({"metadata": {"name": "db"}})));
    }
}
