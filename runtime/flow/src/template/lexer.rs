//! A small scanner for the parts of a template we inspect ourselves: where the `{{ }}` and
//! `{% %}` code is (to tell a whole-expression string from a mixed one) and the tokens inside
//! it (to find `secret('NAME')` calls, which minijinja's static analysis does not report).
//! minijinja still parses and compiles every template; this scanner never decides validity.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SegmentKind {
    /// `{{ ... }}`
    Expression,
    /// `{% ... %}`
    Statement,
    /// Text, comments and `{% raw %}` blocks: nothing that runs.
    Inert,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    pub kind: SegmentKind,
    /// The whole segment, delimiters included.
    pub outer: Range<usize>,
    /// Expression and statement segments: the code between the delimiters (whitespace-control
    /// markers excluded).
    pub code: Range<usize>,
}

/// Splits a template into text and code segments, in order. An unterminated tag runs to the end.
pub(super) fn segments(source: &str) -> Vec<Segment> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    while at + 1 < bytes.len() {
        if bytes[at] != b'{' {
            at += 1;
            continue;
        }
        let (kind, end) = match bytes[at + 1] {
            b'{' => (SegmentKind::Expression, b"}}"),
            b'%' => (SegmentKind::Statement, b"%}"),
            b'#' => (SegmentKind::Inert, b"#}"),
            _ => {
                at += 1;
                continue;
            }
        };
        if text_start < at {
            out.push(Segment { kind: SegmentKind::Inert, outer: text_start..at, code: at..at });
        }
        let segment = match kind {
            SegmentKind::Inert => comment(source, at),
            SegmentKind::Statement => raw_block(source, at).unwrap_or_else(|| code(source, at, kind, end)),
            SegmentKind::Expression => code(source, at, kind, end),
        };
        at = segment.outer.end;
        text_start = at;
        out.push(segment);
    }
    if text_start < bytes.len() {
        out.push(Segment {
            kind: SegmentKind::Inert,
            outer: text_start..bytes.len(),
            code: bytes.len()..bytes.len(),
        });
    }
    out
}

fn comment(source: &str, start: usize) -> Segment {
    let end = source[start + 2..].find("#}").map_or(source.len(), |i| start + 2 + i + 2);
    Segment { kind: SegmentKind::Inert, outer: start..end, code: end..end }
}

