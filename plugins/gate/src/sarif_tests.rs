use super::*;

fn rows(findings: &[Finding]) -> Vec<(&str, &str, Option<&str>, String, &str)> {
    findings
        .iter()
        .map(|f| {
            (
                f.rule.as_str(),
                f.level.as_str(),
                f.security_severity.map(severity_of),
                f.location().unwrap_or_default(),
                f.message.lines().next().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn ruff_results_with_file_uris() {
    let findings = parse(include_str!("../fixtures/ruff.sarif"), "ruff.sarif").unwrap();
    assert_eq!(
        rows(&findings),
        [
            ("F401", "error", None, "/src/app/server.py:3".to_string(), "`os` imported but unused"),
            ("E501", "error", None, "/src/app/server.py:41".to_string(), "Line too long (97 > 88)"),
        ]
    );
    assert_eq!(findings[0].tool, "ruff");
}

#[test]
fn semgrep_levels_come_from_the_rules_default_configuration() {
    let findings = parse(include_str!("../fixtures/semgrep.sarif"), "semgrep.sarif").unwrap();
    assert_eq!(
        rows(&findings),
        [
            (
                "python.lang.security.audit.eval-detected.eval-detected",
                "warning",
                Some("critical"),
                "app/server.py:27".to_string(),
                "Detected the use of eval(). eval() can be dangerous if used to evaluate dynamic content."
            ),
            (
                "python.lang.security.audit.formatted-sql-query.formatted-sql-query",
                "error",
                Some("high"),
                "app/db.py:12".to_string(),
                "Detected string concatenation in a SQL query."
            ),
        ]
    );
}

#[test]
fn bandit_levels_without_security_severity() {
    let findings = parse(include_str!("../fixtures/bandit.sarif"), "bandit.sarif").unwrap();
    assert_eq!(
        rows(&findings),
        [
            ("B105", "note", None, "app/settings.py:4".to_string(), "Possible hardcoded password: 'hunter2'"),
            (
                "B602",
                "error",
                None,
                "app/tasks.py:19".to_string(),
                "subprocess call with shell=True identified, security issue."
            ),
        ]
    );
}

#[test]
fn trivy_rules_by_index_with_their_security_severity() {
    let findings = parse(include_str!("../fixtures/trivy.sarif"), "trivy.sarif").unwrap();
    assert_eq!(
        rows(&findings),
        [
            (
                "CVE-2024-6345",
                "error",
                Some("high"),
                "usr/local/lib/python3.12/site-packages/setuptools-68.1.2.dist-info/METADATA:1".to_string(),
                "Package: setuptools"
            ),
            ("CVE-2023-45853", "error", Some("critical"), "library/python:1".to_string(), "Package: zlib1g"),
        ]
    );
}

#[test]
fn codeql_rules_in_extensions_non_fail_kinds_and_suppressions() {
    let text = r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "CodeQL"},
        "extensions": [{"name": "codeql/python-queries", "rules": [{"id": "py/sql-injection",
          "defaultConfiguration": {"level": "error"}, "properties": {"security-severity": 8.8}}]}]},
      "results": [
        {"rule": {"id": "py/sql-injection", "index": 0, "toolComponent": {"index": 0}}, "message": {"text": "SQL built from user input."},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/db.py"}, "region": {"startLine": 9}}}]},
        {"ruleId": "py/sql-injection", "kind": "pass", "message": {"text": "checked"}},
        {"ruleId": "py/sql-injection", "message": {"text": "in tests"}, "suppressions": [{"kind": "inSource", "justification": "test fixture"}]}
      ]}]}"#;
    let findings = parse(text, "codeql.sarif").unwrap();
    assert_eq!(
        rows(&findings),
        [
            (
                "py/sql-injection",
                "error",
                Some("high"),
                "app/db.py:9".to_string(),
                "SQL built from user input."
            ),
            ("py/sql-injection", "none", Some("high"), String::new(), "checked"),
            ("py/sql-injection", "error", Some("high"), String::new(), "in tests"),
        ]
    );
    assert_eq!(findings[2].suppressed.as_deref(), Some("suppressed (inSource): test fixture"));
}

#[test]
fn a_byte_order_mark_is_read_past() {
    let text = "\u{feff}{\"version\": \"2.1.0\", \"runs\": [{\"tool\": {\"driver\": {\"name\": \"x\"}}, \"results\": null}]}";
    assert_eq!(parse(text, "s.sarif").unwrap(), []);
}

#[test]
fn malformed_logs_name_the_line_and_column() {
    let err = parse("{\n  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\"tool\": }\n  ]\n}", "s.sarif")
        .err()
        .unwrap();
    assert_eq!(err.message(), "s.sarif:4:14: malformed report: not a SARIF log: expected value");
    let err = parse("{\"version\": \"2.1.0\", \"runs\": [{\"tool\": {\"driver\": {\"name\": \"x\"}},\n \"results\": [{\"level\": \"fatal\", \"message\": {}}]}]}", "s.sarif")
        .err()
        .unwrap();
    assert!(
        err.message().starts_with("s.sarif:2:30: malformed report: not a SARIF log: unknown variant `fatal`"),
        "{}",
        err.message()
    );
    let err = parse("{\"runs\": [{\"tool\": {\"driver\": {\"name\": \"x\", \"rules\": [{\"id\": \"r\", \"properties\": {\"security-severity\": \"high\"}}]}}}],\n\"version\": \"2.1.0\"}", "s.sarif")
        .err()
        .unwrap();
    assert!(
        err.message().starts_with("s.sarif:1:")
            && err.message().contains("security-severity \"high\" is not a number"),
        "{}",
        err.message()
    );
    let err = parse("{\n  \"version\": \"2.0.0\", \"runs\": []}", "s.sarif").err().unwrap();
    assert_eq!(
        err.message(),
        "s.sarif:2:3: malformed report: SARIF version \"2.0.0\": gate.sarif reads 2.1.0"
    );
}
