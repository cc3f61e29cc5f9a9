//! Text from plugins on the operator's terminal: shown, never obeyed. A component's log line or
//! error could carry escape sequences (clear the screen, set the window title, repaint earlier
//! lines, rewrite the clipboard through OSC 52) or bidirectional overrides that reorder what is
//! read; the CLI prints them escaped, as `\x1b` or `\u{202e}`, like the JSON answers do.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character except tab, and every bidirectional formatting
/// character, written as an escape.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if c.is_ascii() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn plain_text_is_left_alone() {
        assert!(matches!(shown("build ok\tin 3 s: ✓ ünïcode"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_bells_and_c1_controls_are_shown_escaped() {
        assert_eq!(shown("\x1b[2Jgone\x07"), "\\x1b[2Jgone\\x07");
        assert_eq!(shown("\x1b]0;pwned\x07title"), "\\x1b]0;pwned\\x07title");
        assert_eq!(shown("a\rb\nc\x7f"), "a\\x0db\\x0ac\\x7f");
        assert_eq!(shown("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn bidirectional_overrides_are_shown_escaped() {
        assert_eq!(shown("ok \u{202e}gnp.exe"), "ok \\u{202e}gnp.exe");
        assert_eq!(shown("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }
}
