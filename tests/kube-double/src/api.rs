//! Routing: a request path to discovery, OpenAPI or a resource (namespace, name, subresource),
//! and the verb to its handler.

use std::sync::Arc;

use ::http::{Method, Response};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::discovery;
use crate::http::{self, Body, Request};
use crate::resources::{self, ResourceType};
use crate::status::ApiError;
use crate::{logs, rest_delete, rest_read, rest_write, watch};

/// A request on a resource.
pub struct Target {
    pub rt: &'static ResourceType,
    pub namespace: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

enum Route {
    Doc(Value),
    /// `/healthz`, `/livez`, `/readyz`: `ok`.
    Health,
    Resource(Target),
}

fn route(path: &str, cluster: &Cluster) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Ok(Route::Doc(discovery::version())),
        ["healthz" | "livez" | "readyz"] => return Ok(Route::Health),
        ["api"] => return Ok(Route::Doc(discovery::core_versions(&cluster.address))),
        ["apis"] => return Ok(Route::Doc(discovery::groups())),
        ["openapi", "v3"] => return Ok(Route::Doc(discovery::openapi_root())),
        ["openapi", "v3", "api", "v1"] => return Ok(Route::Doc(discovery::openapi_doc(""))),
        ["openapi", "v3", "apis", group, "v1"] if resources::serves_group_version(group, "v1") => {
            return Ok(Route::Doc(discovery::openapi_doc(group)));
        }
        ["apis", group] if resources::serves_group_version(group, "v1") => {
            return Ok(Route::Doc(discovery::group_doc(group)));
        }
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::path_not_found()),
    };
    if !resources::serves_group_version(group, version) {
        return Err(ApiError::path_not_found());
    }
    if rest.is_empty() {
        return Ok(Route::Doc(discovery::resource_list(group)));
    }
    let (namespace, plural, name, subresource) = match rest {
        ["namespaces", ns, sub @ ("status" | "finalize")] if group.is_empty() => {
            ("", "namespaces", Some(*ns), Some(*sub))
        }
        ["namespaces", ns, plural, tail @ ..] => (*ns, *plural, tail.first().copied(), tail.get(1).copied()),
        [plural, tail @ ..] => ("", *plural, tail.first().copied(), tail.get(1).copied()),
        [] => return Err(ApiError::path_not_found()),
    };
    let rt = resources::by_plural(group, version, plural).ok_or_else(ApiError::path_not_found)?;
    if let Some(sub) = subresource
        && !rt.subresources.contains(&sub)
        && sub != "finalize"
    {
        return Err(ApiError::path_not_found());
    }
    Ok(Route::Resource(Target {
        rt,
        namespace: namespace.to_string(),
        name: name.map(str::to_string),
        subresource: subresource.map(str::to_string),
    }))
}

/// Answers one authenticated request.
pub async fn handle(cluster: &Arc<Cluster>, request: Request) -> Response<Body> {
    if request.path == "/openapi/v2" && request.method == Method::GET {
        let (content_type, body) = discovery::openapi_v2(request.header("accept").contains("protobuf"));
        return http::bytes(content_type, body);
    }
    let target = match route(&request.path, cluster) {
        Ok(Route::Doc(doc)) if request.method == Method::GET => return http::json(200, &doc),
        Ok(Route::Doc(_)) => return http::error(&ApiError::method_not_allowed()),
        Ok(Route::Health) => return http::text(200, "ok".into()),
        Ok(Route::Resource(target)) => target,
        Err(e) => return http::error(&e),
    };
    let result = dispatch(cluster, &request, &target).await;
    match result {
        Ok(response) => response,
        Err(e) => http::error(&e),
    }
}

async fn dispatch(
    cluster: &Arc<Cluster>,
    request: &Request,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let sub = target.subresource.as_deref();
    match (&request.method, target.name.is_some(), sub) {
        (&Method::GET, false, None) if request.flag("watch") => watch::serve(cluster, request, target),
        (&Method::GET, false, None) => rest_read::list(cluster, request, target),
        (&Method::GET, true, Some("log")) => logs::serve(cluster, request, target).await,
        (&Method::GET, true, _) => rest_read::get(cluster, request, target),
        (&Method::POST, false, None) => rest_write::create(cluster, request, target),
        (&Method::PUT, true, _) => rest_write::update(cluster, request, target),
        (&Method::PATCH, true, _) => rest_write::patch(cluster, request, target),
        (&Method::DELETE, true, None) => rest_delete::delete(cluster, request, target),
        (&Method::DELETE, false, None) => rest_delete::delete_collection(cluster, request, target),
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Answers `object` in the form the client accepts (a full object, or its metadata only).
pub fn answer(request: &Request, code: u16, object: &Value) -> Response<Body> {
    let accept = request.header("accept");
    if accept.contains("as=PartialObjectMetadata") && object["kind"] != "Status" {
        let list = object.get("items").is_some();
        let partial = if list {
            let items: Vec<Value> = object["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": i["metadata"]}))
                .collect();
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"], "items": items})
        } else {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
        };
        return http::json(code, &partial);
    }
    http::json(code, object)
}
