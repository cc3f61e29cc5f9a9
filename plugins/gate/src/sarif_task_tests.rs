use super::*;

fn config(allow: Vec<Allow>) -> SarifConfig {
    SarifConfig {
        reports: String::new(),
        max_errors: 0,
        max_warnings: None,
        max_critical: 0,
        max_high: None,
        allow_list: allow,
        allow_missing: false,
    }
}

fn allow(rule: &str, reason: &str, path: Option<&str>) -> Allow {
    Allow { rule: rule.into(), reason: reason.into(), path: path.map(str::to_string) }
}

fn output(fixtures: &[&str], allow: &[AllowRule<'_>]) -> SarifOutput {
    let findings = fixtures.iter().flat_map(|f| sarif::parse(f, "s.sarif").unwrap()).collect();
    summarize(vec!["s.sarif".into()], findings, allow)
}

#[test]
fn counts_by_level_and_severity_over_several_scanners() {
    let output =
        output(&[include_str!("../fixtures/semgrep.sarif"), include_str!("../fixtures/trivy.sarif")], &[]);
    let json = serde_json::to_value(&output).unwrap();
    assert_eq!(
        json["summary"],
        serde_json::json!({"kind": "sarif", "findings": 4, "errors": 3, "warnings": 1, "notes": 0, "critical": 2, "high": 2, "allowed": 0})
    );
    assert_eq!(json["bySeverity"], serde_json::json!({"critical": 2, "high": 2, "medium": 0, "low": 0}));
    assert_eq!(
        json["findings"][3],
        serde_json::json!({
            "tool": "Trivy", "rule": "CVE-2023-45853", "level": "error", "severity": "critical", "securitySeverity": 9.8,
            "location": "library/python:1",
            "message": "Package: zlib1g\nInstalled Version: 1:1.2.13.dfsg-1\nVulnerability CVE-2023-45853\nSeverity: CRITICAL\nFixed Version: \nLink: [CVE-2023-45853](https://avd.aquasec.com/nvd/cve-2023-45853)",
            "allowed": false
        })
    );
    let err = check(&config(vec![]), &output).err().unwrap();
    assert_eq!(
        err.message(),
        "gate.sarif: 3 errors, more than maxErrors 0; 2 critical (security-severity >= 9.0), more than maxCritical 0. \
         First: Semgrep OSS python.lang.security.audit.eval-detected.eval-detected (app/server.py:27): Detected the use \
         of eval(). eval() can be dangerous if used to evaluate dynamic content."
    );
}

#[test]
fn the_allow_list_takes_findings_out_of_the_counts_with_their_reason() {
    let list = vec![
        allow("B105", "a test password, never deployed", Some("app/settings.py")),
        // Only in tests/: the finding in app/tasks.py stays.
        allow("B602", "fixtures", Some("tests/**")),
    ];
    let rules = compile(&list).unwrap();
    let output = output(&[include_str!("../fixtures/bandit.sarif")], &rules);
    let json = serde_json::to_value(&output).unwrap();
    assert_eq!(json["summary"]["allowed"], 1);
    assert_eq!(json["byLevel"], serde_json::json!({"error": 1, "warning": 0, "note": 0, "none": 0}));
    let listed: Vec<(&str, bool, Option<&str>)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["allowed"].as_bool().unwrap(), f["reason"].as_str()))
        .collect();
    assert_eq!(listed, [("B602", false, None), ("B105", true, Some("a test password, never deployed"))]);
    assert!(check(&config(vec![]), &output).is_err());
}

#[test]
fn an_allow_entry_needs_a_reason_and_a_valid_glob() {
    let list = [allow("B105", " ", None)];
    assert_eq!(compile(&list).err().unwrap().message(), "`allowList[0]` (B105): give a `reason`");
    let list = [allow("B105", "ok", Some("[a"))];
    assert!(
        compile(&list).err().unwrap().message().starts_with("`allowList[0].path`: `[a` is not a valid glob")
    );
}

#[test]
fn warnings_and_high_have_limits_only_when_set() {
    let output = output(&[include_str!("../fixtures/semgrep.sarif")], &[]);
    let loose = SarifConfig { max_errors: 5, max_critical: 5, ..config(vec![]) };
    assert!(check(&loose, &output).is_ok());
    let strict = SarifConfig { max_warnings: Some(0), max_high: Some(0), ..loose };
    assert_eq!(
        check(&strict, &output).err().unwrap().message().split(". First").next().unwrap(),
        "gate.sarif: 1 warnings, more than maxWarnings 0; 1 high (security-severity >= 7.0), more than maxHigh 0"
    );
}
