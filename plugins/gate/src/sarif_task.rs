//! `gate.sarif`: SARIF findings against `maxErrors`, `maxWarnings`, `maxCritical` and
//! `maxHigh`, after the allow-list.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Task, TaskError};

use crate::reports;
use crate::sarif::{self, Finding, Level, severity_of};

/// How many findings the outputs carry, and the log lists.
const LISTED: usize = 200;
const LOGGED: usize = 10;

pub struct SarifTask;

/// A finding the flow accepts, with why.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// The rule id (`B105`, `CVE-2023-45853`, `py/sql-injection`).
    rule: String,
    /// Why it is accepted; shown beside the finding. Required.
    reason: String,
    /// Only findings in files matching this glob (`tests/**`); default: anywhere.
    #[serde(default)]
    path: Option<String>,
}

/// Config of `gate.sarif`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SarifConfig {
    /// The SARIF logs: a glob in the workspace (`reports/*.sarif`).
    reports: String,
    /// The most `error`-level findings allowed. Default 0.
    #[serde(default)]
    max_errors: u64,
    /// The most `warning`-level findings allowed. Default: no limit.
    #[serde(default)]
    max_warnings: Option<u64>,
    /// The most critical findings (`security-severity` >= 9.0) allowed. Default 0.
    #[serde(default)]
    max_critical: u64,
    /// The most high findings (`security-severity` 7.0 to 8.9) allowed. Default: no limit.
    #[serde(default)]
    max_high: Option<u64>,
    /// Accepted findings: reported as allowed, with their reason, and not counted. (Not
    /// `allow`: that key of every task is its capability grants.)
    #[serde(default)]
    allow_list: Vec<Allow>,
    /// Pass, with no findings, when no file matches `reports` (default: that fails).
    #[serde(default)]
    allow_missing: bool,
}

/// Findings by level (allowed ones left out).
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct ByLevel {
    error: u64,
    warning: u64,
    note: u64,
    none: u64,
}

/// Findings by GitHub's rating of their `security-severity` (allowed ones left out; findings
/// without a score are in none of these).
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct BySeverity {
    critical: u64,
    high: u64,
    medium: u64,
    low: u64,
}

/// The compact counts a UI shows for any gate task.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SarifSummary {
    /// Always `sarif`.
    kind: &'static str,
    /// Findings counted (not allowed).
    findings: u64,
    errors: u64,
    warnings: u64,
    notes: u64,
    critical: u64,
    high: u64,
    /// Findings the allow-list or a suppression in the log accepted.
    allowed: u64,
}

/// One finding.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingOutput {
    /// The scanner (the run's `tool.driver.name`).
    tool: String,
    rule: String,
    /// `error`, `warning`, `note` or `none`.
    level: &'static str,
    /// `critical`, `high`, `medium` or `low`, when the rule or result has a `security-severity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_severity: Option<f64>,
    /// `file:line` when the result has a location.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    message: String,
    /// Accepted by the allow-list or suppressed in the log: not counted.
    allowed: bool,
    /// Why it was accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Outputs of `gate.sarif`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SarifOutput {
    summary: SarifSummary,
    by_level: ByLevel,
    by_severity: BySeverity,
    /// Findings accepted by the allow-list or a suppression.
    allowed: u64,
    /// The logs read, in name order.
    reports: Vec<String>,
    /// The findings, counted ones first (the first 200).
    findings: Vec<FindingOutput>,
}

impl Task for SarifTask {
    const NAME: &'static str = "sarif";
    const DESCRIPTION: &'static str = "Reads the SARIF 2.1.0 logs matching `reports` (ruff, semgrep, \
        bandit, trivy, grype, CodeQL, ...) and fails when, leaving out the findings of \
        `allowList`, more are at level `error` than `maxErrors` (default 0), at `warning` than \
        `maxWarnings`, critical (security-severity >= 9.0) than `maxCritical` (default 0), or high \
        than `maxHigh`. Outputs counts by level and severity, the findings and a `summary`.";
    type Config = SarifConfig;
    type Output = SarifOutput;

    fn run(config: SarifConfig) -> Result<SarifOutput, TaskError> {
        let allow = compile(&config.allow_list)?;
        let found = reports::find("gate.sarif", &config.reports, config.allow_missing)?;
        if found.is_empty() {
            sluice_plugin::warn!("no report matches `{}`; allowed by `allowMissing`", config.reports);
        }
        let mut findings = Vec::new();
        for report in &found {
            findings.extend(sarif::parse(&report.text, &report.path)?);
        }
        let output = summarize(found.iter().map(|r| r.path.clone()).collect(), findings, &allow);
        log(&output);
        check(&config, &output)?;
        Ok(output)
    }
}

struct AllowRule<'a> {
    rule: &'a str,
    reason: &'a str,
    path: Option<glob::Pattern>,
}

