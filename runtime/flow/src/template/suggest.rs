//! "did you mean" for names in templates.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(super) fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(&word, &candidate.to_lowercase()), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_name_only_when_it_is_near() {
        assert_eq!(closest("biuld", ["build", "test", "deploy"]), Some("build"));
        assert_eq!(closest("input", ["inputs", "outputs"]), Some("inputs"));
        assert_eq!(closest("xyz", ["build", "test"]), None);
    }
}
