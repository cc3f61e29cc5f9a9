//! `gate.coverage`: lcov, Cobertura or JaCoCo reports against `minLine`, `minBranch` and
//! `maxDrop` from a baseline.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Task, TaskError};

use crate::coverage::{self, Coverage, FileCoverage, Format};
use crate::reports::{self, percent};

/// How many of the least-covered files the outputs list.
const LEAST: usize = 10;

pub struct CoverageTask;

/// Config of `gate.coverage`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CoverageConfig {
    /// The coverage reports: a glob in the workspace (`coverage/lcov.info`, `**/jacoco.xml`).
    reports: String,
    /// The reports' format; by default told from each file (an XML root of `<coverage>` is
    /// Cobertura, `<report>` JaCoCo, `SF:` records lcov).
    #[serde(default)]
    format: Option<Format>,
    /// The lowest line coverage allowed, in percent (`80` for 80%).
    #[serde(default)]
    min_line: Option<f64>,
    /// The lowest branch coverage allowed, in percent. The reports must have branch data.
    #[serde(default)]
    min_branch: Option<f64>,
    /// The most the line coverage may fall below `baseline`, in percentage points.
    #[serde(default)]
    max_drop: Option<f64>,
    /// The line coverage to compare with, in percent: an input, or a previous execution's
    /// `line` output; a number, or text that is one (what a template renders). Without it
    /// (or empty) `maxDrop` is not checked: a first run has none.
    #[serde(default, deserialize_with = "number_or_text")]
    #[schemars(with = "Option<serde_json::Value>")]
    baseline: Option<f64>,
    /// Pass, with no numbers, when no file matches `reports` (default: that fails).
    #[serde(default)]
    allow_missing: bool,
}

/// The compact numbers a UI shows for any gate task.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageSummary {
    /// Always `coverage`.
    kind: &'static str,
    /// Line coverage, percent (100 when the reports count no lines: see `linesTotal`).
    line: f64,
    /// Branch coverage, percent; absent when the reports have no branch data.
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<f64>,
    /// Lines run at least once.
    lines_covered: u64,
    /// Lines that could run.
    lines_total: u64,
    /// Source files in the reports.
    files: u64,
}

/// One file's coverage.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileOutput {
    file: String,
    /// Line coverage, percent.
    line: f64,
    lines_covered: u64,
    lines_total: u64,
    /// Branch coverage, percent, when the file has branches.
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<f64>,
}

/// Outputs of `gate.coverage`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageOutput {
    summary: CoverageSummary,
    /// Line coverage over all reports, percent (two decimals).
    line: f64,
    /// Branch coverage, percent; absent when the reports have no branch data.
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<f64>,
    lines_covered: u64,
    lines_total: u64,
    branches_covered: u64,
    branches_total: u64,
    /// `baseline - line` in percentage points, when a baseline was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    drop: Option<f64>,
    /// The reports read, in name order.
    reports: Vec<String>,
    /// The ten least-covered files (lowest line coverage first, then most lines missed).
    least_covered: Vec<FileOutput>,
}

impl Task for CoverageTask {
    const NAME: &'static str = "coverage";
    const DESCRIPTION: &'static str = "Reads the coverage reports matching `reports` (lcov, Cobertura \
        XML or JaCoCo XML, told apart by their content or set by `format`) and fails when line \
        coverage is under `minLine`, branch coverage under `minBranch`, or line coverage fell more \
        than `maxDrop` points below `baseline`. Outputs the percentages, the counts, the \
        least-covered files and a `summary`.";
    type Config = CoverageConfig;
    type Output = CoverageOutput;

    fn run(config: CoverageConfig) -> Result<CoverageOutput, TaskError> {
        let found = reports::find("gate.coverage", &config.reports, config.allow_missing)?;
        if found.is_empty() {
            sluice_plugin::warn!("no report matches `{}`; allowed by `allowMissing`", config.reports);
        }
        let mut parsed = Vec::new();
        for report in &found {
            let format = match config.format {
                Some(format) => format,
                None => coverage::sniff(&report.text, &report.path)?,
            };
            let coverage = coverage::parse(format, &report.text, &report.path)?;
            sluice_plugin::debug!("{}: {format:?}, {} files", report.path, coverage.files.len());
            parsed.push(coverage);
        }
        let output = summarize(found.iter().map(|r| r.path.clone()).collect(), parsed, config.baseline);
        log(&output);
        if !found.is_empty() {
            check(&config, &output)?;
        }
        Ok(output)
    }
}

