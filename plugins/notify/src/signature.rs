//! The signature of `notify.webhook` requests, as a receiver checks it.
//!
//! ```text
//! X-Sluice-Timestamp:        <unix seconds when the request was signed>
//! X-Sluice-Signature-256:    sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//! ```
//!
//! The timestamp is part of what is signed, so a captured request cannot be sent again later
//! with a new timestamp; a receiver rejects timestamps more than a few minutes from its clock
//! (and, within that window, deliveries it has already seen: `X-Sluice-Delivery`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "X-Sluice-Signature-256";
/// The header with the signing time.
pub const TIMESTAMP_HEADER: &str = "X-Sluice-Timestamp";
/// The header with the delivery's id, the same on every retry of one delivery.
pub const DELIVERY_HEADER: &str = "X-Sluice-Delivery";

/// `sha256=<hex>`: the HMAC-SHA256 with `secret` of `<timestamp>.<body>`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // An HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC keys have any length")
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_timestamp_and_the_body() {
        // Checked with: printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'It'"'"'s a Secret to Everybody'
        let signature = sign(b"It's a Secret to Everybody", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(signature, "sha256=51538ab6f6314bb1f45de59d49edd93447bd4ca11fd52ee2fc1bb150735de0c6");
        assert_ne!(signature, sign(b"It's a Secret to Everybody", 1_700_000_001, br#"{"a":1}"#));
        assert_ne!(signature, sign(b"another secret", 1_700_000_000, br#"{"a":1}"#));
    }
}
