//! Who is asking: what the auth middleware found out about a request, for the handler to check
//! namespaces against and for the audit log to name.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sluice_governance::{Grants, Role};

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A server running open (on loopback, no token made yet): may do anything.
    Open,
    /// A route that needs no token (health, webhooks, the session login): nobody in particular.
    Anonymous,
    Token {
        name: String,
        grants: Grants,
    },
}

/// The identity and where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: Identity,
    /// The peer's address, empty when unknown (a router called without a socket).
    pub source: String,
}

impl Caller {
    /// How the audit log names it.
    pub fn actor(&self) -> String {
        match &self.identity {
            Identity::Open => "open".to_owned(),
            Identity::Anonymous => "anonymous".to_owned(),
            Identity::Token { name, .. } => format!("token:{name}"),
        }
    }

    /// Whether it may act as `role` in `namespace`.
    pub fn may(&self, role: Role, namespace: &str) -> bool {
        match &self.identity {
            Identity::Open => true,
            Identity::Anonymous => false,
            Identity::Token { grants, .. } => grants.allows(role, namespace),
        }
    }

    /// Whether it may act as `role` in some namespace.
    pub fn may_somewhere(&self, role: Role) -> bool {
        match &self.identity {
            Identity::Open => true,
            Identity::Anonymous => false,
            Identity::Token { grants, .. } => grants.allows_somewhere(role),
        }
    }

    /// Whether it may act as `role` in every namespace (what global actions need).
    pub fn may_everywhere(&self, role: Role) -> bool {
        match &self.identity {
            Identity::Open => true,
            Identity::Anonymous => false,
            Identity::Token { grants, .. } => grants.allows_everywhere(role),
        }
    }

    /// [`Caller::may`], or the 403 saying what is missing.
    pub fn require(&self, role: Role, namespace: &str) -> Result<(), ApiError> {
        if self.may(role, namespace) {
            return Ok(());
        }
        Err(self.forbidden(format!("{role} in namespace `{namespace}`")))
    }

    /// [`Caller::may_everywhere`], or the 403 saying what is missing.
    pub fn require_everywhere(&self, role: Role) -> Result<(), ApiError> {
        if self.may_everywhere(role) {
            return Ok(());
        }
        Err(self.forbidden(format!("{role} over every namespace (`{role}:*`)")))
    }

    /// [`Caller::may_somewhere`], or the 403 saying what is missing.
    pub fn require_somewhere(&self, role: Role) -> Result<(), ApiError> {
        if self.may_somewhere(role) {
            return Ok(());
        }
        Err(self.forbidden(format!("{role} in some namespace")))
    }

    fn forbidden(&self, needed: String) -> ApiError {
        let held = match &self.identity {
            Identity::Token { grants, .. } if grants.0.is_empty() => "no role".to_owned(),
            Identity::Token { grants, .. } => {
                grants.0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            }
            _ => "no token".to_owned(),
        };
        ApiError::Forbidden(format!(
            "{} may not do this: it needs {needed}, and holds {held}; an admin can grant it with \
             `sluice token create --role ... --namespace ...`",
            self.actor()
        ))
    }
}

/// Handlers take the caller the middleware put in the request.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("a route without the auth middleware asked who called".into()))
    }
}
