//! `gate.tests`: JUnit XML reports against `maxFailures`, `minTests` and `maxSkipped`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Task, TaskError};

use crate::junit::{self, Case, Outcome};
use crate::reports::{self, round3};

/// How many failures the log lists, and the outputs carry at most.
const LOGGED: usize = 10;
const LISTED: usize = 100;

pub struct TestsTask;

/// Config of `gate.tests`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestsConfig {
    /// The JUnit XML reports: a glob in the workspace (`reports/**/*.xml`, or
    /// `/workspace/inputs/report/*.xml` for a `file` input).
    reports: String,
    /// The most failed tests allowed; errors count as failures. Default 0.
    #[serde(default)]
    max_failures: u64,
    /// The fewest tests the reports must hold (catches a suite that collected nothing).
    #[serde(default)]
    min_tests: Option<u64>,
    /// The most skipped tests allowed. Default: no limit.
    #[serde(default)]
    max_skipped: Option<u64>,
    /// Pass, with zero totals, when no file matches `reports` (default: that fails).
    #[serde(default)]
    allow_missing: bool,
}

/// The compact totals a UI shows for any gate task.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestsSummary {
    /// Always `tests`.
    kind: &'static str,
    /// Test cases in all reports.
    tests: u64,
    passed: u64,
    /// With a `<failure>`.
    failed: u64,
    /// With an `<error>`.
    errors: u64,
    skipped: u64,
}

/// A test that failed or errored.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedTest {
    /// The test suite's name (the class name when the suite has none).
    suite: String,
    /// The class name, as the report gives it.
    classname: String,
    /// The test's name.
    name: String,
    /// `file:line` when the report gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    /// `failure` or `error`.
    kind: &'static str,
    /// The failure's message (its `message` attribute, else the first line of its text).
    message: String,
    /// The report it is in.
    report: String,
}

/// Outputs of `gate.tests`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestsOutput {
    summary: TestsSummary,
    /// Test cases in all reports.
    tests: u64,
    passed: u64,
    /// Tests with a `<failure>`.
    failed: u64,
    /// Tests with an `<error>` (they count against `maxFailures` too).
    errors: u64,
    skipped: u64,
    /// The sum of the test cases' times, in seconds.
    time: f64,
    /// The reports read, in name order.
    reports: Vec<String>,
    /// The failed and errored tests (the first 100).
    failures: Vec<FailedTest>,
}

impl Task for TestsTask {
    const NAME: &'static str = "tests";
    const DESCRIPTION: &'static str = "Reads the JUnit XML reports matching `reports` (pytest, Maven \
        Surefire, jest-junit, go-junit-report, cargo-nextest) and fails when more tests failed or \
        errored than `maxFailures` (default 0), fewer ran than `minTests` or more were skipped than \
        `maxSkipped`. Outputs the totals, the failed tests and a `summary`.";
    type Config = TestsConfig;
    type Output = TestsOutput;

    fn run(config: TestsConfig) -> Result<TestsOutput, TaskError> {
        let found = reports::find("gate.tests", &config.reports, config.allow_missing)?;
        if found.is_empty() {
            sluice_plugin::warn!("no report matches `{}`; allowed by `allowMissing`", config.reports);
        }
        let mut cases: Vec<(String, Case)> = Vec::new();
        for report in &found {
            let parsed = junit::parse(&report.text, &report.path)?;
            sluice_plugin::debug!("{}: {} test cases", report.path, parsed.len());
            cases.extend(parsed.into_iter().map(|c| (report.path.clone(), c)));
        }
        let output = totals(found.iter().map(|r| r.path.clone()).collect(), &cases);
        log(&output);
        check(&config, &output)?;
        Ok(output)
    }
}

fn totals(reports: Vec<String>, cases: &[(String, Case)]) -> TestsOutput {
    let count = |f: fn(&Outcome) -> bool| cases.iter().filter(|(_, c)| f(&c.outcome)).count() as u64;
    let failed = count(|o| matches!(o, Outcome::Failed(_)));
    let errors = count(|o| matches!(o, Outcome::Error(_)));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    let tests = cases.len() as u64;
    let passed = tests - failed - errors - skipped;
    let failures = cases
        .iter()
        .filter_map(|(report, case)| {
            let (kind, message) = match &case.outcome {
                Outcome::Failed(m) => ("failure", m),
                Outcome::Error(m) => ("error", m),
                _ => return None,
            };
            Some(FailedTest {
                suite: case.suite.clone(),
                classname: case.classname.clone(),
                name: case.name.clone(),
                location: case.location(),
                kind,
                message: message.clone(),
                report: report.clone(),
            })
        })
        .take(LISTED)
        .collect();
    TestsOutput {
        summary: TestsSummary { kind: "tests", tests, passed, failed, errors, skipped },
        tests,
        passed,
        failed,
        errors,
        skipped,
        time: round3(cases.iter().map(|(_, c)| c.time).sum()),
        reports,
        failures,
    }
}

