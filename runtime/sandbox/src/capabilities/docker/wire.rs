//! Reading a request the way the daemon reads it, so the policy checks what the daemon acts on
//! and not a look-alike: paths percent-decoded (gorilla/mux routes on the decoded path), queries
//! split and decoded like Go's `url.ParseQuery`, API versions compared like moby's
//! `versions.LessThan`, and JSON keys matched to fields like Go's `encoding/json`, which ignores
//! case (`{"hostconfig": {"privileged": true}}` is a privileged container).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The path as the daemon routes it: percent-escapes decoded (`%63reate` is `create`). `None`
/// when an escape is malformed (the daemon answers 400 to those).
pub(crate) fn decoded_path(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = hex_digit(*bytes.get(i + 1)?)?;
            let low = hex_digit(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    // Invalid UTF-8 only replaces bytes of a name; the `/` and ASCII words that route a request
    // stay as they are.
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Whether the daemon routes `path` as it is: it redirects (and so does not act on) a path with
/// an empty, `.` or `..` segment.
pub(crate) fn is_clean(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    // A trailing `/` (an empty last segment) is kept by the daemon's path cleaning.
    segments.iter().enumerate().all(|(i, s)| !matches!(*s, "." | "..") && (!s.is_empty() || i == last))
}

/// The query's pairs as Go's `url.ParseQuery` reads them: `+` is a space and escapes are
/// decoded, in keys too. Splits at `;` as well, as Go did before 1.17, so no daemon sees a pair
/// that is not here. A malformed escape is kept as it is written.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split(['&', ';'])
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (query_unescape(key), query_unescape(value))
        })
        .collect()
}

fn query_unescape(text: &str) -> String {
    let spaced = text.replace('+', " ");
    decoded_path(&spaced).unwrap_or(spaced)
}

/// Whether API version `version` (`1.41`) is older than `min`, compared like moby's
/// `versions.LessThan`: dot-separated numbers, a missing or non-numeric one counting as 0.
pub(crate) fn version_less(version: &str, min: &str) -> bool {
    let numbers = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    0
                } else {
                    part.parse().unwrap_or(u64::MAX)
                }
            })
            .collect()
    };
    let (a, b) = (numbers(version), numbers(min));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        if x != y {
            return x < y;
        }
    }
    false
}

