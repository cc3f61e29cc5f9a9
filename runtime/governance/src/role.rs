//! Roles and the namespaces they hold over.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a caller may do, each role including the ones before it: `viewer` reads flows,
/// executions and logs; `runner` also starts, kills, resumes, restarts and replays; `editor`
/// also creates, changes and deletes flows; `admin` also manages tokens, secrets, plugins and
/// policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Runner,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Runner, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Runner => "runner",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|role| role.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown role `{text}`: use one of {}", names.join(", "))
        })
    }

    /// Whether holding `self` allows what `needed` allows.
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which namespaces a grant holds over: `*` (all of them), `acme.*` (`acme` and every
/// namespace under it), or `acme.web` (exactly that one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamespacePattern(String);

impl NamespacePattern {
    pub fn everything() -> NamespacePattern {
        NamespacePattern("*".to_owned())
    }

    pub fn parse(text: &str) -> Result<NamespacePattern, String> {
        let prefix = text.strip_suffix(".*").unwrap_or(text);
        if text == "*" || prefix.split('.').all(sluice_flow::is_name_segment) {
            return Ok(NamespacePattern(text.to_owned()));
        }
        Err(format!(
            "invalid namespace pattern `{text}`: use `*` for every namespace, `acme.*` for acme and \
             everything under it, or a namespace like `acme.web` (names of letters, digits, `_` and \
             `-`, separated by dots)"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `namespace` is one this pattern holds over.
    pub fn matches(&self, namespace: &str) -> bool {
        if self.0 == "*" {
            return true;
        }
        match self.0.strip_suffix(".*") {
            Some(prefix) => {
                namespace == prefix
                    || namespace.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.'))
            }
            None => self.0 == namespace,
        }
    }

    /// Whether it holds over every namespace (`*`): what global actions (tokens, plugins) need.
    pub fn is_everything(&self) -> bool {
        self.0 == "*"
    }
}

impl TryFrom<String> for NamespacePattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        NamespacePattern::parse(&text)
    }
}

impl From<NamespacePattern> for String {
    fn from(pattern: NamespacePattern) -> String {
        pattern.0
    }
}

impl fmt::Display for NamespacePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One role over the namespaces of one pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    pub namespace: NamespacePattern,
}

impl Grant {
    /// `editor:acme.*`, or a bare role for every namespace (`admin`).
    pub fn parse(text: &str) -> Result<Grant, String> {
        let (role, namespace) = match text.split_once(':') {
            Some((role, namespace)) => (role, NamespacePattern::parse(namespace)?),
            None => (text, NamespacePattern::everything()),
        };
        Ok(Grant { role: Role::parse(role)?, namespace })
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.role, self.namespace)
    }
}

/// Everything one token may do: the union of its grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grants(pub Vec<Grant>);

impl Grants {
    /// Whether some grant gives `role` (or more) over `namespace`.
    pub fn allows(&self, role: Role, namespace: &str) -> bool {
        self.0.iter().any(|g| g.role.includes(role) && g.namespace.matches(namespace))
    }

    /// Whether some grant gives `role` (or more) over some namespace.
    pub fn allows_somewhere(&self, role: Role) -> bool {
        self.0.iter().any(|g| g.role.includes(role))
    }

    /// Whether some grant gives `role` (or more) over every namespace.
    pub fn allows_everywhere(&self, role: Role) -> bool {
        self.0.iter().any(|g| g.role.includes(role) && g.namespace.is_everything())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> NamespacePattern {
        NamespacePattern::parse(text).expect("a valid pattern")
    }

    #[test]
    fn a_subtree_pattern_holds_over_its_root_and_below_only() {
        let acme = pattern("acme.*");
        assert!(acme.matches("acme"));
        assert!(acme.matches("acme.web"));
        assert!(acme.matches("acme.web.api"));
        assert!(!acme.matches("acmecorp"));
        assert!(!acme.matches("other.acme"));
        let exact = pattern("acme.web");
        assert!(exact.matches("acme.web"));
        assert!(!exact.matches("acme.web.api"));
        assert!(!exact.matches("acme"));
        assert!(pattern("*").matches("anything.at.all"));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_forms_that_work() {
        for bad in ["", "acme.", "*.acme", "ac me", "acme.**", "a..b"] {
            let error = NamespacePattern::parse(bad).expect_err(bad);
            assert!(error.contains("`acme.*`"), "{error}");
        }
    }

    #[test]
    fn roles_include_the_lesser_ones() {
        let grants = Grants(vec![Grant::parse("editor:acme.*").unwrap(), Grant::parse("viewer").unwrap()]);
        assert!(grants.allows(Role::Runner, "acme.web"));
        assert!(grants.allows(Role::Editor, "acme"));
        assert!(!grants.allows(Role::Admin, "acme"));
        assert!(grants.allows(Role::Viewer, "other"));
        assert!(!grants.allows(Role::Runner, "other"));
        assert!(grants.allows_somewhere(Role::Editor));
        assert!(!grants.allows_everywhere(Role::Runner));
        assert!(grants.allows_everywhere(Role::Viewer));
    }

    #[test]
    fn grants_read_back_from_their_json() {
        let grants = Grants(vec![Grant::parse("runner:acme.web").unwrap()]);
        let json = serde_json::to_string(&grants).unwrap();
        assert_eq!(json, r#"[{"role":"runner","namespace":"acme.web"}]"#);
        assert_eq!(serde_json::from_str::<Grants>(&json).unwrap(), grants);
        assert!(serde_json::from_str::<Grants>(r#"[{"role":"root","namespace":"*"}]"#).is_err());
        assert!(Grant::parse("boss:acme").unwrap_err().contains("viewer, runner, editor, admin"));
    }
}
