//! HTTPS with trust of the run's own (`tls` interface, through the SDK), hostile calls included.

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_plugin::tls::{self, ClientIdentity};

use crate::Outcome;

/// One origin's trust, from config: PEM strings, each optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trust {
    origin: String,
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    /// Instead of `ca`: this many bytes of junk, for the host's size bound.
    ca_bytes: Option<usize>,
}

impl Trust {
    /// Calls `tls::trust_origin` (`tls::reset_origin` when nothing is given).
    fn apply(&self) -> Result<(), tls::Error> {
        let junk = self.ca_bytes.map(|n| "A".repeat(n));
        let ca = junk.as_deref().or(self.ca.as_deref());
        let client = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                Some(ClientIdentity { certificate_chain: cert.clone(), private_key: key.clone() })
            }
            _ => None,
        };
        match (ca, &client) {
            (None, None) => tls::reset_origin(&self.origin),
            (ca, client) => tls::trust_origin(&self.origin, ca, client.as_ref()),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsFetch {
    #[serde(default)]
    trust: Vec<Trust>,
    url: Option<String>,
    #[serde(default)]
    sleep_ms: u64,
}

/// `tls-fetch` `{trust: [{origin, ca?, cert?, key?}], url?, sleepMs?}`: sets each trust (a
/// refusal ends the task through `?`: denied or invalid-config), sleeps `sleepMs`, then GETs
/// `url` with the SDK client: `{status, body}` (`{}` without a url); a failed request is a
/// `failed` task error with the SDK's message.
pub fn fetch(config: TlsFetch) -> Outcome {
    for trust in &config.trust {
        trust.apply()?;
    }
    std::thread::sleep(std::time::Duration::from_millis(config.sleep_ms));
    let Some(url) = config.url else { return Ok(json!({})) };
    let response = sluice_plugin::http::get(url).send()?;
    Ok(json!({ "status": response.status, "body": response.text() }))
}

/// `tls-trust` `{origin, ca?, caBytes?, cert?, key?}`: one call, its result as output:
/// `{ok: true}` or `{ok: false, kind: denied|invalid|limit, message}`.
pub fn trust(config: Trust) -> Outcome {
    Ok(outcome(config.apply()))
}

#[derive(Deserialize)]
pub struct TrustMany {
    prefix: String,
    count: u16,
    ca: String,
}

/// `tls-trust-many` `{prefix, count, ca}`: trusts `ca` for `<prefix>1` ... `<prefix><count>`
/// (e.g. `https://127.0.0.1:`), stopping at the first refusal: `{set, ...outcome of the last}`.
pub fn trust_many(config: TrustMany) -> Outcome {
    let mut set = 0;
    let mut last = Ok(());
    for port in 1..=config.count {
        last = tls::trust_origin(&format!("{}{port}", config.prefix), Some(&config.ca), None);
        if last.is_err() {
            break;
        }
        set += 1;
    }
    let mut output = outcome(last);
    output["set"] = json!(set);
    Ok(output)
}

fn outcome(result: Result<(), tls::Error>) -> Value {
    let (kind, message) = match result {
        Ok(()) => return json!({ "ok": true }),
        Err(tls::Error::Denied(m)) => ("denied", m),
        Err(tls::Error::Invalid(m)) => ("invalid", m),
        Err(tls::Error::Limit(m)) => ("limit", m),
        Err(other) => ("other", other.to_string()),
    };
    json!({ "ok": false, "kind": kind, "message": message })
}
