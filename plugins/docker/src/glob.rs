//! Path globs as `.dockerignore` and `outputFiles` use them: `/`-separated, `*` and `?` within
//! one segment, `**` for any number of segments. A pattern that matches a directory matches
//! everything under it.

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    segments: Vec<String>,
}

impl Glob {
    /// Compiles `pattern`, cleaned: leading `/` and `./`, `.` segments and repeated `/` dropped.
    pub fn new(pattern: &str) -> Glob {
        let segments =
            pattern.split('/').filter(|s| !s.is_empty() && *s != ".").map(str::to_string).collect();
        Glob { segments }
    }

    /// Whether the pattern matches `path` (relative, `/`-separated) or one of its parent
    /// directories.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        (1..=parts.len()).any(|n| match_segments(&self.segments, &parts[..n]))
    }
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                match_segment(first.as_bytes(), segment.as_bytes()) && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*` (any run of bytes) and `?` (one byte) within a segment.
fn match_segment(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += 1;
            }
            Some(c) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_stars_and_parents() {
        let cases = [
            ("*.log", "a.log", true),
            ("*.log", "dir/a.log", false),
            ("**/*.log", "dir/sub/a.log", true),
            ("**/*.log", "a.log", true),
            ("target", "target/debug/app", true),
            ("/target/", "target", true),
            ("tar?et", "target", true),
            ("src/*.rs", "src/main.rs", true),
            ("src/*.rs", "src/bin/main.rs", false),
            ("./out/**", "out/a/b", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(Glob::new(pattern).matches(path), expected, "{pattern} vs {path}");
        }
    }
}
