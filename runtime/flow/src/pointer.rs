//! Building JSON pointers (RFC 6901) while walking the document.

/// `base` extended by one object key, escaped (`~` -> `~0`, `/` -> `~1`).
pub fn key(base: &str, key: &str) -> String {
    let mut out = String::with_capacity(base.len() + key.len() + 1);
    out.push_str(base);
    out.push('/');
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// `base` extended by one list index.
pub fn index(base: &str, index: usize) -> String {
    format!("{base}/{index}")
}

/// The pointer one level up, `None` for the document itself.
pub fn parent(pointer: &str) -> Option<&str> {
    pointer.rfind('/').map(|at| &pointer[..at])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_escaped() {
        assert_eq!(key("/cases", "a/b~c"), "/cases/a~1b~0c");
        assert_eq!(index(&key("", "tasks"), 2), "/tasks/2");
    }

    #[test]
    fn parent_walks_up_to_the_document() {
        assert_eq!(parent("/tasks/2/id"), Some("/tasks/2"));
        assert_eq!(parent("/tasks"), Some(""));
        assert_eq!(parent(""), None);
    }
}
