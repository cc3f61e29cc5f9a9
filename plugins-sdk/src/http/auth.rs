//! `authorization` header values, and the choice between basic and bearer credentials that
//! many services offer, with the same config errors in every plugin.

use base64::Engine as _;

use crate::TaskError;

/// `Basic <base64 of user:password>` (RFC 7617), as curl's `-u` sends it.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// `Bearer <token>` (RFC 6750).
pub fn bearer_auth(token: &str) -> String {
    format!("Bearer {token}")
}

/// A config's credentials: a user and a password (basic auth) or a token (bearer), each named
/// by its config key so an error says which to fix.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The user's key and value: `("email", ...)`.
    pub user: (&'a str, Option<&'a str>),
    /// The password's key and value: `("apiToken", ...)`.
    pub password: (&'a str, Option<&'a str>),
    /// The token's key and value: `("bearerToken", ...)`.
    pub token: (&'a str, Option<&'a str>),
}

impl Credentials<'_> {
    /// The `authorization` value: basic for a user and password, bearer for a token. Both, a
    /// half of the pair, or nothing at all is an invalid config that names the keys.
    pub fn authorization(&self) -> Result<String, TaskError> {
        let ((user_key, user), (password_key, password), (token_key, token)) =
            (self.user, self.password, self.token);
        match (user, password, token) {
            (Some(user), Some(password), None) => Ok(basic_auth(user, password)),
            (None, None, Some(token)) => Ok(bearer_auth(token)),
            (_, _, Some(_)) => Err(TaskError::invalid_config(format!(
                "give either `{user_key}` + `{password_key}` or `{token_key}`, not both"
            ))),
            (Some(_), None, None) => {
                Err(TaskError::invalid_config(format!("`{user_key}` needs `{password_key}`")))
            }
            (None, Some(_), None) => {
                Err(TaskError::invalid_config(format!("`{password_key}` needs `{user_key}`")))
            }
            (None, None, None) => Err(TaskError::invalid_config(format!(
                "no credentials: give `{user_key}` + `{password_key}` (basic auth) or `{token_key}`"
            ))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn of<'a>(user: Option<&'a str>, password: Option<&'a str>, token: Option<&'a str>) -> Credentials<'a> {
        Credentials { user: ("email", user), password: ("apiToken", password), token: ("bearerToken", token) }
    }

    #[test]
    fn basic_bearer_and_the_mistakes_named() {
        assert_eq!(basic_auth("ci", "t"), "Basic Y2k6dA==");
        assert_eq!(of(Some("ci"), Some("t"), None).authorization(), Ok("Basic Y2k6dA==".into()));
        assert_eq!(of(None, None, Some("x")).authorization(), Ok("Bearer x".into()));
        let err = |c: Credentials<'_>| c.authorization().unwrap_err().message().to_string();
        assert_eq!(
            err(of(Some("a"), Some("b"), Some("c"))),
            "give either `email` + `apiToken` or `bearerToken`, not both"
        );
        assert_eq!(err(of(Some("a"), None, None)), "`email` needs `apiToken`");
        assert_eq!(err(of(None, Some("b"), None)), "`apiToken` needs `email`");
        assert_eq!(
            err(of(None, None, None)),
            "no credentials: give `email` + `apiToken` (basic auth) or `bearerToken`"
        );
    }
}
