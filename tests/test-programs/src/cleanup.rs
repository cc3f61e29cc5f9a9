//! Requests for the host to send if the run is stopped (`cleanup` interface, through the SDK).

use serde::Deserialize;
use serde_json::json;
use sluice_plugin::bindings::sluice::plugin::types::TaskError;
use sluice_plugin::cleanup::{self, AbortRequest};

use crate::Outcome;

/// One request to register, from config.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
    /// Instead of `body`: this many bytes of `x`, for the host's size bound.
    body_bytes: Option<usize>,
    /// Cancel it right after registering it.
    #[serde(default)]
    cancel: bool,
}

/// What the task does once its requests are registered.
#[derive(Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Then {
    /// Returns `{registered}`.
    #[default]
    Return,
    /// Returns the task error `failed`.
    Fail,
    /// Loops forever (until the timeout).
    Spin,
    /// Sleeps in a host call (until the timeout).
    Sleep,
    /// Panics.
    Trap,
}

#[derive(Deserialize)]
pub struct Config {
    requests: Vec<Registration>,
    #[serde(default)]
    then: Then,
}

/// `cleanup-then` `{requests: [{method, url, headers?, body?, bodyBytes?, cancel?}], then?}`:
/// registers each request in order (cancelling those with `cancel`); the first refusal returns
/// `{registered, ok: false, message}` at once. Then does what `then` says: `return` gives
/// `{registered, ok: true}`, `fail` a `failed` error, `spin`/`sleep` never end, `trap` panics.
pub fn then(config: Config) -> Outcome {
    let mut guards = Vec::new();
    for registration in config.requests {
        let body = match registration.body_bytes {
            Some(n) => vec![b'x'; n],
            None => registration.body.into_bytes(),
        };
        let mut request = AbortRequest::new(registration.method, registration.url).body(body);
        for (name, value) in registration.headers {
            request = request.header(name, value);
        }
        match cleanup::on_abort(&request) {
            Ok(guard) if registration.cancel => guard.cancel(),
            Ok(guard) => guards.push(guard),
            Err(err) => return Ok(json!({"registered": guards.len(), "ok": false, "message": err.0})),
        }
    }
    match config.then {
        Then::Return => Ok(json!({"registered": guards.len(), "ok": true})),
        Then::Fail => Err(TaskError::Failed("failed on purpose".into())),
        Then::Spin => {
            // Keeps the guards alive: a stopped run never drops them.
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(guards.len() as u64));
            }
        }
        Then::Sleep => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            std::hint::black_box(&guards);
        },
        Then::Trap => panic!("trapping with {} cleanup requests registered", guards.len()),
    }
}
