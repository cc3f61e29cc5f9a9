//! The gate plugin end to end: the real `sluice` binary runs `gate.tests`, `gate.coverage` and
//! `gate.sarif` on reports handed to the flow as `file` inputs (support_gate/ holds them): exact
//! outputs with their `summary` in the execution document, the exact error of a crossed
//! threshold, a malformed report named by file:line:column, a missing report and
//! `allowMissing`, and the SARIF allow-list.

#![allow(clippy::unwrap_used)]

mod support_gate;

use serde_json::json;
use support_gate::{Env, doc_flows, error, fixture, outputs};

#[test]
fn a_passing_pytest_report_gives_its_totals_and_summary() {
    let env = Env::new();
    let config = "    reports: inputs/report/*.xml\n    minTests: 3\n    maxSkipped: 1\n";
    let (code, doc) = env.run("gate.tests", config, Some(&fixture("pytest-pass.xml")));
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        outputs(&doc),
        json!({
            "summary": {"kind": "tests", "tests": 3, "passed": 2, "failed": 0, "errors": 0, "skipped": 1},
            "tests": 3, "passed": 2, "failed": 0, "errors": 0, "skipped": 1, "time": 0.032,
            "reports": ["inputs/report/pytest-pass.xml"],
            "failures": []
        })
    );
}

#[test]
fn a_failing_surefire_report_fails_the_gate_naming_the_threshold_and_the_first_failure() {
    let env = Env::new();
    let (code, doc) = env.run(
        "gate.tests",
        "    reports: /workspace/inputs/report/*.xml\n",
        Some(&fixture("surefire-fail.xml")),
    );
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(doc["state"], "FAILED", "{doc:#}");
    assert_eq!(
        error(&doc),
        "failed: gate.tests: 2 tests failed (1 failures, 1 errors), more than maxFailures 0. First failure: \
         com.example.shop.CartTest :: totalIncludesTax: expected: <107.00> but was: <100.00>"
    );
    // With room for both, it passes and lists them.
    let (code, doc) = env.run(
        "gate.tests",
        "    reports: inputs/report/*.xml\n    maxFailures: 2\n",
        Some(&fixture("surefire-fail.xml")),
    );
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        outputs(&doc)["failures"],
        json!([
            {"suite": "com.example.shop.CartTest", "classname": "com.example.shop.CartTest", "name": "totalIncludesTax",
             "kind": "failure", "message": "expected: <107.00> but was: <100.00>", "report": "inputs/report/surefire-fail.xml"},
            {"suite": "com.example.shop.CartTest", "classname": "com.example.shop.CartTest", "name": "loadsPrices",
             "kind": "error", "message": "prices.csv (No such file or directory)", "report": "inputs/report/surefire-fail.xml"},
        ])
    );
}

#[test]
fn a_malformed_report_fails_with_its_file_line_and_column() {
    let env = Env::new();
    let (code, doc) =
        env.run("gate.tests", "    reports: inputs/report/*.xml\n", Some(&fixture("truncated.xml")));
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(
        error(&doc),
        "failed: inputs/report/truncated.xml:5:3: malformed report: not well-formed XML: ill-formed document: \
         expected `</testcase>`, but `</testsuite>` was found"
    );
    let broken = env.file("coverage.xml", "<coverage>\n  <packages>\n    <package name=\"app\">\n");
    let (_, doc) = env.run("gate.coverage", "    reports: inputs/report/coverage.xml\n", Some(&broken));
    assert_eq!(
        error(&doc),
        "failed: inputs/report/coverage.xml:4:1: malformed report: the document ends inside <package> (opened at 3:5)"
    );
    let broken = env.file(
        "scan.sarif",
        "{\"version\": \"2.1.0\",\n \"runs\": [\n  {\"tool\": {\"driver\": {\"name\": \"x\"}},]\n}",
    );
    let (_, doc) = env.run("gate.sarif", "    reports: inputs/report/*.sarif\n", Some(&broken));
    assert_eq!(
        error(&doc),
        "failed: inputs/report/scan.sarif:3:38: malformed report: not a SARIF log: key must be a string"
    );
}

#[test]
fn no_report_fails_unless_allow_missing() {
    let env = Env::new();
    let (code, doc) = env.run("gate.tests", "    reports: reports/**/*.xml\n", None);
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(
        error(&doc),
        "failed: gate.tests: no report matches `reports/**/*.xml` in the workspace (set `allowMissing: true` if none is expected)"
    );
    let (code, doc) = env.run("gate.tests", "    reports: reports/**/*.xml\n    allowMissing: true\n", None);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        outputs(&doc)["summary"],
        json!({"kind": "tests", "tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0})
    );
    let (code, doc) = env.run("gate.sarif", "    reports: \"*.sarif\"\n    allowMissing: true\n", None);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(outputs(&doc)["summary"]["findings"], 0);
}

#[test]
fn coverage_from_lcov_against_min_line_min_branch_and_a_baseline() {
    let env = Env::new();
    let config = "    reports: inputs/report/lcov.info\n    minLine: 80\n    minBranch: 70\n    maxDrop: 1\n    baseline: \"82.5\"\n";
    let (code, doc) = env.run("gate.coverage", config, Some(&fixture("lcov.info")));
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        outputs(&doc),
        json!({
            "summary": {"kind": "coverage", "line": 81.82, "branch": 75.0, "linesCovered": 9, "linesTotal": 11, "files": 2},
            "line": 81.82, "branch": 75.0, "linesCovered": 9, "linesTotal": 11, "branchesCovered": 3, "branchesTotal": 4,
            "drop": 0.68,
            "reports": ["inputs/report/lcov.info"],
            "leastCovered": [
                {"file": "app/server.py", "line": 77.78, "linesCovered": 7, "linesTotal": 9, "branch": 75.0},
                {"file": "app/__init__.py", "line": 100.0, "linesCovered": 2, "linesTotal": 2},
            ]
        })
    );
    let config = "    reports: inputs/report/lcov.info\n    format: lcov\n    minLine: 90\n    maxDrop: 0.5\n    baseline: 82.5\n";
    let (code, doc) = env.run("gate.coverage", config, Some(&fixture("lcov.info")));
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(
        error(&doc),
        "failed: gate.coverage: line coverage 81.82% (9/11) is under minLine 90%; line coverage 81.82% dropped 0.68 points \
         from the baseline 82.5%, more than maxDrop 0.5"
    );
}

