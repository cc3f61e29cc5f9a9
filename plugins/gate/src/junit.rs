//! JUnit XML, as the test runners write it: a `<testsuites>` root or a bare `<testsuite>`
//! (suites may nest), `<testcase>`s with `classname`, `name`, optional `file` and `line`, `time`,
//! and a `<failure>`, `<error>` or `<skipped>` child. pytest (`--junitxml`), Maven Surefire,
//! jest-junit, go-junit-report and cargo-nextest all fit this shape; their differences are in
//! where the message is (a `message` attribute, or only the element's text) and in the
//! re-run children (`flakyFailure`, `rerunFailure`) of a test that passed on a retry.
//!
//! Totals are counted from the test cases, not taken from the suites' `tests`/`failures`
//! attributes, which some writers leave out or get wrong.

use sluice_plugin::TaskError;

use crate::xml::{Document, Element};

/// What became of one test case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Error(String),
    Skipped(String),
}

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub line: Option<u64>,
    pub time: f64,
    pub outcome: Outcome,
}

impl Case {
    /// `file:line`, `file`, or nothing.
    pub fn location(&self) -> Option<String> {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => Some(format!("{file}:{line}")),
            (Some(file), None) => Some(file.clone()),
            _ => None,
        }
    }
}

/// The test cases of one JUnit report (`file` names it in errors).
pub fn parse(text: &str, file: &str) -> Result<Vec<Case>, TaskError> {
    let doc = crate::xml::parse(text, file)?;
    let mut cases = Vec::new();
    match doc.root.name.as_str() {
        "testsuites" => {
            for child in &doc.root.children {
                match child.name.as_str() {
                    "testsuite" => suite(&doc, child, &mut cases)?,
                    // Some writers put test cases right under the root.
                    "testcase" => cases.push(case(&doc, child, "")?),
                    _ => {}
                }
            }
        }
        "testsuite" => suite(&doc, &doc.root, &mut cases)?,
        other => {
            return Err(doc.error(
                &doc.root,
                format!("the root element is <{other}>, not <testsuites> or <testsuite>: not a JUnit report"),
            ));
        }
    }
    Ok(cases)
}

fn suite(doc: &Document<'_>, element: &Element, cases: &mut Vec<Case>) -> Result<(), TaskError> {
    let name = element.attr("name").unwrap_or_default();
    for child in &element.children {
        match child.name.as_str() {
            "testcase" => cases.push(case(doc, child, name)?),
            "testsuite" => suite(doc, child, cases)?,
            _ => {}
        }
    }
    Ok(())
}

fn case(doc: &Document<'_>, element: &Element, suite: &str) -> Result<Case, TaskError> {
    let Some(name) = element.attr("name") else {
        return Err(doc.error(element, "<testcase> has no `name` attribute"));
    };
    let classname = element.attr("classname").unwrap_or_default().to_string();
    let line = match element.attr("line") {
        None => None,
        Some(line) => Some(line.trim().parse::<u64>().map_err(|_| {
            doc.error(element, format!("<testcase name=\"{name}\"> line=\"{line}\" is not a line number"))
        })?),
    };
    let outcome = if let Some(failure) = element.child("failure") {
        Outcome::Failed(message(failure))
    } else if let Some(error) = element.child("error") {
        Outcome::Error(message(error))
    } else if let Some(skipped) = element.child("skipped") {
        Outcome::Skipped(message(skipped))
    } else {
        Outcome::Passed
    };
    Ok(Case {
        suite: if suite.is_empty() { classname.clone() } else { suite.to_string() },
        classname,
        name: name.to_string(),
        file: element.attr("file").filter(|f| !f.is_empty()).map(str::to_string),
        line,
        time: doc.number(element, "time")?.unwrap_or(0.0),
        outcome,
    })
}

/// The `message` attribute, else the first non-blank line of the element's text (jest-junit
/// and nextest put the whole output there).
fn message(element: &Element) -> String {
    if let Some(message) = element.attr("message").map(str::trim).filter(|m| !m.is_empty()) {
        return message.to_string();
    }
    element.text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "junit_tests.rs"]
mod tests;
