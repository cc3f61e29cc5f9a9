//! Outbound HTTP through the SDK client.

use serde::Deserialize;
use serde_json::json;

use crate::Outcome;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fetch {
    url: String,
    #[serde(default = "follow_by_default")]
    follow_redirects: bool,
}

fn follow_by_default() -> bool {
    true
}

/// `fetch` `{url, followRedirects?}`: GET, `{"status": n, "body": text}`. Errors map as the SDK
/// maps them: a host refusal is `denied`, anything else `failed`.
pub fn fetch(config: Fetch) -> Outcome {
    let response = sluice_plugin::http::get(config.url).follow_redirects(config.follow_redirects).send()?;
    Ok(json!({ "status": response.status, "body": response.text() }))
}

#[derive(Deserialize)]
pub struct FetchMany {
    url: String,
    times: u32,
}

/// `fetch-many` `{url, times}`: GETs `url` that many times one after the other, `{"bodies":
/// [...]}`. What the host's connection reuse is tested with.
pub fn fetch_many(config: FetchMany) -> Outcome {
    let mut bodies = Vec::new();
    for _ in 0..config.times {
        bodies.push(sluice_plugin::http::get(&config.url).send()?.text());
    }
    Ok(json!({ "bodies": bodies }))
}