/// `80.5`, `"80.5"` or `""`/null (none).
fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .trim_end_matches('%')
            .parse::<f64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("`baseline`: \"{s}\" is not a percentage"))),
        Some(other) => Err(serde::de::Error::custom(format!("`baseline`: {other} is not a percentage"))),
    }
}

fn summarize(reports: Vec<String>, parsed: Vec<Coverage>, baseline: Option<f64>) -> CoverageOutput {
    let sum = |f: fn(&Coverage) -> u64| parsed.iter().map(f).sum::<u64>();
    let (lines_covered, lines_total) = (sum(|c| c.lines_covered), sum(|c| c.lines_total));
    let (branches_covered, branches_total) = (sum(|c| c.branches_covered), sum(|c| c.branches_total));
    let mut files: Vec<FileCoverage> = parsed.into_iter().flat_map(|c| c.files).collect();
    let count = files.len() as u64;
    files.sort_by(|a, b| {
        let (pa, pb) = (percent(a.lines_covered, a.lines_total), percent(b.lines_covered, b.lines_total));
        pa.total_cmp(&pb)
            .then((b.lines_total - b.lines_covered).cmp(&(a.lines_total - a.lines_covered)))
            .then(a.path.cmp(&b.path))
    });
    let least_covered = files
        .into_iter()
        .take(LEAST)
        .map(|f| FileOutput {
            line: percent(f.lines_covered, f.lines_total),
            branch: (f.branches_total > 0).then(|| percent(f.branches_covered, f.branches_total)),
            file: f.path,
            lines_covered: f.lines_covered,
            lines_total: f.lines_total,
        })
        .collect();
    let line = percent(lines_covered, lines_total);
    let branch = (branches_total > 0).then(|| percent(branches_covered, branches_total));
    CoverageOutput {
        summary: CoverageSummary { kind: "coverage", line, branch, lines_covered, lines_total, files: count },
        line,
        branch,
        lines_covered,
        lines_total,
        branches_covered,
        branches_total,
        drop: baseline.filter(|_| lines_total > 0).map(|b| ((b - line) * 100.0).round() / 100.0),
        reports,
        least_covered,
    }
}

fn log(output: &CoverageOutput) {
    let branch = output.branch.map(|b| format!(", branches {b}%")).unwrap_or_default();
    sluice_plugin::info!(
        "lines {}% ({}/{}){branch} in {} file(s) of {} report(s)",
        output.line,
        output.lines_covered,
        output.lines_total,
        output.summary.files,
        output.reports.len()
    );
    for file in output.least_covered.iter().take(5) {
        sluice_plugin::info!("  {}% {} ({}/{})", file.line, file.file, file.lines_covered, file.lines_total);
    }
}

