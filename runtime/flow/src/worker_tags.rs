//! Worker tags: what a task asks of the machine that runs it (`workerTags: [docker]`) and what a
//! worker says it has (`sluice worker --tags docker,linux`). One spelling for both sides.

/// The longest tag.
pub const MAX_WORKER_TAG: usize = 63;

/// The JSON Schema pattern of a tag, as [`check_worker_tag`] accepts.
pub(crate) const WORKER_TAG_PATTERN: &str = "^[a-z0-9][a-z0-9._-]{0,62}$";

/// A tag starts with a lowercase letter or digit, then lowercase letters, digits, `.`, `_`
/// or `-`, at most [`MAX_WORKER_TAG`] characters. The error says what is wrong.
pub fn check_worker_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let Some(first) = chars.next() else { return Err("a tag cannot be empty".into()) };
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err("it must start with a lowercase letter or a digit".into());
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c))) {
        return Err(format!("`{bad}` is not allowed"));
    }
    if tag.len() > MAX_WORKER_TAG {
        return Err(format!("it is longer than {MAX_WORKER_TAG} characters"));
    }
    Ok(())
}

/// A comma-separated list of tags (`docker,linux`), sorted and each once; empty for "".
pub fn parse_worker_tags(text: &str) -> Result<Vec<String>, String> {
    let mut tags = Vec::new();
    for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        check_worker_tag(tag).map_err(|why| format!("invalid worker tag `{tag}`: {why}"))?;
        tags.push(tag.to_owned());
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// Whether a node holding `held` (sorted) may run what asks for `wanted`.
pub fn holds_worker_tags(held: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|tag| held.binary_search(tag).is_ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_sorted_and_deduplicated() {
        assert_eq!(parse_worker_tags("linux, docker,linux,,").unwrap(), ["docker", "linux"]);
        assert_eq!(parse_worker_tags("").unwrap(), Vec::<String>::new());
        assert!(parse_worker_tags("GPU").unwrap_err().contains("`GPU`"));
        assert!(check_worker_tag("-x").is_err());
        assert!(check_worker_tag("a b").unwrap_err().contains("` `"));
        assert!(check_worker_tag(&"a".repeat(64)).is_err());
        check_worker_tag("gpu-a100.x_1").unwrap();
    }

    #[test]
    fn a_node_holds_what_it_has_every_tag_of() {
        let held = parse_worker_tags("docker,linux").unwrap();
        assert!(holds_worker_tags(&held, &[]));
        assert!(holds_worker_tags(&held, &["docker".to_owned()]));
        assert!(!holds_worker_tags(&held, &["docker".to_owned(), "gpu".to_owned()]));
    }
}
