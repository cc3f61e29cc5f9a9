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
    serve(find("index.html").expect("index.html is embedded"), &headers)
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
    let mut response = serve(find("index.html").expect("index.html is embedded"), &HeaderMap::new());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.extensions_mut().insert(UiPage);
    Some(response)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let asset = find(&path).ok_or_else(|| ApiError::NotFound(format!("no UI file {path}")))?;
    Ok(serve(asset, &headers))
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The asset with an ETag of its content: browsers revalidate (`no-cache`) and get a 304 while
/// the binary is the same, so a new version is never hidden behind a stale cache.
fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = etag(asset);
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag.clone())]).into_response();
    }
    let mut response = asset.bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The pages load only their own scripts and styles and talk only to this server.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header value"));
    response
}

fn etag(asset: &'static Asset) -> String {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS.iter().map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.bytes))[..16])).collect()
    });
    let index = ASSETS.iter().position(|a| std::ptr::eq(a, asset)).expect("an embedded asset");
    tags[index].clone()
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
