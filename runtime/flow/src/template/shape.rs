//! What kind of text a templated field holds, decided before anything is rendered.

use std::borrow::Cow;

use super::lexer::{SegmentKind, segments};

/// Whether the text contains template syntax at all; plain text renders to itself.
pub(super) fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The expression of a string that is exactly one `{{ expr }}` (whitespace around allowed),
/// with the byte offset of the expression in `text`. Such a string keeps the expression's
/// native type when rendered as a value.
pub(super) fn whole_expression(text: &str) -> Option<(&str, usize)> {
    let leading = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    match segments(trimmed).as_slice() {
        [only] if only.kind == SegmentKind::Expression && only.outer == (0..trimmed.len()) => {
            let code = &trimmed[only.code.clone()];
            (!code.trim().is_empty() && trimmed.ends_with("}}")).then_some((code, leading + only.code.start))
        }
        _ => None,
    }
}

/// A condition as written: a literal, or something to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Condition<'a> {
    Literal(bool),
    /// A template; a bare expression is wrapped as `{{ expr }}` (on the same line, so line
    /// numbers in errors stay right).
    Template(Cow<'a, str>),
}

/// `false`, `0`, `no` and the empty string (any case, trimmed) are false; `true`, `1` and `yes`
/// are true; anything else is a template or a bare expression.
pub(super) fn condition(text: &str) -> Condition<'_> {
    if let Some(value) = literal_truth(text) {
        return Condition::Literal(value);
    }
    if is_template(text) {
        Condition::Template(Cow::Borrowed(text))
    } else {
        Condition::Template(Cow::Owned(format!("{{{{ {text} }}}}")))
    }
}

/// The truth of a rendered string.
pub(super) fn string_truth(text: &str) -> bool {
    literal_truth(text).unwrap_or(true)
}

fn literal_truth(text: &str) -> Option<bool> {
    let word = text.trim().to_ascii_lowercase();
    match word.as_str() {
        "" | "false" | "0" | "no" => Some(false),
        "true" | "1" | "yes" => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_single_whole_expression() {
        assert_eq!(whole_expression("{{ outputs.list.items }}"), Some((" outputs.list.items ", 2)));
        assert_eq!(whole_expression("  {{- inputs.n -}}\n"), Some((" inputs.n ", 5)));
        assert_eq!(whole_expression("{{ {'a': [1]} }}"), Some((" {'a': [1]} ", 2)));
    }

    #[test]
    fn mixed_or_statement_strings_are_not_whole_expressions() {
        assert_eq!(whole_expression("v{{ x }}"), None);
        assert_eq!(whole_expression("{{ x }}{{ y }}"), None);
        assert_eq!(whole_expression("{{ x }} and {{ y }}"), None);
        assert_eq!(whole_expression("{% if x %}1{% endif %}"), None);
        assert_eq!(whole_expression("{{ }}"), None);
        assert_eq!(whole_expression("{{ x"), None);
        assert_eq!(whole_expression("plain"), None);
    }

    #[test]
    fn conditions_are_literals_templates_or_bare_expressions() {
        assert_eq!(condition(" No "), Condition::Literal(false));
        assert_eq!(condition("FALSE"), Condition::Literal(false));
        assert_eq!(condition("0"), Condition::Literal(false));
        assert_eq!(condition(""), Condition::Literal(false));
        assert_eq!(condition("yes"), Condition::Literal(true));
        assert_eq!(condition("{{ inputs.deploy }}"), Condition::Template("{{ inputs.deploy }}".into()));
        assert_eq!(
            condition("inputs.a and inputs.b"),
            Condition::Template("{{ inputs.a and inputs.b }}".into())
        );
    }

    #[test]
    fn rendered_strings_are_true_unless_they_spell_false() {
        assert!(!string_truth(" false\n"));
        assert!(!string_truth("No"));
        assert!(!string_truth(""));
        assert!(string_truth("deploy"));
        assert!(string_truth("False positive"));
    }
}
