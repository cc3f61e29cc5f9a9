//! Finding a gate's reports: a glob over the workspace (`reports/**/*.xml`, or an absolute
//! pattern under `/workspace`), matched files in name order, and the rule that no match is a
//! failure unless the flow allows it.

use sluice_plugin::TaskError;

/// One report file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The path as matched (relative to the workspace when the pattern was).
    pub path: String,
    pub text: String,
}

/// The reports matching `pattern`. `Ok(empty)` only when `allow_missing` (the task logs it:
/// logging is a host import, absent from host unit tests).
pub fn find(task: &str, pattern: &str, allow_missing: bool) -> Result<Vec<Report>, TaskError> {
    let paths = glob::glob(pattern).map_err(|err| {
        TaskError::invalid_config(format!("`reports`: `{pattern}` is not a valid glob: {err}"))
    })?;
    let mut reports = Vec::new();
    for entry in paths {
        let path = entry.map_err(|err| {
            TaskError::failed(format!("{task}: cannot read {}: {err}", err.path().display()))
        })?;
        if path.is_dir() {
            continue;
        }
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path)
            .map_err(|err| TaskError::failed(format!("{task}: cannot read {shown}: {err}")))?;
        let text = String::from_utf8(bytes).map_err(|err| {
            let position = crate::position::Position::at(
                &String::from_utf8_lossy(err.as_bytes()),
                err.utf8_error().valid_up_to(),
            );
            crate::position::malformed(&shown, position, "not UTF-8 text")
        })?;
        reports.push(Report { path: shown, text });
    }
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    if reports.is_empty() && !allow_missing {
        return Err(TaskError::failed(format!(
            "{task}: no report matches `{pattern}` in the workspace (set `allowMissing: true` if none is expected)"
        )));
    }
    Ok(reports)
}

/// The ratio as a percentage rounded to two decimals (100 when there is nothing to cover).
pub fn percent(covered: u64, total: u64) -> f64 {
    if total == 0 {
        return 100.0;
    }
    (covered as f64 * 10000.0 / total as f64).round() / 100.0
}

/// Seconds rounded to the millisecond, so outputs do not carry float noise.
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matches_in_name_order_and_no_match_fails_unless_allowed() {
        let dir = std::env::temp_dir().join(format!("gate-reports-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("reports/b")).unwrap();
        std::fs::write(dir.join("reports/b/two.xml"), "<b/>").unwrap();
        std::fs::write(dir.join("reports/one.xml"), "<a/>").unwrap();
        std::fs::write(dir.join("reports/skip.txt"), "").unwrap();
        let pattern = format!("{}/reports/**/*.xml", dir.display());
        let found: Vec<String> = find("gate.tests", &pattern, false)
            .unwrap()
            .into_iter()
            .map(|r| r.path.trim_start_matches(&dir.display().to_string()).to_string())
            .collect();
        assert_eq!(found, ["/reports/b/two.xml", "/reports/one.xml"]);
        let missing = format!("{}/none/*.xml", dir.display());
        let err = find("gate.tests", &missing, false).err().unwrap();
        assert_eq!(
            err.message(),
            format!(
                "gate.tests: no report matches `{missing}` in the workspace (set `allowMissing: true` if none is expected)"
            )
        );
        assert!(find("gate.tests", &missing, true).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn percentages_round_to_two_decimals() {
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(0, 0), 100.0);
        assert_eq!(round3(0.1 + 0.2), 0.3);
    }
}