fn log(output: &TestsOutput) {
    sluice_plugin::info!(
        "{} tests in {} report(s): {} passed, {} failed, {} errors, {} skipped ({}s)",
        output.tests,
        output.reports.len(),
        output.passed,
        output.failed,
        output.errors,
        output.skipped,
        output.time
    );
    for failure in output.failures.iter().take(LOGGED) {
        let location = failure.location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        sluice_plugin::error!(
            "{} {} :: {}{location}: {}",
            failure.kind,
            failure.suite,
            failure.name,
            failure.message
        );
    }
    let failing = output.failed + output.errors;
    if failing > LOGGED as u64 {
        sluice_plugin::error!("... and {} more", failing - LOGGED as u64);
    }
}

/// Every threshold crossed, with the numbers, in one error.
fn check(config: &TestsConfig, output: &TestsOutput) -> Result<(), TaskError> {
    let mut crossed = Vec::new();
    let failing = output.failed + output.errors;
    if failing > config.max_failures {
        crossed.push(format!(
            "{failing} tests failed ({} failures, {} errors), more than maxFailures {}",
            output.failed, output.errors, config.max_failures
        ));
    }
    if let Some(min) = config.min_tests.filter(|min| output.tests < *min) {
        crossed.push(format!("{} tests ran, fewer than minTests {min}", output.tests));
    }
    if let Some(max) = config.max_skipped.filter(|max| output.skipped > *max) {
        crossed.push(format!("{} tests skipped, more than maxSkipped {max}", output.skipped));
    }
    if crossed.is_empty() {
        return Ok(());
    }
    let mut message = format!("gate.tests: {}", crossed.join("; "));
    if let Some(first) = output.failures.first() {
        message.push_str(&format!(". First failure: {} :: {}: {}", first.suite, first.name, first.message));
    }
    Err(TaskError::failed(message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(max_failures: u64, min_tests: Option<u64>, max_skipped: Option<u64>) -> TestsConfig {
        TestsConfig { reports: String::new(), max_failures, min_tests, max_skipped, allow_missing: false }
    }

    fn output_of(fixture: &str) -> TestsOutput {
        let cases = junit::parse(fixture, "r.xml")
            .unwrap()
            .into_iter()
            .map(|c| ("r.xml".to_string(), c))
            .collect::<Vec<_>>();
        totals(vec!["r.xml".into()], &cases)
    }

    #[test]
    fn totals_and_the_failed_tests_of_a_pytest_report() {
        let output = output_of(include_str!("../fixtures/pytest.xml"));
        let json = serde_json::to_value(&output).unwrap();
        assert_eq!(
            json["summary"],
            serde_json::json!({"kind": "tests", "tests": 5, "passed": 2, "failed": 1, "errors": 1, "skipped": 1})
        );
        assert_eq!(json["time"], 0.013);
        assert_eq!(json["failures"][0]["location"], "tests/test_app.py:15");
        assert_eq!(json["failures"][1]["kind"], "error");
        assert_eq!(json["failures"][1]["name"], "test_connect");
    }

    #[test]
    fn every_crossed_threshold_is_named_with_its_numbers() {
        let output = output_of(include_str!("../fixtures/pytest.xml"));
        let err = check(&config(0, Some(10), Some(0)), &output).err().unwrap();
        assert_eq!(
            err.message(),
            "gate.tests: 2 tests failed (1 failures, 1 errors), more than maxFailures 0; 5 tests ran, fewer than \
             minTests 10; 1 tests skipped, more than maxSkipped 0. First failure: pytest :: \
             test_metrics_counts_errors: AssertionError: assert 1 == 2\n +  where 1 = metrics()"
        );
        assert!(check(&config(2, Some(5), Some(1)), &output).is_ok());
    }
}
