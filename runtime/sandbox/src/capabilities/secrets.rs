//! The secrets grant: the resolved secret values of a run, which must never leave it in clear.
//! The host replaces them with [`REDACTED`] in every line it logs for the run, and never cuts a
//! line inside one (each half would escape the replacement).
//!
//! A secret also leaves in disguise: base64 (an `Authorization: Basic` header holds
//! `base64("user:" + secret)`) or percent-encoded (in a URL or a form). Each secret is matched in
//! those forms too; the base64 one at each of the three alignments a secret can have inside a
//! longer encoded text, keeping only the characters that come from the secret's own bits.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

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
        let mut all: Vec<String> = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            all.push(secret.clone());
            all.extend(disguises(secret));
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        all.dedup();
        Redactor { secrets: all }
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

/// The shortest base64 fragment matched: a shorter one would match unrelated encoded text.
const MIN_FRAGMENT: usize = 6;

/// The encoded forms of `secret` that differ from it.
fn disguises(secret: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        for align in 0..3usize {
            let mut bytes = vec![0u8; align];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = engine.encode(&bytes);
            // The characters holding the padding bytes' bits, and a last one holding bits of
            // whatever follows the secret, are not the secret's.
            let start = [0, 2, 3][align];
            let end = if bytes.len() % 3 == 0 { encoded.len() } else { encoded.len() - 1 };
            if end >= start + MIN_FRAGMENT {
                forms.push(encoded[start..end].to_owned());
            }
        }
    }
    // Percent-encoding of everything but the unreserved characters (RFC 3986), with `%20` or,
    // as forms write it, `+` for a space.
    let mut percent = String::new();
    for byte in secret.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => percent.push(byte as char),
            _ => percent.push_str(&format!("%{byte:02X}")),
        }
    }
    forms.push(percent.replace("%20", "+"));
    forms.push(percent.to_ascii_lowercase().replace("%20", "+"));
    forms.push(percent);
    forms.retain(|form| form != secret);
    forms
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
    fn a_secret_is_found_in_base64_at_any_alignment_and_percent_encoded() {
        let secret = "hunter2-is-my/password";
        let redactor = Redactor::new(&[secret.into()]);
        for prefix in ["", "u:", "ab:", "user:"] {
            let basic = STANDARD_NO_PAD.encode(format!("{prefix}{secret}"));
            let line = format!("Authorization: Basic {basic}=");
            let redacted = redactor.redacted(&line);
            assert!(redacted.contains(REDACTED), "{prefix:?}: {redacted}");
            // What is left is the prefix's characters and the two ends', none of the secret's.
            let left = redacted.trim_start_matches("Authorization: Basic ").replace(REDACTED, "");
            assert!(left.len() <= STANDARD_NO_PAD.encode(prefix).len() + 3, "{prefix:?}: {redacted}");
        }
        let url_safe = URL_SAFE_NO_PAD.encode(format!("x{secret}"));
        assert!(redactor.redacted(&url_safe).contains(REDACTED));
        assert_eq!(
            redactor.redacted("GET /login?password=hunter2-is-my%2Fpassword&x=1"),
            "GET /login?password=******&x=1"
        );
        assert_eq!(redactor.redacted("p=hunter2-is-my%2fpassword"), "p=******");
        let spaced = Redactor::new(&["two words".into()]);
        assert_eq!(spaced.redacted("q=two+words and q=two%20words"), "q=****** and q=******");
        // Short secrets have no base64 fragment long enough to be told from other text.
        assert_eq!(Redactor::new(&["abc".into()]).secrets, ["abc"]);
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
