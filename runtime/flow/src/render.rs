//! Diagnostics as a compiler prints them: `file:line:col: error: ...`, the line with the
//! problem underlined, the hint, and a count at the end. Golden-tested: keep the format stable.

use std::fmt::Write as _;

use crate::diagnostic::Diagnostic;
use crate::source_map::{SourceMap, Span};

/// All of `diagnostics` about the file `file_name` holding `text`, sorted by position
/// (document-wide ones first), then `N errors`. Nothing at all when there are none. Works for
/// any text, syntax errors included.
pub fn render(diagnostics: &[Diagnostic], file_name: &str, text: &str) -> String {
    if diagnostics.is_empty() {
        return String::new();
    }
    render_source(diagnostics, &SourceMap::new(file_name, text))
}

/// [`render`] against a file already indexed (a [`crate::LockedFlow`]'s `source`).
pub fn render_source(diagnostics: &[Diagnostic], source: &SourceMap) -> String {
    if diagnostics.is_empty() {
        return String::new();
    }
    let mut located: Vec<(Option<Span>, &Diagnostic)> = diagnostics
        .iter()
        .map(|d| {
            let span = match d.position {
                Some(position) => Some(Span::at(position)),
                None => source.locate(&d.pointer, d.at_key),
            };
            (span, d)
        })
        .collect();
    // Stable: diagnostics at one place keep the order they were found in.
    located.sort_by_key(|(span, _)| span.map(|s| s.start));
    let gutter =
        located.iter().filter_map(|(span, _)| span.map(|s| s.start.0.to_string().len())).max().unwrap_or(1);
    let mut out = String::new();
    for (span, diagnostic) in &located {
        render_one(&mut out, diagnostic, *span, source, gutter);
        out.push('\n');
    }
    let count = diagnostics.len();
    let _ = writeln!(out, "{count} error{}", if count == 1 { "" } else { "s" });
    out
}

fn render_one(
    out: &mut String,
    diagnostic: &Diagnostic,
    span: Option<Span>,
    source: &SourceMap,
    gutter: usize,
) {
    let file = source.file_name();
    let blank = " ".repeat(gutter);
    let Some(span) = span else {
        let _ = writeln!(out, "{file}: error: {}", diagnostic.message);
        return hint(out, diagnostic, &blank);
    };
    let (number, column) = span.start;
    let _ = writeln!(out, "{file}:{number}:{column}: error: {}", diagnostic.message);
    // A syntax error at the very end of the file has no line to show.
    if let Some(line) = source.line(number) {
        let line = line.trim_end();
        let _ = writeln!(out, "{blank} |");
        let _ = writeln!(out, "{number:>gutter$} | {line}");
        let _ = writeln!(out, "{blank} | {}", underline(line, span));
    }
    hint(out, diagnostic, &blank);
}

fn hint(out: &mut String, diagnostic: &Diagnostic, blank: &str) {
    if let Some(hint) = &diagnostic.hint {
        let _ = writeln!(out, "{blank} = hint: {hint}");
    }
}

/// The columns a diagnostic underlines on its first line: 1-based, the end exclusive; the span's
/// part on that line, at least one character. What `sluice validate`'s carets and the UI's
/// underline both show.
pub fn underlined_columns(line: &str, span: Span) -> (usize, usize) {
    let start = span.start.1.saturating_sub(1);
    let length = line.chars().count();
    let end = if span.end.0 == span.start.0 { span.end.1.saturating_sub(1) } else { length };
    (start + 1, end.min(length).max(start + 1) + 1)
}

/// Spaces up to the span's start column (tabs kept, so the carets line up), then one caret per
/// character of the span on this line (at least one).
fn underline(line: &str, span: Span) -> String {
    let chars: Vec<char> = line.chars().collect();
    let (first, past) = underlined_columns(line, span);
    let (start, end) = (first - 1, past - 1);
    let mut out: String = chars.iter().take(start).map(|c| if *c == '\t' { '\t' } else { ' ' }).collect();
    if start > chars.len() {
        out.extend(std::iter::repeat_n(' ', start - chars.len()));
    }
    out.extend(std::iter::repeat_n('^', end - start));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_error_with_a_hint() {
        let text =
            "id: hello\nnamespace: demo\ntasks:\n  - id: build\n    type: core.log\n    dependOn: [clone]\n";
        let source = SourceMap::new("flow.yaml", text);
        let diagnostic = Diagnostic::at_key("/tasks/0/dependOn", "unknown key `dependOn` in task `build`")
            .with_hint("did you mean `dependsOn`?");
        assert_eq!(
            render_source(&[diagnostic], &source),
            "flow.yaml:6:5: error: unknown key `dependOn` in task `build`\n  |\n6 |     dependOn: [clone]\n  |     \
             ^^^^^^^^\n  = hint: did you mean `dependsOn`?\n\n1 error\n"
        );
    }

    #[test]
    fn sorted_by_position_with_a_shared_gutter_and_a_count() {
        let mut text = String::from("id: hello\nnamespace: demo\ntasks:\n");
        for i in 0..10 {
            text.push_str(&format!("  - id: t{i}\n    type: core.log\n"));
        }
        let source = SourceMap::new("f.yaml", text);
        let late = Diagnostic::at("/tasks/9/id", "late");
        let early = Diagnostic::at("/namespace", "early");
        let nowhere = Diagnostic::at("/nothing/here", "whole file");
        let out = render_source(&[late, early, nowhere], &source);
        assert_eq!(
            out,
            "f.yaml:1:1: error: whole file\n   |\n 1 | id: hello\n   | ^\n\n\
             f.yaml:2:12: error: early\n   |\n 2 | namespace: demo\n   |            ^^^^\n\n\
             f.yaml:22:9: error: late\n   |\n22 |   - id: t9\n   |         ^^\n\n3 errors\n"
        );
    }

    #[test]
    fn a_syntax_error_position_without_a_parse() {
        let source = SourceMap::new("bad.yaml", "a: [1\n");
        let mut diagnostic = Diagnostic::at("", "invalid YAML: something");
        diagnostic.position = Some((2, 1));
        assert_eq!(
            render_source(&[diagnostic], &source),
            "bad.yaml:2:1: error: invalid YAML: something\n\n1 error\n"
        );
        let mut diagnostic = Diagnostic::at("", "invalid YAML: something");
        diagnostic.position = Some((1, 6));
        assert_eq!(
            render_source(&[diagnostic], &source),
            "bad.yaml:1:6: error: invalid YAML: something\n  |\n1 | a: [1\n  |      ^\n\n1 error\n"
        );
    }

    #[test]
    fn no_diagnostics_render_nothing() {
        assert_eq!(render(&[], "f.yaml", ""), "");
    }
}
