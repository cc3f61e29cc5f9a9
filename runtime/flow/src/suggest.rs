//! "Did you mean ...?" for misspelled keys, types and names.

/// The candidate closest to `word`, if one is close enough to be a likely typo. Spellings that
/// differ only in case, `_` or `-` (`allow_failure`, `dependson`) always match.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let folded = fold(word);
    let mut best: Option<(&str, usize)> = None;
    for candidate in candidates {
        if fold(candidate) == folded {
            return Some(candidate);
        }
        let distance = strsim::damerau_levenshtein(&word.to_lowercase(), &candidate.to_lowercase());
        let allowed = (candidate.chars().count().max(word.chars().count()) / 3).max(1);
        if distance <= allowed && best.is_none_or(|(_, d)| distance < d) {
            best = Some((candidate, distance));
        }
    }
    best.map(|(candidate, _)| candidate)
}

/// `did you mean `x`?` for the closest candidate.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `` `a`, `b`, `c` `` for listing allowed values.
pub fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

fn fold(word: &str) -> String {
    word.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEYS: [&str; 4] = ["dependsOn", "allowFailure", "description", "id"];

    #[test]
    fn typos_find_the_intended_key() {
        assert_eq!(closest("dependOn", KEYS), Some("dependsOn"));
        assert_eq!(closest("allow_failure", KEYS), Some("allowFailure"));
        assert_eq!(closest("descriptoin", KEYS), Some("description"));
        assert_eq!(closest("ID", KEYS), Some("id"));
    }

    #[test]
    fn unrelated_words_find_nothing() {
        assert_eq!(closest("url", KEYS), None);
        assert_eq!(closest("xy", ["id"]), None);
    }

    #[test]
    fn the_nearest_of_several_wins() {
        assert_eq!(closest("parallell", ["parallel", "sequential"]), Some("parallel"));
        assert_eq!(did_you_mean("gti", ["core", "git"]).as_deref(), Some("did you mean `git`?"));
    }
}
