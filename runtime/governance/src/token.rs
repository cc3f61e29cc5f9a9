//! API tokens: made from 32 random bytes, shown once, kept only as their SHA-256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sluice_engine::{StoreError, Timestamp};

use crate::role::Grants;

/// What every token starts with, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "sluice_";

/// A token as the store keeps it: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Unique among the tokens not revoked.
    pub name: String,
    /// SHA-256 of the token, hex.
    #[serde(skip)]
    pub hash: String,
    pub grants: Grants,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl TokenRecord {
    /// Whether it may still be used at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| now < expires)
    }
}

/// A token just made: the secret to hand over once, and the record to store.
#[derive(Debug)]
pub struct NewToken {
    pub token: String,
    pub record: TokenRecord,
}

impl NewToken {
    /// Makes a token from the system's random source.
    pub fn generate(
        name: &str,
        grants: Grants,
        now: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> Result<NewToken, String> {
        check_name(name)?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("the system's random source failed: {e}"))?;
        let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        Ok(NewToken::from_token(name, token, grants, now, expires_at))
    }

    /// A token given by the operator (e.g. the first admin token, from the environment).
    pub fn from_token(
        name: &str,
        token: String,
        grants: Grants,
        now: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> NewToken {
        let record = TokenRecord {
            name: name.to_owned(),
            hash: token_hash(&token),
            grants,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        NewToken { token, record }
    }
}

/// The SHA-256 of a token, hex: what the store looks tokens up by. A token is 256 random bits,
/// so a fast hash is enough (there is nothing to guess that a slow hash would protect).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What a store answers when a live token has the name already.
pub fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a token named `{name}` exists already: revoke it first (`sluice token revoke {name}`) or pick \
         another name"
    ))
}

/// A token's name: 1 to 64 letters, digits, `_`, `-` and `.`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let good = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if good {
        Ok(())
    } else {
        Err(format!(
            "invalid token name `{name}`: use 1 to 64 letters, digits, `_`, `-` and `.`, starting with a \
             letter or digit"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::role::Grant;

    #[test]
    fn tokens_are_random_and_kept_as_their_hash() {
        let now = chrono::Utc::now();
        let grants = Grants(vec![Grant::parse("admin").unwrap()]);
        let a = NewToken::generate("ci", grants.clone(), now, None).unwrap();
        let b = NewToken::generate("ci", grants, now, None).unwrap();
        assert_ne!(a.token, b.token);
        assert!(a.token.starts_with(TOKEN_PREFIX));
        assert_eq!(a.token.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(a.record.hash, token_hash(&a.token));
        assert!(!a.record.hash.contains(&a.token));
        // The hash is never serialised (the API lists records).
        let json = serde_json::to_string(&a.record).unwrap();
        assert!(!json.contains(&a.record.hash), "{json}");
    }

    #[test]
    fn a_token_lives_until_it_expires_or_is_revoked() {
        let now = chrono::Utc::now();
        let hour = chrono::Duration::hours(1);
        let mut record = NewToken::generate("ci", Grants::default(), now, Some(now + hour)).unwrap().record;
        assert!(record.is_live(now));
        assert!(!record.is_live(now + hour));
        record.expires_at = None;
        assert!(record.is_live(now + hour * 1000));
        record.revoked_at = Some(now);
        assert!(!record.is_live(now));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("ci-deploy.prod_1").is_ok());
        for bad in ["", "-ci", "ci token", "ci/x", &"a".repeat(65)] {
            assert!(check_name(bad).unwrap_err().contains("1 to 64"), "{bad}");
        }
    }
}
