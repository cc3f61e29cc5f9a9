//! The coverage model the three formats parse into: per-file line and branch counts, and the
//! format a report is in when the flow does not say.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_plugin::TaskError;

use crate::position::{Position, malformed};

/// A coverage report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// lcov tracefiles (`SF:`, `DA:`, `BRDA:`, `LF`/`LH`, `BRF`/`BRH`).
    Lcov,
    /// Cobertura XML (`coverage xml`, gcovr, many others).
    Cobertura,
    /// JaCoCo XML.
    Jacoco,
}

/// The counts of one source file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCoverage {
    pub path: String,
    pub lines_total: u64,
    pub lines_covered: u64,
    pub branches_total: u64,
    pub branches_covered: u64,
}

impl FileCoverage {
    pub fn new(path: impl Into<String>) -> Self {
        FileCoverage { path: path.into(), ..FileCoverage::default() }
    }
}

/// What one report says: its files, and its totals (the report's own when it gives them, as
/// JaCoCo's report-level counters do; else the sum of its files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    pub files: Vec<FileCoverage>,
    pub lines_total: u64,
    pub lines_covered: u64,
    pub branches_total: u64,
    pub branches_covered: u64,
}

impl Coverage {
    /// Totals summed from `files`.
    pub fn from_files(files: Vec<FileCoverage>) -> Coverage {
        Coverage {
            lines_total: files.iter().map(|f| f.lines_total).sum(),
            lines_covered: files.iter().map(|f| f.lines_covered).sum(),
            branches_total: files.iter().map(|f| f.branches_total).sum(),
            branches_covered: files.iter().map(|f| f.branches_covered).sum(),
            files,
        }
    }
}

/// The format of `text`: an XML root of `<coverage>` is Cobertura, `<report>` JaCoCo; a text
/// with lcov records is lcov.
pub fn sniff(text: &str, file: &str) -> Result<Format, TaskError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('<') {
        let doc = crate::xml::parse(text, file)?;
        return match doc.root.name.as_str() {
            "coverage" => Ok(Format::Cobertura),
            "report" => Ok(Format::Jacoco),
            other => Err(doc.error(
                &doc.root,
                format!(
                    "the root element is <{other}>: neither Cobertura (<coverage>) nor JaCoCo (<report>)"
                ),
            )),
        };
    }
    if trimmed.lines().any(|l| l.starts_with("SF:") || l.starts_with("TN:")) {
        return Ok(Format::Lcov);
    }
    Err(malformed(
        file,
        Position::at(text, text.len() - trimmed.len()),
        "neither lcov, Cobertura nor JaCoCo (set `format` if it is one of them)",
    ))
}

/// Parses `text` in `format`.
pub fn parse(format: Format, text: &str, file: &str) -> Result<Coverage, TaskError> {
    match format {
        Format::Lcov => crate::lcov::parse(text, file),
        Format::Cobertura => crate::cobertura::parse(text, file),
        Format::Jacoco => crate::jacoco::parse(text, file),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_told_by_the_root_element_or_the_lcov_records() {
        assert_eq!(sniff("TN:\nSF:a.py\nend_of_record\n", "c").unwrap(), Format::Lcov);
        assert_eq!(sniff("<?xml version=\"1.0\" ?>\n<coverage/>", "c").unwrap(), Format::Cobertura);
        assert_eq!(sniff("<!DOCTYPE report PUBLIC \"-//JACOCO//DTD Report 1.1//EN\" \"report.dtd\"><report name=\"x\"/>", "c").unwrap(), Format::Jacoco);
        assert_eq!(
            sniff("\n  {\"totals\": {}}", "cov.json").err().unwrap().message(),
            "cov.json:2:3: malformed report: neither lcov, Cobertura nor JaCoCo (set `format` if it is one of them)"
        );
        assert_eq!(
            sniff("<testsuites/>", "c.xml").err().unwrap().message(),
            "c.xml:1:1: malformed report: the root element is <testsuites>: neither Cobertura (<coverage>) nor JaCoCo (<report>)"
        );
    }
}