#[test]
fn sarif_findings_fail_the_gate_until_the_allow_list_accepts_them_with_a_reason() {
    let env = Env::new();
    let report = fixture("bandit.sarif");
    let (code, doc) = env.run("gate.sarif", "    reports: inputs/report/*.sarif\n", Some(&report));
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(
        error(&doc),
        "failed: gate.sarif: 1 errors, more than maxErrors 0; 1 critical (security-severity >= 9.0), more than maxCritical 0. \
         First: Bandit B105 (tests/conftest.py:4): Possible hardcoded password: 'hunter2'"
    );
    let config = "    reports: inputs/report/*.sarif\n    allowList:\n      - {rule: B105, reason: a test password, path: \"tests/**\"}\n      - {rule: B602, reason: the command is a constant}\n";
    let (code, doc) = env.run("gate.sarif", config, Some(&report));
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        outputs(&doc),
        json!({
            "summary": {"kind": "sarif", "findings": 0, "errors": 0, "warnings": 0, "notes": 0, "critical": 0, "high": 0, "allowed": 2},
            "byLevel": {"error": 0, "warning": 0, "note": 0, "none": 0},
            "bySeverity": {"critical": 0, "high": 0, "medium": 0, "low": 0},
            "allowed": 2,
            "reports": ["inputs/report/bandit.sarif"],
            "findings": [
                {"tool": "Bandit", "rule": "B105", "level": "error", "location": "tests/conftest.py:4",
                 "message": "Possible hardcoded password: 'hunter2'", "allowed": true, "reason": "a test password"},
                {"tool": "Bandit", "rule": "B602", "level": "warning", "severity": "critical", "securitySeverity": 9.1,
                 "location": "app/tasks.py:19", "message": "subprocess call with shell=True identified, security issue.",
                 "allowed": true, "reason": "the command is a constant"},
            ]
        })
    );
}

/// The flow of docs/plugins/gate.md, run as written on the fixtures: three gates pass, and the
/// execution document holds each one's summary; with a baseline the coverage drop is checked.
#[test]
fn the_documented_flow_runs_and_the_execution_holds_each_gates_summary() {
    let env = Env::new();
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/plugins/gate.md")).unwrap();
    let flows = doc_flows(&docs);
    assert_eq!(flows.len(), 1, "{flows:?}");
    let inputs = [
        format!("junit={}", fixture("pytest-pass.xml").display()),
        format!("coverage={}", fixture("lcov.info").display()),
        format!("sarif={}", fixture("bandit.sarif").display()),
    ];
    let (code, doc) = env.run_flow(&flows[0], &inputs);
    assert_eq!(code, 0, "{doc:#}");
    let summaries: Vec<serde_json::Value> = ["unit-tests", "coverage", "findings"]
        .iter()
        .map(|id| doc["outputs"][id]["summary"].clone())
        .collect();
    assert_eq!(
        summaries,
        [
            json!({"kind": "tests", "tests": 3, "passed": 2, "failed": 0, "errors": 0, "skipped": 1}),
            json!({"kind": "coverage", "line": 81.82, "branch": 75.0, "linesCovered": 9, "linesTotal": 11, "files": 2}),
            json!({"kind": "sarif", "findings": 0, "errors": 0, "warnings": 0, "notes": 0, "critical": 0, "high": 0, "allowed": 2}),
        ]
    );
    assert!(doc["outputs"]["coverage"].get("drop").is_none(), "{doc:#}");

    let mut with_baseline = inputs.to_vec();
    with_baseline.push("baseline=85".into());
    let (code, doc) = env.run_flow(&flows[0], &with_baseline);
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(
        support_gate::run_of(&doc, "coverage")["error"],
        "failed: gate.coverage: line coverage 81.82% dropped 3.18 points from the baseline 85%, more than maxDrop 1"
    );
}

/// The format is told from the file: a JaCoCo report (with its DOCTYPE) and a Cobertura one,
/// the plugin's own fixtures.
#[test]
fn jacoco_and_cobertura_reports_are_told_apart_by_their_content() {
    let env = Env::new();
    let plugin_fixture = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/gate/fixtures").join(name)
    };
    let (code, doc) = env.run(
        "gate.coverage",
        "    reports: inputs/report/*.xml\n    minLine: 70\n",
        Some(&plugin_fixture("jacoco.xml")),
    );
    assert_ne!(code, 0, "{doc:#}");
    assert_eq!(error(&doc), "failed: gate.coverage: line coverage 66.67% (8/12) is under minLine 70%");
    let (code, doc) = env.run(
        "gate.coverage",
        "    reports: inputs/report/*.xml\n    minLine: 80\n    minBranch: 25\n",
        Some(&plugin_fixture("coverage-py.xml")),
    );
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        outputs(&doc)["summary"],
        json!({"kind": "coverage", "line": 81.82, "branch": 25.0, "linesCovered": 9, "linesTotal": 11, "files": 2})
    );
}