fn check(config: &CoverageConfig, output: &CoverageOutput) -> Result<(), TaskError> {
    let mut crossed = Vec::new();
    if let Some(min) = config.min_line.filter(|_| output.lines_total == 0) {
        crossed.push(format!("minLine {min}% is set but the reports count no lines"));
    } else if let Some(min) = config.min_line.filter(|min| output.line < *min) {
        crossed.push(format!(
            "line coverage {}% ({}/{}) is under minLine {min}%",
            output.line, output.lines_covered, output.lines_total
        ));
    }
    if let Some(min) = config.min_branch {
        match output.branch {
            None => crossed.push(format!("minBranch {min}% is set but the reports have no branch data")),
            Some(branch) if branch < min => crossed.push(format!(
                "branch coverage {branch}% ({}/{}) is under minBranch {min}%",
                output.branches_covered, output.branches_total
            )),
            Some(_) => {}
        }
    }
    if let (Some(max), Some(drop), Some(baseline)) = (config.max_drop, output.drop, config.baseline)
        && drop > max
    {
        crossed.push(format!(
            "line coverage {}% dropped {drop} points from the baseline {baseline}%, more than maxDrop {max}",
            output.line
        ));
    }
    if crossed.is_empty() {
        return Ok(());
    }
    Err(TaskError::failed(format!("gate.coverage: {}", crossed.join("; "))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(
        min_line: Option<f64>,
        min_branch: Option<f64>,
        max_drop: Option<f64>,
        baseline: Option<f64>,
    ) -> CoverageConfig {
        CoverageConfig {
            reports: String::new(),
            format: None,
            min_line,
            min_branch,
            max_drop,
            baseline,
            allow_missing: false,
        }
    }

    fn of(fixture: &str, baseline: Option<f64>) -> CoverageOutput {
        let format = coverage::sniff(fixture, "c").unwrap();
        summarize(vec!["c".into()], vec![coverage::parse(format, fixture, "c").unwrap()], baseline)
    }

    #[test]
    fn outputs_with_the_least_covered_files_first() {
        let output = of(include_str!("../fixtures/jacoco.xml"), Some(70.0));
        let json = serde_json::to_value(&output).unwrap();
        assert_eq!(
            json["summary"],
            serde_json::json!({"kind": "coverage", "line": 66.67, "branch": 50.0, "linesCovered": 8, "linesTotal": 12, "files": 2})
        );
        assert_eq!(json["drop"], 3.33);
        assert_eq!(
            json["leastCovered"],
            serde_json::json!([
                {"file": "com/example/shop/Tax.java", "line": 25.0, "linesCovered": 1, "linesTotal": 4, "branch": 0.0},
                {"file": "com/example/shop/Cart.java", "line": 87.5, "linesCovered": 7, "linesTotal": 8, "branch": 75.0},
            ])
        );
    }

    #[test]
    fn the_same_project_in_lcov_and_cobertura_gives_the_same_numbers() {
        let lcov = of(include_str!("../fixtures/coverage-py.lcov"), None);
        let cobertura = of(include_str!("../fixtures/coverage-py.xml"), None);
        assert_eq!(
            serde_json::to_value(&lcov).unwrap()["summary"],
            serde_json::to_value(&cobertura).unwrap()["summary"]
        );
        assert_eq!((lcov.line, lcov.branch), (81.82, Some(25.0)));
    }

    #[test]
    fn a_baseline_is_a_number_or_text_that_is_one() {
        let parse = |json: &str| serde_json::from_str::<CoverageConfig>(json).map(|c| c.baseline);
        assert_eq!(parse(r#"{"reports": "x", "baseline": 80.5}"#).unwrap(), Some(80.5));
        assert_eq!(parse(r#"{"reports": "x", "baseline": "80.5"}"#).unwrap(), Some(80.5));
        assert_eq!(parse(r#"{"reports": "x", "baseline": ""}"#).unwrap(), None);
        assert_eq!(parse(r#"{"reports": "x"}"#).unwrap(), None);
        assert!(
            parse(r#"{"reports": "x", "baseline": "high"}"#)
                .unwrap_err()
                .to_string()
                .contains("is not a percentage")
        );
    }

    #[test]
    fn every_crossed_threshold_is_named_with_its_numbers() {
        let output = of(include_str!("../fixtures/jacoco.xml"), Some(70.0));
        let err = check(&config(Some(80.0), Some(60.0), Some(2.0), Some(70.0)), &output).err().unwrap();
        assert_eq!(
            err.message(),
            "gate.coverage: line coverage 66.67% (8/12) is under minLine 80%; branch coverage 50% (3/6) is under \
             minBranch 60%; line coverage 66.67% dropped 3.33 points from the baseline 70%, more than maxDrop 2"
        );
        assert!(check(&config(Some(66.0), Some(50.0), Some(4.0), Some(70.0)), &output).is_ok());
        let no_branches = of("SF:a.py\nDA:1,1\nend_of_record\n", None);
        let empty = of("SF:a.py\nend_of_record\n", Some(80.0));
        let err = check(&config(Some(50.0), None, Some(1.0), Some(80.0)), &empty).err().unwrap();
        assert_eq!(err.message(), "gate.coverage: minLine 50% is set but the reports count no lines");
        assert_eq!(empty.drop, None);
        let err = check(&config(None, Some(50.0), None, None), &no_branches).err().unwrap();
        assert_eq!(err.message(), "gate.coverage: minBranch 50% is set but the reports have no branch data");
    }
}
