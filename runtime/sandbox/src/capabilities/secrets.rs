//! The secrets grant: the resolved secret values of a run, which must never leave it in clear.
//! The host replaces them with [`REDACTED`] in every line it logs for the run, and never cuts a
//! line inside one (each half would escape the replacement).

/// What a secret value is replaced with.
pub const REDACTED: &str = "******";

/// A run's secret values, longest first, so a secret that contains another is replaced whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Empty values are dropped: replacing "" would mark every gap between characters.
    pub(crate) fn new(secrets: &[String]) -> Redactor {
        let mut secrets: Vec<String> = secrets.iter().filter(|s| !s.is_empty()).cloned().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` with every secret value replaced.
    pub(crate) fn redacted(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
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
    fn a_cut_moves_before_a_secret_it_would_split() {
        let redactor = Redactor::new(&["secret".into()]);
        assert_eq!(redactor.safe_cut(b"xxsecretyy", 5), 2);
        assert_eq!(redactor.safe_cut(b"xxsecretyy", 8), 8, "after the secret");
        assert_eq!(redactor.safe_cut(b"xxsecxx", 5), 5, "not a secret after all");
        assert_eq!(redactor.safe_cut(b"short", 99), 5);
    }
}