fn compile(allow: &[Allow]) -> Result<Vec<AllowRule<'_>>, TaskError> {
    allow
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if a.reason.trim().is_empty() {
                return Err(TaskError::invalid_config(format!(
                    "`allowList[{i}]` ({}): give a `reason`",
                    a.rule
                )));
            }
            let path = match &a.path {
                None => None,
                Some(p) => Some(glob::Pattern::new(p).map_err(|err| {
                    TaskError::invalid_config(format!(
                        "`allowList[{i}].path`: `{p}` is not a valid glob: {err}"
                    ))
                })?),
            };
            Ok(AllowRule { rule: &a.rule, reason: &a.reason, path })
        })
        .collect()
}

fn allowed_by(finding: &Finding, allow: &[AllowRule<'_>]) -> Option<String> {
    let file = finding.file.as_deref().unwrap_or_default();
    let by_list = allow.iter().find(|a| {
        a.rule == finding.rule
            && a.path.as_ref().is_none_or(|p| p.matches(file) || p.matches(file.trim_start_matches('/')))
    });
    by_list.map(|a| a.reason.to_string()).or_else(|| finding.suppressed.clone())
}

fn summarize(reports: Vec<String>, findings: Vec<Finding>, allow: &[AllowRule<'_>]) -> SarifOutput {
    let (mut by_level, mut by_severity, mut allowed) = (ByLevel::default(), BySeverity::default(), 0);
    let mut outputs: Vec<FindingOutput> = Vec::new();
    for finding in findings {
        let reason = allowed_by(&finding, allow);
        let severity = finding.security_severity.map(severity_of);
        if reason.is_some() {
            allowed += 1;
        } else {
            match finding.level {
                Level::Error => by_level.error += 1,
                Level::Warning => by_level.warning += 1,
                Level::Note => by_level.note += 1,
                Level::None => by_level.none += 1,
            }
            match severity {
                Some("critical") => by_severity.critical += 1,
                Some("high") => by_severity.high += 1,
                Some("medium") => by_severity.medium += 1,
                Some(_) => by_severity.low += 1,
                None => {}
            }
        }
        outputs.push(FindingOutput {
            location: finding.location(),
            tool: finding.tool,
            rule: finding.rule,
            level: finding.level.as_str(),
            severity,
            security_severity: finding.security_severity,
            message: finding.message,
            allowed: reason.is_some(),
            reason,
        });
    }
    // Counted findings first; the sort is stable, so each group keeps the logs' order.
    outputs.sort_by_key(|f| f.allowed);
    outputs.truncate(LISTED);
    let counted = by_level.error + by_level.warning + by_level.note + by_level.none;
    SarifOutput {
        summary: SarifSummary {
            kind: "sarif",
            findings: counted,
            errors: by_level.error,
            warnings: by_level.warning,
            notes: by_level.note,
            critical: by_severity.critical,
            high: by_severity.high,
            allowed,
        },
        by_level,
        by_severity,
        allowed,
        reports,
        findings: outputs,
    }
}

fn log(output: &SarifOutput) {
    let s = &output.summary;
    sluice_plugin::info!(
        "{} findings in {} log(s): {} errors, {} warnings, {} notes; {} critical, {} high; {} allowed",
        s.findings,
        output.reports.len(),
        s.errors,
        s.warnings,
        s.notes,
        s.critical,
        s.high,
        s.allowed
    );
    for f in output.findings.iter().take(LOGGED) {
        let severity = f.severity.map(|s| format!(" {s}")).unwrap_or_default();
        let location = f.location.as_deref().map(|l| format!(" {l}")).unwrap_or_default();
        let first = f.message.lines().next().unwrap_or_default();
        match &f.reason {
            Some(reason) => {
                sluice_plugin::info!("allowed {} {}{location}: {first} ({reason})", f.tool, f.rule)
            }
            None => sluice_plugin::warn!("{}{severity} {} {}{location}: {first}", f.level, f.tool, f.rule),
        }
    }
}

fn check(config: &SarifConfig, output: &SarifOutput) -> Result<(), TaskError> {
    let s = &output.summary;
    let mut crossed = Vec::new();
    if s.errors > config.max_errors {
        crossed.push(format!("{} errors, more than maxErrors {}", s.errors, config.max_errors));
    }
    if let Some(max) = config.max_warnings.filter(|max| s.warnings > *max) {
        crossed.push(format!("{} warnings, more than maxWarnings {max}", s.warnings));
    }
    if s.critical > config.max_critical {
        crossed.push(format!(
            "{} critical (security-severity >= 9.0), more than maxCritical {}",
            s.critical, config.max_critical
        ));
    }
    if let Some(max) = config.max_high.filter(|max| s.high > *max) {
        crossed.push(format!("{} high (security-severity >= 7.0), more than maxHigh {max}", s.high));
    }
    if crossed.is_empty() {
        return Ok(());
    }
    let mut message = format!("gate.sarif: {}", crossed.join("; "));
    if let Some(first) = output.findings.iter().find(|f| !f.allowed) {
        let location = first.location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        let text = first.message.lines().next().unwrap_or_default();
        message.push_str(&format!(". First: {} {}{location}: {text}", first.tool, first.rule));
    }
    Err(TaskError::failed(message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "sarif_task_tests.rs"]
mod tests;
