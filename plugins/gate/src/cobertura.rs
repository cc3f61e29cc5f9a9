//! Cobertura XML, as `coverage xml` (coverage.py), gcovr, and the Cobertura Maven plugin write
//! it: `<coverage line-rate branch-rate lines-valid ...>`, then `<packages><package><classes>
//! <class filename><lines><line number hits branch condition-coverage="50% (1/2)">`. Classes of
//! one file (Java's inner classes) are merged by `filename`, a line counted once. With no class
//! in the report, the root's `lines-valid`/`lines-covered`/`branches-*` are the totals.

use std::collections::BTreeMap;

use sluice_plugin::TaskError;

use crate::coverage::{Coverage, FileCoverage};
use crate::xml::{Document, Element};

/// A line: hit or not, and its branches (covered, total).
type Line = (bool, u64, u64);

pub fn parse(text: &str, file: &str) -> Result<Coverage, TaskError> {
    let doc = crate::xml::parse(text, file)?;
    if doc.root.name != "coverage" {
        return Err(doc.error(
            &doc.root,
            format!("the root element is <{}>, not Cobertura's <coverage>", doc.root.name),
        ));
    }
    let mut by_file: BTreeMap<String, BTreeMap<u64, Line>> = BTreeMap::new();
    for packages in doc.root.children("packages") {
        for package in packages.children("package") {
            for classes in package.children("classes") {
                for class in classes.children("class") {
                    let Some(filename) = class.attr("filename") else {
                        return Err(doc.error(class, "<class> has no `filename` attribute"));
                    };
                    let lines = by_file.entry(filename.to_string()).or_default();
                    for line in class.children("lines").flat_map(|l| l.children("line")) {
                        let (number, value) = line_of(&doc, line)?;
                        let seen = lines.entry(number).or_insert((false, 0, 0));
                        seen.0 |= value.0;
                        seen.1 = seen.1.max(value.1);
                        seen.2 = seen.2.max(value.2);
                    }
                }
            }
        }
    }
    if by_file.is_empty() {
        let root = &doc.root;
        return Ok(Coverage {
            files: Vec::new(),
            lines_total: doc.count(root, "lines-valid")?,
            lines_covered: doc.count(root, "lines-covered")?,
            branches_total: doc.count(root, "branches-valid")?,
            branches_covered: doc.count(root, "branches-covered")?,
        });
    }
    let files = by_file
        .into_iter()
        .map(|(path, lines)| FileCoverage {
            path,
            lines_total: lines.len() as u64,
            lines_covered: lines.values().filter(|l| l.0).count() as u64,
            branches_covered: lines.values().map(|l| l.1).sum(),
            branches_total: lines.values().map(|l| l.2).sum(),
        })
        .collect();
    Ok(Coverage::from_files(files))
}

fn line_of(doc: &Document<'_>, line: &Element) -> Result<(u64, Line), TaskError> {
    let number = match line.attr("number").map(|n| n.trim().parse::<u64>()) {
        Some(Ok(number)) => number,
        _ => return Err(doc.error(line, "<line> needs a `number` that is a line number")),
    };
    let hits = doc.count(line, "hits")?;
    let (mut covered, mut total) = (0, 0);
    if line.attr("branch") == Some("true") {
        // `condition-coverage="50% (1/2)"`: the counts are in the parentheses.
        let condition = line.attr("condition-coverage").unwrap_or_default();
        let counts =
            condition.split_once('(').and_then(|(_, rest)| rest.trim_end_matches(')').split_once('/'));
        match counts.map(|(c, t)| (c.trim().parse::<u64>(), t.trim().parse::<u64>())) {
            Some((Ok(c), Ok(t))) => (covered, total) = (c, t),
            _ => {
                return Err(doc.error(
                    line,
                    format!("<line number=\"{number}\"> condition-coverage=\"{condition}\" is not `N% (covered/total)`"),
                ));
            }
        }
    }
    Ok((number, (hits > 0, covered, total)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn coverage_py_xml_per_file_with_branches() {
        let coverage = parse(include_str!("../fixtures/coverage-py.xml"), "coverage.xml").unwrap();
        let files: Vec<(&str, u64, u64, u64, u64)> = coverage
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.lines_covered, f.lines_total, f.branches_covered, f.branches_total))
            .collect();
        assert_eq!(files, [("app/__init__.py", 2, 2, 0, 0), ("app/server.py", 7, 9, 1, 4)]);
        assert_eq!(
            (
                coverage.lines_covered,
                coverage.lines_total,
                coverage.branches_covered,
                coverage.branches_total
            ),
            (9, 11, 1, 4)
        );
    }

    #[test]
    fn a_bad_condition_coverage_is_named_with_its_position() {
        let text = "<coverage>\n<packages><package><classes><class filename=\"a.py\"><lines>\n  <line number=\"3\" hits=\"1\" branch=\"true\" condition-coverage=\"half\"/>\n</lines></class></classes></package></packages></coverage>";
        let err = parse(text, "c.xml").err().unwrap();
        assert_eq!(
            err.message(),
            "c.xml:3:3: malformed report: <line number=\"3\"> condition-coverage=\"half\" is not `N% (covered/total)`"
        );
    }

    #[test]
    fn a_summary_only_report_uses_the_root_counts() {
        let text = "<coverage lines-valid=\"200\" lines-covered=\"150\" branches-valid=\"10\" branches-covered=\"5\" line-rate=\"0.75\"/>";
        let coverage = parse(text, "c.xml").unwrap();
        assert_eq!((coverage.lines_covered, coverage.lines_total, coverage.branches_covered), (150, 200, 5));
    }
}
