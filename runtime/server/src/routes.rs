//! Every route of the API, in one list: the router is built from it and the OpenAPI test
//! checks the document against it.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use sluice_governance::Role;

use crate::auth::{Access, authorize, session};
use crate::error::{ApiError, problem_for_every_error};
use crate::state::AppState;
use crate::{audit, executions, flow_graph, flows, health, logs, openapi, plugins, rerun, tokens, triggers};

pub struct Route {
    pub method: Method,
    /// In axum's syntax, which is also OpenAPI's: `/api/v1/flows/{namespace}/{id}`.
    pub path: &'static str,
    /// What it needs of its caller (checked by [`crate::auth::authorize`]).
    pub access: Access,
    handler: MethodRouter<AppState>,
    /// Takes multipart uploads: its body limit is the server's upload limit. Every other route
    /// reads its body (if any) with a limit of its own ([`crate::limits`]).
    uploads: bool,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    // The list below uses only GET, POST, PUT and DELETE, which all have a filter.
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
    Route { method, path, access, handler: on(filter, handler), uploads: false }
}

fn upload_route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    Route { uploads: true, ..route(method, path, access, handler) }
}

pub fn routes() -> Vec<Route> {
    use Access::{Everywhere, InHandler, InPath, Metrics, Open};
    use Method as M;
    use Role::{Admin, Editor, Runner, Viewer};
    vec![
        route(M::POST, "/api/v1/flows", InHandler(Editor), flows::create),
        route(M::GET, "/api/v1/flows", InHandler(Viewer), flows::list),
        route(M::POST, "/api/v1/flows/validate", InHandler(Viewer), flows::check),
        route(M::GET, "/api/v1/flows/{namespace}/{id}", InPath(Viewer), flows::get),
        route(M::PUT, "/api/v1/flows/{namespace}/{id}", InPath(Editor), flows::update),
        route(M::DELETE, "/api/v1/flows/{namespace}/{id}", InPath(Editor), flows::delete),
        route(M::GET, "/api/v1/flows/{namespace}/{id}/revisions", InPath(Viewer), flows::revisions),
        route(M::GET, "/api/v1/flows/{namespace}/{id}/triggers", InPath(Viewer), triggers::list),
        route(M::GET, "/api/v1/flows/{namespace}/{id}/graph", InPath(Viewer), flow_graph::get),
        upload_route(M::POST, "/api/v1/executions/{namespace}/{flowId}", InPath(Runner), executions::start),
        route(M::GET, "/api/v1/executions", InHandler(Viewer), executions::list),
        route(M::GET, "/api/v1/executions/{id}", InHandler(Viewer), executions::get),
        route(M::POST, "/api/v1/executions/{id}/kill", InHandler(Runner), executions::kill),
        route(M::POST, "/api/v1/executions/{id}/resume", InHandler(Runner), executions::resume),
        route(M::POST, "/api/v1/executions/{id}/restart", InHandler(Runner), rerun::restart),
        route(M::POST, "/api/v1/executions/{id}/replay", InHandler(Runner), rerun::replay),
        route(M::GET, "/api/v1/executions/{id}/logs", InHandler(Viewer), logs::list),
        route(M::GET, "/api/v1/executions/{id}/logs/follow", InHandler(Viewer), logs::follow),
        route(M::GET, "/api/v1/executions/{id}/follow", InHandler(Viewer), logs::follow_states),
        route(M::POST, "/api/v1/webhooks/{namespace}/{flowId}/{key}", Open, triggers::receive),
        route(M::GET, "/api/v1/webhooks/{namespace}/{flowId}/{key}", Open, triggers::receive),
        route(M::GET, "/api/v1/plugins", InHandler(Viewer), plugins::list),
        upload_route(M::POST, "/api/v1/plugins", Everywhere(Admin), plugins::deploy),
        route(M::GET, "/api/v1/plugins/{name}", InHandler(Viewer), plugins::get),
        route(M::GET, "/api/v1/tokens", Everywhere(Admin), tokens::list),
        route(M::POST, "/api/v1/tokens", Everywhere(Admin), tokens::create),
        route(M::DELETE, "/api/v1/tokens/{name}", Everywhere(Admin), tokens::revoke),
        route(M::GET, "/api/v1/audit", Everywhere(Admin), audit::list),
        route(M::GET, "/api/v1/session", Open, session::current),
        route(M::POST, "/api/v1/session", Open, session::login),
        route(M::DELETE, "/api/v1/session", Open, session::logout),
        route(M::GET, "/api/v1/openapi.json", Open, openapi::document),
        route(M::GET, "/healthz", Open, health::healthz),
        route(M::GET, "/readyz", Open, health::readyz),
        route(M::GET, "/metrics", Metrics, health::metrics),
    ]
}

/// A route's handler behind the auth middleware (and, for uploads, the upload limit).
fn guarded(route: Route, state: &AppState) -> MethodRouter<AppState> {
    let handler = if route.uploads {
        route.handler.layer(DefaultBodyLimit::max(state.limits.upload_bytes()))
    } else {
        route.handler
    };
    handler.layer(from_fn_with_state((state.clone(), route.access), authorize))
}

/// The API. Unknown paths and methods answer with problem documents too, and so does every
/// other error answer (axum's own refusals included).
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, guarded(r, &state));
    }
    router
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(map_response(problem_for_every_error))
        .with_state(state)
}

/// What a worker (`sluice worker`) answers: its health and metrics, nothing of the API.
pub const WORKER_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The router of a worker: [`WORKER_PATHS`] only; anything else is a 404 problem document.
pub fn worker_router(state: AppState) -> Router {
    let mut router = Router::new();
    for r in routes().into_iter().filter(|r| WORKER_PATHS.contains(&r.path)) {
        router = router.route(r.path, guarded(r, &state));
    }
    router
        .fallback(not_found_on_a_worker)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(map_response(problem_for_every_error))
        .with_state(state)
}

async fn not_found_on_a_worker(uri: Uri) -> Response {
    let paths = WORKER_PATHS.join(", ");
    let message =
        format!("{} is not served by a worker, which answers only {paths}: ask a server", uri.path());
    ApiError::NotFound(message).into_response()
}

/// An unknown path: a problem document, or for a browser asking for a page outside the API, the
/// UI's page with a 404 status (its script says what is not there).
async fn not_found(uri: Uri, headers: HeaderMap) -> Response {
    crate::ui::missing_page(uri.path(), &headers)
        .unwrap_or_else(|| ApiError::NotFound(format!("no route {}", uri.path())).into_response())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not answer {method}", uri.path()))
}