/// A JSON key as Go's `encoding/json` compares it with a field name: ASCII letters of either
/// case are one, and so are `ſ` (U+017F) and `s`, and the Kelvin sign (U+212A) and `k`. `None`
/// for a key with any other non-ASCII character: it matches no field (field names are ASCII).
pub(crate) fn fold(key: &str) -> Option<String> {
    key.chars()
        .map(|c| match c {
            '\u{17F}' => Some('s'),
            '\u{212A}' => Some('k'),
            c if c.is_ascii() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Renames the keys of `object` that Go would decode into one of `fields` to that field's own
/// spelling, so the checks that follow find them. Two keys for one field are refused (which one
/// Go keeps is not for the host to guess). Returns the keys that match no field, as written.
pub(crate) fn canonicalize(
    object: &mut Map<String, Value>,
    fields: &[&str],
    at: &str,
) -> Result<Vec<String>, String> {
    let mut unknown = Vec::new();
    let mut renames: Vec<(String, &str)> = Vec::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for key in object.keys() {
        let folded = fold(key);
        let Some(field) = fields.iter().find(|f| folded.as_deref() == Some(f.to_ascii_lowercase().as_str()))
        else {
            unknown.push(key.clone());
            continue;
        };
        if let Some((_, other)) = seen.iter().find(|(f, _)| f == field) {
            let mut keys = [other.to_string(), key.clone()];
            keys.sort();
            return Err(format!("two keys for `{at}{field}` (`{}` and `{}`)", keys[0], keys[1]));
        }
        seen.push((field, key));
        if key != field {
            renames.push((key.clone(), field));
        }
    }
    for (key, field) in renames {
        if let Some(value) = object.remove(&key) {
            object.insert(field.to_string(), value);
        }
    }
    Ok(unknown)
}

/// Parses a body that must be exactly one JSON object with no key repeated in any object (Go
/// keeps the last of repeated keys, or merges them). `Err` holds the reason for a refusal.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut parser = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict::deserialize(&mut parser).and_then(|value| parser.end().map(|()| value.0));
    match parsed {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("a body that is not one JSON object (it is another JSON value)".into()),
        Err(err) => {
            let text = err.to_string();
            Err(match text.strip_prefix(REPEATED) {
                Some(rest) => format!("a body with a repeated key ({rest})"),
                None => format!("a body that is not one JSON object ({text})"),
            })
        }
    }
}

const REPEATED: &str = "repeated key ";

/// A JSON value read without letting a repeated key through.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("{REPEATED}`{key}`")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn paths_decode_like_the_daemon_and_unclean_ones_are_told() {
        assert_eq!(decoded_path("/v1.41/containers/%63reate").as_deref(), Some("/v1.41/containers/create"));
        assert_eq!(decoded_path("/containers%2Fcreate").as_deref(), Some("/containers/create"));
        assert_eq!(decoded_path("/a+b").as_deref(), Some("/a+b"));
        assert_eq!(decoded_path("/bad%zz"), None);
        assert_eq!(decoded_path("/bad%4"), None);
        assert!(is_clean("/v1.41/containers/create"));
        assert!(is_clean("/containers/create/"));
        assert!(is_clean("/"));
        for unclean in ["/containers/./create", "//containers", "/v1.41/../plugins", "/a//b", "/a/.", "x"] {
            assert!(!is_clean(unclean), "{unclean}");
        }
    }

    #[test]
    fn queries_split_and_decode_like_go() {
        assert_eq!(
            query_pairs("t=a%20b&remote=http%3A%2F%2Fx&net%77orkmode=host;q+x=1+2&flag"),
            vec![
                ("t".to_string(), "a b".to_string()),
                ("remote".to_string(), "http://x".to_string()),
                ("networkmode".to_string(), "host".to_string()),
                ("q x".to_string(), "1 2".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(query_pairs("a=%zz"), vec![("a".to_string(), "%zz".to_string())]);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("1.23", "1.40"));
        assert!(version_less("1.9", "1.40"));
        assert!(version_less("1", "1.40"));
        assert!(version_less("1..41", "1.40"));
        assert!(!version_less("1.40", "1.40"));
        assert!(!version_less("1.41", "1.40"));
        assert!(!version_less("01.040", "1.40"));
        assert!(!version_less("1.40.0", "1.40"));
        assert!(!version_less("2", "1.40"));
    }

    #[test]
    fn keys_fold_like_go() {
        assert_eq!(fold("HostConfig").as_deref(), Some("hostconfig"));
        assert_eq!(fold("Bind\u{17F}").as_deref(), Some("binds"));
        assert_eq!(fold("\u{212A}ernelMemory").as_deref(), Some("kernelmemory"));
        assert_eq!(fold("Priv\u{131}leged"), None);
    }

    #[test]
    fn canonical_spelling_and_collisions() {
        let fields = ["Privileged", "Binds", "NetworkMode"];
        let mut object =
            json!({"privileged": true, "BIND\u{17F}": ["/:/h"], "NetworkMode": "none", "Other": 1});
        let unknown = canonicalize(object.as_object_mut().unwrap(), &fields, "HostConfig.").unwrap();
        assert_eq!(unknown, vec!["Other".to_string()]);
        assert_eq!(object, json!({"Privileged": true, "Binds": ["/:/h"], "NetworkMode": "none", "Other": 1}));
        let mut twice = json!({"Privileged": false, "privileged": true});
        assert_eq!(
            canonicalize(twice.as_object_mut().unwrap(), &fields, "HostConfig."),
            Err("two keys for `HostConfig.Privileged` (`Privileged` and `privileged`)".into())
        );
    }

    #[test]
    fn bodies_are_one_object_without_repeated_keys() {
        assert_eq!(
            parse_object(b" {\"a\": [1, {\"b\": null}]} \n"),
            Ok(json!({"a": [1, {"b": null}]}).as_object().unwrap().clone())
        );
        assert_eq!(
            parse_object(b"{\"a\": 1} trailing"),
            Err("a body that is not one JSON object (trailing characters at line 1 column 10)".into())
        );
        assert_eq!(
            parse_object(b"{\"a\": 1}{\"b\": 2}"),
            Err("a body that is not one JSON object (trailing characters at line 1 column 9)".into())
        );
        assert_eq!(
            parse_object(b"[1]"),
            Err("a body that is not one JSON object (it is another JSON value)".into())
        );
        assert_eq!(
            parse_object(b""),
            Err("a body that is not one JSON object (EOF while parsing a value at line 1 column 0)".into())
        );
        assert_eq!(
            parse_object(b"{\"H\": {\"P\": true}, \"H\": {}}"),
            Err("a body with a repeated key (`H` at line 1 column 22)".into())
        );
        assert_eq!(
            parse_object(b"{\"H\": {\"P\": true, \"P\": false}}"),
            Err("a body with a repeated key (`P` at line 1 column 21)".into())
        );
    }
}
