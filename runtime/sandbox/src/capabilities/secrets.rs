//! The secrets grant: the resolved secret values of a run, which must never leave it in clear.
//! The host replaces them with [`REDACTED`] in every line it logs for the run, and never cuts a
//! line inside one (each half would escape the replacement).

/// What a secret value is replaced with.
pub const REDACTED: &str = "******";

/// A run's secret values, longest first, so a secret that contains another is replaced whole.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Empty values are dropped: replacing "" would mark every gap between characters.
    pub fn new(secrets: &[String]) -> Redactor {
        let mut secrets: Vec<String> = secrets.iter().filter(|s| !s.is_empty()).cloned().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` with every secret value replaced.
    pub fn redacted(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }

    /// Replaces every secret value inside the strings of `value`, object keys included (a
    /// plugin may key a map by a token). Keys that become equal once redacted keep the last value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        if self.secrets.is_empty() {
            return;
        }
        match value {
            Value::String(s) => *s = self.redacted(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                if map.keys().any(|k| self.secrets.iter().any(|s| k.contains(s.as_str()))) {
                    *map = std::mem::take(map).into_iter().map(|(k, v)| (self.redacted(&k), v)).collect();
                }
                map.values_mut().for_each(|v| self.redact_json(v));
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// The largest cut at or before `at` that splits no secret: if the bytes before `at` end
    /// with the start of a secret that the bytes after continue, the cut moves before it.
    pub(crate) fn safe_cut(&self, text: &[u8], at: usize) -> usize {
        let mut cut = at.min(text.len());
        for secret in &self.secrets {
            let secret = secret.as_bytes();
            for head in (1..secret.len()).rev() {
                if head <= cut
                    && text[cut - head..cut] == secret[..head]
                    && text[cut..].starts_with(&secret[head..])
                {
                    cut -= head;
                    break;
                }
            }
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_secret_is_replaced_first_and_empty_ones_never() {
        let redactor = Redactor::new(&["abc".into(), String::new(), "abcdef".into()]);
        assert_eq!(redactor.redacted("token=abcdef short=abc"), "token=****** short=******");
    }

    #[test]
    fn json_keys_and_values_are_redacted() {
        let redactor = Redactor::new(&["tok".into()]);
        let mut value = serde_json::json!({"a-tok": ["x tok", 1], "b": {"tok": null}});
        redactor.redact_json(&mut value);
        assert_eq!(value, serde_json::json!({"a-******": ["x ******", 1], "b": {"******": null}}));
    }

    #[test]
    fn a_cut_moves_before_a_secret_it_would_split() {
        let redactor = Redactor::new(&["secret".into()]);
        assert_eq!(redactor.safe_cut(b"xxsecretyy", 5), 2);
        assert_eq!(redactor.safe_cut(b"xxsecretyy", 8), 8, "after the secret");
        assert_eq!(redactor.safe_cut(b"xxsecxx", 5), 5, "not a secret after all");
        assert_eq!(redactor.safe_cut(b"short", 99), 5);
    }
}
