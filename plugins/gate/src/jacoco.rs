//! JaCoCo XML (the Maven and Gradle plugins' `jacoco.xml`): `<report>` with `<package name>`s
//! holding `<class>`es and `<sourcefile name>`s, each level carrying `<counter type="LINE"
//! missed covered/>` and `type="BRANCH"`. Files come from the source files' counters (their path
//! is the package's `name` and the file's); the totals from the report's own counters.

use sluice_plugin::TaskError;

use crate::coverage::{Coverage, FileCoverage};
use crate::xml::{Document, Element};

pub fn parse(text: &str, file: &str) -> Result<Coverage, TaskError> {
    let doc = crate::xml::parse(text, file)?;
    if doc.root.name != "report" {
        return Err(
            doc.error(&doc.root, format!("the root element is <{}>, not JaCoCo's <report>", doc.root.name))
        );
    }
    let mut files = Vec::new();
    for package in doc.root.children("package") {
        let prefix = package.attr("name").unwrap_or_default();
        for source in package.children("sourcefile") {
            let Some(name) = source.attr("name") else {
                return Err(doc.error(source, "<sourcefile> has no `name` attribute"));
            };
            let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
            let (lines_covered, lines_total) = counter(&doc, source, "LINE")?.unwrap_or((0, 0));
            let (branches_covered, branches_total) = counter(&doc, source, "BRANCH")?.unwrap_or((0, 0));
            files.push(FileCoverage { path, lines_total, lines_covered, branches_total, branches_covered });
        }
    }
    let mut coverage = Coverage::from_files(files);
    if let Some((covered, total)) = counter(&doc, &doc.root, "LINE")? {
        (coverage.lines_covered, coverage.lines_total) = (covered, total);
    }
    if let Some((covered, total)) = counter(&doc, &doc.root, "BRANCH")? {
        (coverage.branches_covered, coverage.branches_total) = (covered, total);
    }
    Ok(coverage)
}

/// The `(covered, total)` of `element`'s own counter of `kind`.
fn counter(doc: &Document<'_>, element: &Element, kind: &str) -> Result<Option<(u64, u64)>, TaskError> {
    let Some(counter) = element.children("counter").find(|c| c.attr("type") == Some(kind)) else {
        return Ok(None);
    };
    let missed = doc.count(counter, "missed")?;
    let covered = doc.count(counter, "covered")?;
    Ok(Some((covered, covered + missed)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_maven_report_per_source_file_and_in_total() {
        let coverage = parse(include_str!("../fixtures/jacoco.xml"), "jacoco.xml").unwrap();
        let files: Vec<(&str, u64, u64, u64, u64)> = coverage
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.lines_covered, f.lines_total, f.branches_covered, f.branches_total))
            .collect();
        assert_eq!(
            files,
            [("com/example/shop/Cart.java", 7, 8, 3, 4), ("com/example/shop/Tax.java", 1, 4, 0, 2)]
        );
        assert_eq!(
            (
                coverage.lines_covered,
                coverage.lines_total,
                coverage.branches_covered,
                coverage.branches_total
            ),
            (8, 12, 3, 6)
        );
    }

    #[test]
    fn a_counter_that_is_not_a_count_is_named_with_its_position() {
        let text = "<report name=\"r\">\n  <counter type=\"LINE\" missed=\"-1\" covered=\"3\"/>\n</report>";
        let err = parse(text, "j.xml").err().unwrap();
        assert_eq!(err.message(), "j.xml:2:3: malformed report: <counter> missed=\"-1\" is not a count");
    }
}
