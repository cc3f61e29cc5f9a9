//! `.dockerignore`: which files of the build context are left out. One pattern per line, `#`
//! comments, `!` re-includes, the last matching line wins.

use crate::glob::Glob;

/// The parsed rules of a `.dockerignore`.
#[derive(Debug, Default)]
pub struct DockerIgnore {
    rules: Vec<(Glob, bool)>,
}

impl DockerIgnore {
    /// Parses the file's text.
    pub fn parse(text: &str) -> DockerIgnore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| match line.strip_prefix('!') {
                Some(pattern) => (Glob::new(pattern.trim()), false),
                None => (Glob::new(line), true),
            })
            .collect();
        DockerIgnore { rules }
    }

    /// Whether the file at `path` (relative to the context) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (glob, exclude) in &self.rules {
            if glob.matches(path) {
                excluded = *exclude;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_match_wins_and_comments_are_skipped() {
        let ignore = DockerIgnore::parse("# build output\ntarget\n*.md\n!README.md\n\n**/*.tmp\n");
        assert!(ignore.excludes("target/debug/app"));
        assert!(ignore.excludes("NOTES.md"));
        assert!(!ignore.excludes("README.md"));
        assert!(ignore.excludes("src/x.tmp"));
        assert!(!ignore.excludes("src/main.rs"));
        assert!(!ignore.excludes("docs/a.md"));
    }
}
