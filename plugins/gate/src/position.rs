//! Where a problem is in a report: `file:line:column`, from a byte offset into its text.

use sluice_plugin::TaskError;

/// A 1-based line and column (the column counts characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to its end).
    pub fn at(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position { line, column: before[line_start..].chars().count() + 1 }
    }
}

/// The error of a malformed report: `reports/unit.xml:12:5: <what>`. A malformed report fails
/// the gate, it never passes silently.
pub fn malformed(file: &str, position: Position, what: impl std::fmt::Display) -> TaskError {
    TaskError::failed(format!("{file}:{}:{}: malformed report: {what}", position.line, position.column))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let text = "ab\nçd<x\n";
        assert_eq!(Position::at(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::at(text, 3), Position { line: 2, column: 1 });
        // `ç` is two bytes: `<` is the third character of line 2.
        assert_eq!(Position::at(text, 6), Position { line: 2, column: 3 });
        assert_eq!(Position::at(text, 100), Position { line: 3, column: 1 });
    }
}