/// A `{{ }}` or `{% %}` tag starting at `start`: it ends at the closing delimiter that is
/// outside string literals and brackets (as minijinja's lexer decides).
fn code(source: &str, start: usize, kind: SegmentKind, end: &[u8; 2]) -> Segment {
    let bytes = source.as_bytes();
    let mut code_start = start + 2;
    if matches!(bytes.get(code_start), Some(b'-' | b'+')) {
        code_start += 1;
    }
    let mut depth = 0usize;
    let mut at = code_start;
    while at < bytes.len() {
        if depth == 0 {
            if bytes[at..].starts_with(end) {
                return Segment { kind, outer: start..at + 2, code: code_start..at };
            }
            if matches!(bytes[at], b'-' | b'+') && bytes[at + 1..].starts_with(end) {
                return Segment { kind, outer: start..at + 3, code: code_start..at };
            }
        }
        match bytes[at] {
            b'\'' | b'"' => {
                at = string_end(bytes, at);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    Segment { kind, outer: start..bytes.len(), code: code_start..bytes.len() }
}

/// The index just past the string literal opening at `start` (or the end of the input).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b if b == quote => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// `{% raw %} ... {% endraw %}` starting at `start`, as one inert segment.
fn raw_block(source: &str, start: usize) -> Option<Segment> {
    let open_len = tag_named(source, start, "raw")?;
    let mut search = start + open_len;
    while let Some(offset) = source[search..].find("{%") {
        let at = search + offset;
        if let Some(close_len) = tag_named(source, at, "endraw") {
            let end = at + close_len;
            return Some(Segment { kind: SegmentKind::Inert, outer: start..end, code: end..end });
        }
        search = at + 2;
    }
    let end = source.len();
    Some(Segment { kind: SegmentKind::Inert, outer: start..end, code: end..end })
}

/// The length of `{% <word> %}` (with optional whitespace control) at `start`, if that is what
/// is there.
fn tag_named(source: &str, start: usize, word: &str) -> Option<usize> {
    let rest = source[start..].strip_prefix("{%")?;
    let rest = rest.strip_prefix(['-', '+']).unwrap_or(rest);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(word)?;
    let after_word = rest.trim_start();
    if after_word.len() == rest.len() && !rest.starts_with(['-', '+', '%']) {
        return None; // `{% rawness %}` is not `{% raw %}`
    }
    let rest = after_word.strip_prefix(['-', '+']).unwrap_or(after_word);
    let rest = rest.strip_prefix("%}")?;
    Some(source.len() - start - rest.len())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token<'a> {
    Name(&'a str),
    /// A string literal, quotes included.
    Str(&'a str),
    Punct(char),
}

/// The tokens of one piece of code, each with its byte offset into `code`. Whitespace and
/// numbers are skipped; names and strings are what the callers look at.
pub(super) fn tokens(code: &str) -> Vec<(usize, Token<'_>)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let b = bytes[at];
        if b.is_ascii_whitespace() {
            at += 1;
        } else if b == b'\'' || b == b'"' {
            let end = string_end(bytes, at);
            out.push((at, Token::Str(&code[at..end])));
            at = end;
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let end = name_end(bytes, at);
            out.push((at, Token::Name(&code[at..end])));
            at = end;
        } else if b.is_ascii_digit() {
            // `1e5`, `0x1f`: a number is digits followed by name characters.
            at = name_end(bytes, at);
        } else {
            let c = code[at..].chars().next().unwrap_or('\u{fffd}');
            out.push((at, Token::Punct(c)));
            at += c.len_utf8();
        }
    }
    out
}

fn name_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<(SegmentKind, &str)> {
        segments(source).into_iter().map(|s| (s.kind, &source[s.outer])).collect()
    }

    fn code_of(source: &str) -> Vec<&str> {
        segments(source)
            .into_iter()
            .filter(|s| s.kind != SegmentKind::Inert)
            .map(|s| &source[s.code])
            .collect()
    }

    #[test]
    fn splits_text_expressions_statements_and_comments() {
        assert_eq!(
            kinds("a {{ x }} b {% if y %}c{% endif %}{# note #}"),
            vec![
                (SegmentKind::Inert, "a "),
                (SegmentKind::Expression, "{{ x }}"),
                (SegmentKind::Inert, " b "),
                (SegmentKind::Statement, "{% if y %}"),
                (SegmentKind::Inert, "c"),
                (SegmentKind::Statement, "{% endif %}"),
                (SegmentKind::Inert, "{# note #}"),
            ]
        );
    }

    #[test]
    fn closing_delimiters_inside_strings_and_brackets_do_not_end_a_tag() {
        assert_eq!(code_of("{{ '}}' ~ {'a': {'b': 1}} }}"), vec![" '}}' ~ {'a': {'b': 1}} "]);
        assert_eq!(code_of(r#"{{ "a\"}}" }}"#), vec![r#" "a\"}}" "#]);
        assert_eq!(code_of("{{ {'a': 1}}}"), vec![" {'a': 1}"]);
    }

    #[test]
    fn whitespace_control_markers_are_not_code() {
        assert_eq!(code_of("{{- x -}}{%+ if y +%}"), vec![" x ", " if y "]);
        assert_eq!(kinds("{{- x -}}")[0].1, "{{- x -}}");
    }

    #[test]
    fn raw_blocks_are_inert() {
        assert_eq!(
            kinds("{% raw %}{{ secret(x) }}{%- endraw -%}{{ y }}"),
            vec![
                (SegmentKind::Inert, "{% raw %}{{ secret(x) }}{%- endraw -%}"),
                (SegmentKind::Expression, "{{ y }}"),
            ]
        );
        assert_eq!(kinds("{% rawness %}")[0].0, SegmentKind::Statement);
    }

    #[test]
    fn an_unterminated_tag_runs_to_the_end() {
        assert_eq!(kinds("a {{ x"), vec![(SegmentKind::Inert, "a "), (SegmentKind::Expression, "{{ x")]);
    }

    #[test]
    fn tokens_are_names_strings_and_punctuation() {
        assert_eq!(
            tokens("secret('A') ~ x.y[1e5]"),
            vec![
                (0, Token::Name("secret")),
                (6, Token::Punct('(')),
                (7, Token::Str("'A'")),
                (10, Token::Punct(')')),
                (12, Token::Punct('~')),
                (14, Token::Name("x")),
                (15, Token::Punct('.')),
                (16, Token::Name("y")),
                (17, Token::Punct('[')),
                (21, Token::Punct(']')),
            ]
        );
    }
}
