//! Webhook signatures: GitHub's HMAC-SHA256 of the raw body and GitLab's shared token. Both
//! compare in constant time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sluice_flow::WebhookSignature;
use subtle::ConstantTimeEq;

pub const GITHUB_HEADER: &str = "X-Hub-Signature-256";
pub const GITLAB_HEADER: &str = "X-Gitlab-Token";

/// Why a request was refused, in words for the sender (never the expected value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook requires a signature: the `{0}` header is missing")]
    Missing(&'static str),
    #[error("the `{0}` header does not match: the request is not signed with this webhook's secret")]
    Mismatch(&'static str),
    #[error("the `{0}` header is malformed: expected `sha256=` followed by 64 hex digits")]
    Malformed(&'static str),
}

/// The header the scheme reads.
pub fn header_name(scheme: &WebhookSignature) -> &'static str {
    match scheme {
        WebhookSignature::Github { .. } => GITHUB_HEADER,
        WebhookSignature::Gitlab { .. } => GITLAB_HEADER,
    }
}

/// Checks `header` (the value of [`header_name`], None when absent) against `secret`.
pub fn verify(
    scheme: &WebhookSignature,
    secret: &str,
    header: Option<&[u8]>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let name = header_name(scheme);
    let header = header.ok_or(SignatureError::Missing(name))?;
    match scheme {
        WebhookSignature::Github { .. } => {
            let hex_digest = header.strip_prefix(b"sha256=").ok_or(SignatureError::Malformed(name))?;
            let given = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed(name))?;
            if given.len() != 32 {
                return Err(SignatureError::Malformed(name));
            }
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
                .map_err(|_| SignatureError::Mismatch(name))?;
            mac.update(body);
            mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch(name))
        }
        WebhookSignature::Gitlab { .. } => {
            // Digests first, so the comparison takes the same time whatever the lengths.
            let given = Sha256::digest(header);
            let expected = Sha256::digest(secret.as_bytes());
            if bool::from(given.as_slice().ct_eq(expected.as_slice())) {
                Ok(())
            } else {
                Err(SignatureError::Mismatch(name))
            }
        }
    }
}

/// `sha256=<hex>` of `body` under `secret`, as GitHub sends it (for tests and tools).
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn github() -> WebhookSignature {
        WebhookSignature::Github { secret: "HOOK".into() }
    }

    fn gitlab() -> WebhookSignature {
        WebhookSignature::Gitlab { secret: "HOOK".into() }
    }

    #[test]
    fn github_signature_matches_the_published_example() {
        // The example in GitHub's "Validating webhook deliveries" documentation.
        assert_eq!(
            github_signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn github_accepts_the_right_hmac_only() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = github_signature("s3cret", body);
        assert_eq!(verify(&github(), "s3cret", Some(good.as_bytes()), body), Ok(()));
        assert_eq!(
            verify(&github(), "other", Some(good.as_bytes()), body),
            Err(SignatureError::Mismatch(GITHUB_HEADER))
        );
        assert_eq!(
            verify(&github(), "s3cret", Some(good.as_bytes()), b"{\"ref\":\"refs/heads/evil\"}"),
            Err(SignatureError::Mismatch(GITHUB_HEADER))
        );
        let upper = format!("sha256={}", good["sha256=".len()..].to_uppercase());
        assert_eq!(verify(&github(), "s3cret", Some(upper.as_bytes()), body), Ok(()), "hex in any case");
    }

    #[test]
    fn github_reports_missing_and_malformed_headers() {
        assert_eq!(verify(&github(), "s", None, b""), Err(SignatureError::Missing(GITHUB_HEADER)));
        for bad in ["", "sha1=00", "sha256=zz", "sha256=abcd", "757107ea0eb2509fc211221cce984b8a"] {
            assert_eq!(
                verify(&github(), "s", Some(bad.as_bytes()), b""),
                Err(SignatureError::Malformed(GITHUB_HEADER)),
                "{bad}"
            );
        }
    }

    #[test]
    fn gitlab_compares_the_token() {
        assert_eq!(verify(&gitlab(), "tok-123", Some(b"tok-123"), b"anything"), Ok(()));
        assert_eq!(
            verify(&gitlab(), "tok-123", Some(b"tok-124"), b""),
            Err(SignatureError::Mismatch(GITLAB_HEADER))
        );
        assert_eq!(
            verify(&gitlab(), "tok-123", Some(b"tok-12"), b""),
            Err(SignatureError::Mismatch(GITLAB_HEADER))
        );
        assert_eq!(
            verify(&gitlab(), "tok-123", Some(b""), b""),
            Err(SignatureError::Mismatch(GITLAB_HEADER))
        );
        assert_eq!(verify(&gitlab(), "tok-123", None, b""), Err(SignatureError::Missing(GITLAB_HEADER)));
    }
}
