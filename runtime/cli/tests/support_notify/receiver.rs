//! A webhook receiver that verifies `notify.webhook`'s signature as the docs tell receivers to
//! (HMAC-SHA256 of `<X-Sluice-Timestamp>.<body>`, compared in constant time; a timestamp more
//! than five minutes away refused) and answers `200 received`, `401` with why otherwise.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::server::{Received, Reply, Server};

/// The signing secret the receiver shares with the flow.
pub const SECRET: &str = "whsec-receiverSECRET-0001";
/// How far a timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: u64 = 300;

pub fn start() -> Server {
    Server::start(|request| match verify(request, SECRET.as_bytes(), now()) {
        Ok(()) => Reply::text(200, "received"),
        Err(why) => Reply::text(401, why),
    })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A receiver's check of one request, as docs/plugins/notify.md gives it.
pub fn verify(request: &Received, secret: &[u8], now: u64) -> Result<(), &'static str> {
    let timestamp = request.header("x-sluice-timestamp").ok_or("missing X-Sluice-Timestamp")?;
    let signature = request.header("x-sluice-signature-256").ok_or("missing X-Sluice-Signature-256")?;
    let sent: u64 = timestamp.parse().map_err(|_| "bad timestamp")?;
    if sent.abs_diff(now) > TOLERANCE_SECS {
        return Err("timestamp outside the tolerance: a replay?");
    }
    let hex = signature.strip_prefix("sha256=").ok_or("not a sha256= signature")?;
    let expected = hex::decode(hex).map_err(|_| "signature is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    mac.verify_slice(&expected).map_err(|_| "signature mismatch")
}
