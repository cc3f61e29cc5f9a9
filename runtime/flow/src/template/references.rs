//! What a template refers to, found without rendering it.

use std::collections::HashSet;
use std::sync::LazyLock;

use minijinja::Environment;

use super::environment;
use super::error::describe;
use super::secret_calls::secret_calls;
use super::shape::{self, Condition, is_template};

/// A root a template reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// `outputs.<task>...`
    Output { task: String },
    /// `inputs.<name>...`
    Input { name: String },
    /// `vars.<name>...`
    Var { name: String },
    /// `secret('<name>')`
    Secret { name: String },
    /// Any other root variable (`flow`, `taskrun`, a bare `outputs`, or a typo), by its name.
    Other { root: String },
}

/// One reference and the expression it was found in (`outputs.build.commit`), for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub reference: Reference,
    pub path: String,
}

/// Static check of one template: its syntax, and the roots it references, in order of first
/// appearance. Names the template binds itself (`{% set %}`, `{% for %}`, macros) and the
/// template functions are not references.
pub fn references(template: &str) -> Result<Vec<Reference>, String> {
    analyze(template).map(|found| found.into_iter().map(|f| f.reference).collect())
}

/// Like [`references`], for a condition (`runIf`, `flow.if`): a bare expression is read as
/// `{{ expr }}`, and the literals `false`, `0`, `no`, `true`, `1`, `yes` reference nothing.
pub fn condition_references(condition: &str) -> Result<Vec<Reference>, String> {
    match shape::condition(condition) {
        Condition::Literal(_) => Ok(Vec::new()),
        Condition::Template(source) => references(&source),
    }
}

/// Parsing needs an environment configured like the one that renders (same syntax, same
/// globals); it never renders here.
static ANALYSIS_ENV: LazyLock<Environment<'static>> = LazyLock::new(environment::build);

pub(super) fn analyze(source: &str) -> Result<Vec<Found>, String> {
    if !is_template(source) {
        return Ok(Vec::new());
    }
    let env = &*ANALYSIS_ENV;
    let template = env.template_from_str(source).map_err(|err| describe(&err, source, 0))?;
    let globals: HashSet<&str> = env.globals().map(|(name, _)| name).collect();
    let mut found: Vec<(usize, Found)> = Vec::new();
    let mut calls_secret = false;
    for path in template.undeclared_variables(true) {
        let root = path.split('.').next().unwrap_or_default();
        if root == "secret" {
            calls_secret = true;
        }
        if globals.contains(root) {
            continue;
        }
        let position = source.find(&path).unwrap_or(usize::MAX);
        found.push((position, Found { reference: classify(&path), path }));
    }
    if calls_secret {
        for call in secret_calls(source).map_err(|err| err.to_string())? {
            let path = format!("secret('{}')", call.name);
            found.push((call.offset, Found { reference: Reference::Secret { name: call.name }, path }));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
    let mut seen = HashSet::new();
    Ok(found.into_iter().map(|(_, f)| f).filter(|f| seen.insert(f.reference.clone())).collect())
}

fn classify(path: &str) -> Reference {
    let mut parts = path.split('.');
    let root = parts.next().unwrap_or_default();
    match (root, parts.next()) {
        ("outputs", Some(task)) => Reference::Output { task: task.to_string() },
        ("inputs", Some(name)) => Reference::Input { name: name.to_string() },
        ("vars", Some(name)) => Reference::Var { name: name.to_string() },
        _ => Reference::Other { root: root.to_string() },
    }
}
