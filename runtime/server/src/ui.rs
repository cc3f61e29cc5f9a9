//! The web UI: plain ES modules and CSS from `runtime/server/ui/`, embedded in the binary (no
//! Node toolchain, nothing fetched at run time). Every page URL answers the same `index.html`,
//! whose script routes on the path, so any view's URL can be shared and reloaded; the assets are
//! under `/ui/`. The pages read the same `/api/v1` a script would.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::OnceLock;

use crate::error::ApiError;
use crate::state::AppState;

/// One embedded file: its path under `/ui/`, its content type, its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $type:expr),* $(,)?) => {
        &[$(Asset { path: $path, content_type: $type, bytes: include_bytes!(concat!("../ui/", $path)) }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the UI is made of. A new file is added here (the test of this module checks that
/// nothing in `ui/` is left out).
static ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "reads.js" => JS,
    "pages/flows.js" => JS,
    "pages/executions.js" => JS,
    "pages/plugins.js" => JS,
    "pages/flow.js" => JS,
    "pages/flow.css" => "text/css; charset=utf-8",
    "pages/flow/editor.js" => JS,
    "pages/flow/yaml.js" => JS,
    "pages/flow/diff.js" => JS,
    "pages/flow/topology.js" => JS,
    "pages/run.js" => JS,
    "pages/login.js" => JS,
    "pages/execution.js" => JS,
    "pages/execution.css" => "text/css; charset=utf-8",
    "pages/execution/gantt.js" => JS,
    "pages/execution/logs.js" => JS,
    "pages/execution/outputs.js" => JS,
    "pages/execution/actions.js" => JS,
    "pages/execution/graph.js" => JS,
    "pages/execution/topology.js" => JS,
};

/// The page routes (answered with `index.html`) and the assets.
pub fn router() -> Router<AppState> {
    let page = get(index);
    Router::new()
        .route("/", page.clone())
        .route("/flows", page.clone())
        .route("/flows/{*rest}", page.clone())
        .route("/executions", page.clone())
        .route("/executions/{*rest}", page.clone())
        .route("/plugins", page.clone())
        .route("/plugins/{*rest}", page)
        .route("/ui/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(find("index.html").expect("index.html is embedded"), &headers, Caching::Revalidate)
}

/// Marks the UI's 404 page, which the layer that turns error answers into problem documents
/// lets through.
#[derive(Clone, Copy)]
pub struct UiPage;

/// `index.html` with a 404 for a browser's request of an unknown page (not under `/api/`, asking
/// for HTML); `None` for anything else, which gets the API's problem document.
pub fn missing_page(path: &str, headers: &HeaderMap) -> Option<Response> {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|t| t.trim().starts_with("text/html")));
    if !wants_html || path.starts_with("/api/") || path.starts_with("/ui/") {
        return None;
    }
    let index = find("index.html").expect("index.html is embedded");
    let mut response = serve(index, &HeaderMap::new(), Caching::Revalidate);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.extensions_mut().insert(UiPage);
    Some(response)
}

/// An asset, under `/ui/v-<version>/` (what the pages load) or straight under `/ui/`.
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (path, caching) = match path.strip_prefix("v-").and_then(|rest| rest.split_once('/')) {
        Some((version, rest)) if version == ui_version() => (rest, Caching::Immutable),
        // A page loaded from an earlier binary: today's file, revalidated.
        Some((_, rest)) => (rest, Caching::Revalidate),
        None => (path.as_str(), Caching::Revalidate),
    };
    let asset = find(path).ok_or_else(|| ApiError::NotFound(format!("no UI file {path}")))?;
    Ok(serve(asset, &headers, caching))
}

/// How long a browser may keep an answer.
#[derive(Clone, Copy)]
enum Caching {
    /// Asked again each time (`no-cache`), answered 304 while the binary is the same.
    Revalidate,
    /// Kept for good: the URL names the UI's version, so a new binary's files are new URLs.
    Immutable,
}

/// The UI's version: a hash of every embedded file. The pages load the assets under
/// `/ui/v-<version>/`, cached for good, so a page load asks the server for nothing but
/// `index.html` and its data (revalidating each module cost a round trip per import level).
pub fn ui_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash = Sha256::new();
        for asset in ASSETS {
            hash.update(asset.path.as_bytes());
            hash.update([0]);
            hash.update(Sha256::digest(asset.bytes));
        }
        hex::encode(hash.finalize())[..12].to_owned()
    })
}

/// An asset ready to serve: `index.html` points at the versioned URLs, and each has the ETag
/// of its bytes.
struct Prepared {
    path: &'static str,
    content_type: &'static str,
    /// Embedded as they are, but for `index.html`'s rewritten URLs.
    bytes: Cow<'static, [u8]>,
    etag: String,
}

fn find(path: &str) -> Option<&'static Prepared> {
    static PREPARED: OnceLock<Vec<Prepared>> = OnceLock::new();
    let prepared = PREPARED.get_or_init(|| {
        let versioned = format!("\"/ui/v-{}/", ui_version());
        ASSETS
            .iter()
            .map(|asset| {
                let bytes = if asset.path == "index.html" {
                    Cow::Owned(
                        String::from_utf8_lossy(asset.bytes).replace("\"/ui/", &versioned).into_bytes(),
                    )
                } else {
                    Cow::Borrowed(asset.bytes)
                };
                let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&bytes))[..16]);
                Prepared { path: asset.path, content_type: asset.content_type, bytes, etag }
            })
            .collect()
    });
    prepared.iter().find(|a| a.path == path)
}

/// The asset with an ETag of its content, revalidated or kept for good as `caching` says.
fn serve(asset: &'static Prepared, headers: &HeaderMap, caching: Caching) -> Response {
    let etag = &asset.etag;
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag.clone())]).into_response();
    }
    let mut response = asset.bytes.as_ref().into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    let cache = match caching {
        Caching::Revalidate => "no-cache",
        Caching::Immutable => "public, max-age=31536000, immutable",
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The pages load only their own scripts and styles and talk only to this server.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::ETAG, HeaderValue::from_str(etag).expect("hex is a valid header value"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every file under `ui/` is embedded, and every embedded file exists.
    #[test]
    fn every_ui_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    on_disk.push(path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "runtime/server/ui/ and the ASSETS list differ");
    }
}
