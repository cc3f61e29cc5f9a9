//! create (POST), update (PUT) and patch (apply, merge, JSON and strategic merge), on an object
//! or its `status` and `scale` subresources.

use std::sync::Arc;

use ::http::Response;
use serde_json::{Value, json};

use crate::api::{Target, answer};
use crate::apply::{self, ApplyRequest};
use crate::cluster::Cluster;
use crate::http::{Body, Request};
use crate::patch;
use crate::protobuf;
use crate::rest_read::scale_of;
use crate::status::{ApiError, Cause};
use crate::write::{self, WriteContext};

/// The field manager: `fieldManager`, else the user agent's product (`kubectl`).
fn manager(request: &Request) -> String {
    if let Some(m) = request.param("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let agent = request.header("user-agent");
    let product = agent.split('/').next().unwrap_or("").trim();
    if product.is_empty() { "unknown".to_string() } else { product.chars().take(128).collect() }
}

fn dry_run(request: &Request) -> bool {
    request.param("dryRun") == Some("All")
}

/// A POST or PUT body: JSON or YAML, or protobuf for the kinds `protobuf` describes (CBOR and
/// other protobuf kinds are answered 415).
fn body_of(request: &Request) -> Result<Value, ApiError> {
    let content_type = request.header("content-type");
    if content_type.contains("protobuf") || content_type.contains("cbor") {
        return protobuf::decode_body(&request.body).ok_or_else(|| ApiError {
            message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml".into(),
            ..ApiError::unsupported_media_type(content_type)
        });
    }
    request.body_value()
}

fn check_type(target: &Target, body: &Value) -> Result<(), ApiError> {
    let want = target.rt.group_version();
    if let Some(api_version) = body["apiVersion"].as_str()
        && api_version != want
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({want})"
        )));
    }
    if let Some(kind) = body["kind"].as_str()
        && kind != target.rt.kind
        && !(target.subresource.as_deref() == Some("scale") && kind == "Scale")
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            target.rt.kind
        )));
    }
    Ok(())
}

fn place(target: &Target, body: &mut Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the body of the request must be an object"));
    }
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    if target.rt.namespaced {
        match body["metadata"]["namespace"].as_str() {
            Some(ns) if !ns.is_empty() && ns != target.namespace => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => body["metadata"]["namespace"] = json!(target.namespace),
        }
    }
    if let Some(name) = &target.name {
        match body["metadata"]["name"].as_str() {
            Some(n) if !n.is_empty() && n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => body["metadata"]["name"] = json!(name),
        }
    }
    Ok(())
}

pub fn create(
    cluster: &Arc<Cluster>,
    request: &Request,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let mut body = body_of(request)?;
    check_type(target, &body)?;
    place(target, &mut body)?;
    let ctx = WriteContext {
        manager: manager(request),
        dry_run: dry_run(request),
        create: true,
        ..Default::default()
    };
    let created = write::commit(&cluster.store, target.rt, body, &ctx)?;
    Ok(answer(request, 201, &created))
}

fn current(cluster: &Cluster, target: &Target) -> Result<Value, ApiError> {
    let name = target.name.as_deref().unwrap_or("");
    cluster.store.get(target.rt, &target.namespace, name).ok_or_else(|| ApiError::not_found(target.rt, name))
}

fn resource_version(object: &Value) -> Option<String> {
    object["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty()).map(str::to_string)
}

/// The object with `replicas` from a Scale body.
fn scaled(mut object: Value, scale: &Value) -> Result<Value, ApiError> {
    let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
        ApiError::invalid(
            "Scale",
            "autoscaling",
            object["metadata"]["name"].as_str().unwrap_or(""),
            vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: "spec.replicas".into(),
            }],
        )
    })?;
    object["spec"]["replicas"] = json!(replicas);
    Ok(object)
}

fn respond(request: &Request, target: &Target, code: u16, object: &Value) -> Response<Body> {
    if target.subresource.as_deref() == Some("scale") {
        answer(request, code, &scale_of(object))
    } else {
        answer(request, code, object)
    }
}

pub fn update(
    cluster: &Arc<Cluster>,
    request: &Request,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let mut body = body_of(request)?;
    check_type(target, &body)?;
    let sub = target.subresource.clone().unwrap_or_default();
    let precondition = resource_version(&body);
    if sub == "scale" {
        body = scaled(current(cluster, target)?, &body)?;
    } else {
        place(target, &mut body)?;
    }
    let ctx = WriteContext {
        manager: manager(request),
        dry_run: dry_run(request),
        subresource: if sub == "scale" { String::new() } else { sub },
        precondition: Some(precondition.unwrap_or_else(|| resource_version(&body).unwrap_or_default()))
            .filter(|p| !p.is_empty()),
        ..Default::default()
    };
    if ctx.precondition.is_none() {
        current(cluster, target)?;
    }
    let updated = write::commit(&cluster.store, target.rt, body, &ctx)?;
    Ok(respond(request, target, 200, &updated))
}

