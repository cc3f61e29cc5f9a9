//! Template errors as users read them: what was rendered, what went wrong, and on which line of
//! a multi-line template. Never a value from the context (minijinja's debug info, which carries
//! them, is turned off).

use minijinja::ErrorKind;

use super::secrets::SecretRefusal;
use super::{FUEL, MAX_OUTPUT_BYTES};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct TemplateError {
    /// What was rendered (`tasks.build.url`, `/tasks/2/url`), as the caller named it.
    pub location: String,
    /// What went wrong, e.g. "undefined variable `outputs.clone.comit`".
    pub message: String,
}

impl TemplateError {
    pub(super) fn new(location: &str, message: impl Into<String>) -> Self {
        Self { location: location.to_string(), message: message.into() }
    }
}

/// The message for an error minijinja raised while compiling or running `source`; `line_offset`
/// is added to its line (for an expression compiled out of a larger string).
pub(super) fn describe(err: &minijinja::Error, source: &str, line_offset: usize) -> String {
    let message = match refusal(err) {
        Some(refusal) => refusal.to_string(),
        None => describe_kind(err),
    };
    match err.line() {
        Some(line) if source.contains('\n') => format!("{message} (line {})", line + line_offset),
        _ => message,
    }
}

fn describe_kind(err: &minijinja::Error) -> String {
    let detail = err.detail().unwrap_or_default();
    match err.kind() {
        ErrorKind::UndefinedError => match undefined_expression(detail) {
            Some(expr) => format!("undefined variable `{expr}`"),
            None if detail.is_empty() => "undefined value".to_string(),
            None => format!("undefined value: {detail}"),
        },
        ErrorKind::OutOfFuel => format!(
            "the template does too much work (it used up its budget of {FUEL} steps); \
             move heavy processing into a task"
        ),
        ErrorKind::WriteFailure => format!("the rendered text is larger than {} MiB", MAX_OUTPUT_BYTES >> 20),
        kind if detail.is_empty() => kind.to_string(),
        kind => format!("{kind}: {detail}"),
    }
}

/// minijinja names the undefined expression as "`outputs.clone.comit` is undefined".
fn undefined_expression(detail: &str) -> Option<&str> {
    let end = detail.find("` is undefined")?;
    let start = detail[..end].rfind('`')?;
    Some(&detail[start + 1..end])
}

/// A refused `secret()` call, raised by our function and carried as the error's source.
fn refusal(err: &minijinja::Error) -> Option<&SecretRefusal> {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<SecretRefusal>() {
            return Some(refusal);
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_undefined_expression_in_minijinja_details() {
        assert_eq!(undefined_expression("`outputs.a.b` is undefined"), Some("outputs.a.b"));
        assert_eq!(undefined_expression("`x` is undefined (from line 2)"), Some("x"));
        assert_eq!(undefined_expression("cannot add (`y` is undefined)"), Some("y"));
        assert_eq!(undefined_expression("undefined"), None);
    }
}
