//! SARIF 2.1.0 logs, as ruff, semgrep, bandit, trivy, grype and CodeQL write them, read into
//! findings: each result's rule (by `ruleIndex`, else `ruleId`, in the driver's rules and its
//! extensions', where CodeQL keeps them), its level (the result's, else the rule's
//! `defaultConfiguration.level`, else `warning`; `none` for a result whose `kind` is not `fail`),
//! its `security-severity` (the result's property, else the rule's) and where it is.
//!
//! Parsed with serde into the few fields read, so a malformed log's error is serde_json's,
//! with its line and column.

use serde::{Deserialize, Deserializer};
use sluice_plugin::TaskError;

use crate::position::{Position, malformed};

/// A SARIF result level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Note,
    None,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
            Level::None => "none",
        }
    }
}

/// One result of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub tool: String,
    pub rule: String,
    pub level: Level,
    /// The `security-severity` score (0.0-10.0), when the result or its rule has one.
    pub security_severity: Option<f64>,
    pub file: Option<String>,
    pub line: Option<u64>,
    pub message: String,
    /// The justification of an in-source or external suppression the log records.
    pub suppressed: Option<String>,
}

impl Finding {
    /// `file:line`, `file`, or nothing.
    pub fn location(&self) -> Option<String> {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => Some(format!("{file}:{line}")),
            (Some(file), None) => Some(file.clone()),
            _ => None,
        }
    }
}

/// GitHub code scanning's rating of a `security-severity` score.
pub fn severity_of(score: f64) -> &'static str {
    if score >= 9.0 {
        "critical"
    } else if score >= 7.0 {
        "high"
    } else if score >= 4.0 {
        "medium"
    } else {
        "low"
    }
}

#[derive(Deserialize)]
struct Log {
    version: String,
    runs: Vec<Run>,
}

#[derive(Deserialize)]
struct Run {
    tool: Tool,
    #[serde(default, deserialize_with = "null_as_empty")]
    results: Vec<SarifResult>,
}

#[derive(Deserialize)]
struct Tool {
    driver: Component,
    #[serde(default)]
    extensions: Vec<Component>,
}

#[derive(Deserialize)]
struct Component {
    name: String,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    #[serde(default)]
    default_configuration: Option<Configuration>,
    #[serde(default)]
    properties: Option<Properties>,
}

#[derive(Deserialize)]
struct Configuration {
    #[serde(default)]
    level: Option<Level>,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(default, rename = "security-severity", deserialize_with = "score")]
    security_severity: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    #[serde(default)]
    rule_id: Option<String>,
    #[serde(default)]
    rule_index: Option<usize>,
    #[serde(default)]
    rule: Option<RuleReference>,
    #[serde(default)]
    level: Option<Level>,
    #[serde(default)]
    kind: Option<String>,
    message: Message,
    #[serde(default)]
    locations: Vec<Location>,
    #[serde(default)]
    properties: Option<Properties>,
    #[serde(default)]
    suppressions: Vec<Suppression>,
}

#[derive(Deserialize)]
struct RuleReference {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    index: Option<usize>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(default)]
    physical_location: Option<PhysicalLocation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    #[serde(default)]
    artifact_location: Option<ArtifactLocation>,
    #[serde(default)]
    region: Option<Region>,
}

#[derive(Deserialize)]
struct ArtifactLocation {
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    #[serde(default)]
    start_line: Option<u64>,
}

#[derive(Deserialize)]
struct Suppression {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `"9.8"` as GitHub documents it, or `9.8` as some scanners write it.
fn score<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Score {
        Number(f64),
        Text(String),
    }
    match Option::<Score>::deserialize(d)? {
        None => Ok(None),
        Some(Score::Number(n)) => Ok(Some(n)),
        Some(Score::Text(t)) => t
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("security-severity \"{t}\" is not a number"))),
    }
}

/// The findings of the SARIF log `text` (`file` names it in errors).
pub fn parse(text: &str, file: &str) -> Result<Vec<Finding>, TaskError> {
    // Some Windows tools start the file with a byte order mark, which JSON does not allow.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let log: Log = serde_json::from_str(text).map_err(|err| {
        let position = Position { line: err.line().max(1), column: err.column().max(1) };
        let message = err.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        malformed(file, position, format!("not a SARIF log: {message}"))
    })?;
    if log.version != "2.1.0" {
        let offset = text.find("\"version\"").unwrap_or(0);
        return Err(malformed(
            file,
            Position::at(text, offset),
            format!("SARIF version \"{}\": gate.sarif reads 2.1.0", log.version),
        ));
    }
    let mut findings = Vec::new();
    for run in log.runs {
        let tool = run.tool.driver.name.clone();
        let rules: Vec<&Rule> = run
            .tool
            .driver
            .rules
            .iter()
            .chain(run.tool.extensions.iter().flat_map(|e| e.rules.iter()))
            .collect();
        for result in run.results {
            let index = result.rule_index.or(result.rule.as_ref().and_then(|r| r.index));
            let id = result.rule_id.clone().or(result.rule.as_ref().and_then(|r| r.id.clone()));
            let rule = index
                .and_then(|i| run.tool.driver.rules.get(i))
                .or_else(|| id.as_deref().and_then(|id| rules.iter().copied().find(|r| r.id == id)));
            let level = match (result.kind.as_deref(), result.level) {
                (Some(kind), _) if kind != "fail" => Level::None,
                (_, Some(level)) => level,
                _ => rule
                    .and_then(|r| r.default_configuration.as_ref())
                    .and_then(|c| c.level)
                    .unwrap_or(Level::Warning),
            };
            let security_severity = result
                .properties
                .as_ref()
                .and_then(|p| p.security_severity)
                .or_else(|| rule.and_then(|r| r.properties.as_ref()).and_then(|p| p.security_severity));
            let physical = result.locations.iter().find_map(|l| l.physical_location.as_ref());
            let uri = physical.and_then(|p| p.artifact_location.as_ref()).and_then(|a| a.uri.clone());
            let suppressed = result
                .suppressions
                .iter()
                .find(|s| matches!(s.status.as_deref(), None | Some("accepted")))
                .map(|s| {
                    let kind = s.kind.as_deref().unwrap_or("external");
                    match &s.justification {
                        Some(j) if !j.trim().is_empty() => format!("suppressed ({kind}): {j}"),
                        _ => format!("suppressed ({kind})"),
                    }
                });
            findings.push(Finding {
                tool: tool.clone(),
                rule: id.or_else(|| rule.map(|r| r.id.clone())).unwrap_or_else(|| "(no rule)".into()),
                level,
                security_severity,
                file: uri.map(|u| u.strip_prefix("file://").map(str::to_string).unwrap_or(u)),
                line: physical.and_then(|p| p.region.as_ref()).and_then(|r| r.start_line),
                message: result.message.text.or(result.message.id).unwrap_or_default(),
                suppressed,
            });
        }
    }
    Ok(findings)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "sarif_tests.rs"]
mod tests;
