//! Finding `secret('NAME')` calls in a template. Grants are checked statically and secrets are
//! fetched before a render starts, so every call must name its secret with a string literal.

use super::lexer::{SegmentKind, Token, segments, tokens};

/// A use of `secret` other than a call with one plain string literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret() takes a literal name, e.g. secret('GITHUB_TOKEN')")]
pub(super) struct NotLiteral;

/// One `secret('NAME')` call: the name and the byte offset of the call in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SecretCall {
    pub name: String,
    pub offset: usize,
}

/// Every `secret(...)` call in the template's code, in order. `x.secret` (an attribute) and
/// `f(secret=1)` (a keyword argument) are not calls of the function.
pub(super) fn secret_calls(source: &str) -> Result<Vec<SecretCall>, NotLiteral> {
    let mut calls = Vec::new();
    for segment in segments(source) {
        if segment.kind == SegmentKind::Inert {
            continue;
        }
        let code = &source[segment.code.clone()];
        let tokens = tokens(code);
        for (index, (offset, token)) in tokens.iter().enumerate() {
            if *token != Token::Name("secret") {
                continue;
            }
            let before = index.checked_sub(1).map(|i| &tokens[i].1);
            let after: Vec<&Token<'_>> = tokens[index + 1..].iter().take(3).map(|(_, t)| t).collect();
            if before == Some(&Token::Punct('.')) || is_keyword_argument(&tokens[index + 1..]) {
                continue;
            }
            match after.as_slice() {
                [Token::Punct('('), Token::Str(literal), Token::Punct(')')] => {
                    calls.push(SecretCall {
                        name: literal_value(literal)?,
                        offset: segment.code.start + offset,
                    });
                }
                _ => return Err(NotLiteral),
            }
        }
    }
    Ok(calls)
}

/// `secret=` (but not `secret ==`).
fn is_keyword_argument(rest: &[(usize, Token<'_>)]) -> bool {
    match rest {
        [(eq, Token::Punct('=')), (next, Token::Punct('=')), ..] => next - eq != 1,
        [(_, Token::Punct('=')), ..] => true,
        _ => false,
    }
}

/// The text of a quoted literal; escapes are refused rather than decoded, since secret names
/// are plain identifiers.
fn literal_value(literal: &str) -> Result<String, NotLiteral> {
    let quote = literal.chars().next().ok_or(NotLiteral)?;
    let inner = literal.strip_prefix(quote).and_then(|rest| rest.strip_suffix(quote)).ok_or(NotLiteral)?;
    if inner.contains('\\') || inner.trim().is_empty() {
        return Err(NotLiteral);
    }
    Ok(inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(source: &str) -> Result<Vec<String>, NotLiteral> {
        secret_calls(source).map(|calls| calls.into_iter().map(|c| c.name).collect())
    }

    #[test]
    fn finds_literal_calls_in_expressions_and_statements() {
        assert_eq!(
            names("{{ secret('A') }} {% set t = secret(\"B\") %}{{ secret( 'A' ) }}"),
            Ok(vec!["A".to_string(), "B".to_string(), "A".to_string()])
        );
    }

    #[test]
    fn reports_the_offset_of_each_call() {
        let calls = secret_calls("ab {{ secret('A') }}").expect("literal");
        assert_eq!(calls, vec![SecretCall { name: "A".into(), offset: 6 }]);
    }

    #[test]
    fn ignores_text_comments_raw_blocks_and_attributes() {
        assert_eq!(
            names("secret(x) {# secret(y) #} {% raw %}{{ secret(z) }}{% endraw %} {{ a.secret }}"),
            Ok(vec![])
        );
    }

    #[test]
    fn ignores_keyword_arguments_named_secret() {
        assert_eq!(names("{{ f(secret=1) }}"), Ok(vec![]));
    }

    #[test]
    fn refuses_names_that_are_not_literals() {
        assert_eq!(names("{{ secret(inputs.name) }}"), Err(NotLiteral));
        assert_eq!(names("{{ secret('A' ~ 'B') }}"), Err(NotLiteral));
        assert_eq!(names("{{ secret }}"), Err(NotLiteral));
        assert_eq!(names("{{ secret == 1 }}"), Err(NotLiteral));
        assert_eq!(names("{{ secret('a\\'b') }}"), Err(NotLiteral));
        assert_eq!(names("{{ secret('') }}"), Err(NotLiteral));
    }
}