enum PatchType {
    Apply,
    Merge,
    Json,
    Strategic,
}

fn patch_type(request: &Request) -> Result<PatchType, ApiError> {
    let content_type = request.header("content-type");
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

pub fn patch(cluster: &Arc<Cluster>, request: &Request, target: &Target) -> Result<Response<Body>, ApiError> {
    let kind = patch_type(request)?;
    let body = request.body_value()?;
    if let PatchType::Apply = kind {
        return server_side_apply(cluster, request, target, body);
    }
    if request.param("force").is_some() {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: may not be specified for non-apply patch".into(),
                field: "force".into(),
            }],
        ));
    }
    let sub = target.subresource.clone().unwrap_or_default();
    // The server retries a patch on a concurrent write, as the real one does, unless the patch
    // itself names the resourceVersion it expects.
    for _ in 0..8 {
        let live = current(cluster, target)?;
        let live_version = resource_version(&live);
        let mut doc = if sub == "scale" { scale_of(&live) } else { live.clone() };
        match kind {
            PatchType::Merge => patch::merge_patch(&mut doc, &body),
            PatchType::Json => patch::json_patch(&mut doc, &body)
                .map_err(|e| ApiError { code: 422, ..ApiError::bad_request(e) })?,
            PatchType::Strategic => {
                patch::strategic_merge(&mut doc, &body, &mut Vec::new()).map_err(ApiError::bad_request)?
            }
            PatchType::Apply => unreachable!("handled above"),
        }
        let wanted = resource_version(&doc);
        let pinned = wanted != live_version;
        let new = if sub == "scale" { scaled(live, &doc)? } else { doc };
        let ctx = WriteContext {
            manager: manager(request),
            dry_run: dry_run(request),
            subresource: if sub == "scale" { String::new() } else { sub.clone() },
            precondition: if pinned { wanted } else { live_version },
            ..Default::default()
        };
        match write::commit(&cluster.store, target.rt, new, &ctx) {
            Err(e) if e.reason == "Conflict" && !pinned => continue,
            Err(e) => return Err(e),
            Ok(patched) => return Ok(respond(request, target, 200, &patched)),
        }
    }
    Err(ApiError::stale(target.rt, target.name.as_deref().unwrap_or("")))
}

fn server_side_apply(
    cluster: &Arc<Cluster>,
    request: &Request,
    target: &Target,
    mut config: Value,
) -> Result<Response<Body>, ApiError> {
    let Some(field_manager) = request.param("fieldManager").filter(|m| !m.is_empty()) else {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: is required for apply patch".into(),
                field: "fieldManager".into(),
            }],
        ));
    };
    check_type(target, &config)?;
    if config["apiVersion"].is_null() || config["kind"].is_null() {
        return Err(ApiError::bad_request("apiVersion and kind must be set in an apply configuration"));
    }
    place(target, &mut config)?;
    let force = request.flag("force");
    for _ in 0..8 {
        let live = cluster.store.get(target.rt, &target.namespace, target.name.as_deref().unwrap_or(""));
        let base = live.clone().unwrap_or_else(|| json!({"metadata": config["metadata"].clone()}));
        let apply_request = ApplyRequest {
            manager: field_manager,
            force,
            api_version: &target.rt.group_version(),
            has_status: target.rt.has_status() && target.subresource.is_none(),
        };
        let mut merged = apply::apply(&base, &config, &apply_request)?;
        merged["metadata"]["namespace"] = config["metadata"]["namespace"].clone();
        let ctx = WriteContext {
            manager: field_manager.to_string(),
            dry_run: dry_run(request),
            applied: true,
            create: live.is_none(),
            subresource: target.subresource.clone().unwrap_or_default(),
            precondition: live.as_ref().and_then(resource_version),
        };
        match write::commit(&cluster.store, target.rt, merged, &ctx) {
            Err(e) if (e.reason == "Conflict" && e.causes.is_empty()) || e.reason == "AlreadyExists" => {
                continue;
            }
            Err(e) => return Err(e),
            Ok(applied) => return Ok(answer(request, if live.is_none() { 201 } else { 200 }, &applied)),
        }
    }
    Err(ApiError::stale(target.rt, target.name.as_deref().unwrap_or("")))
}
