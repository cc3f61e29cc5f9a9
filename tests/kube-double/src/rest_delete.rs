//! delete and deletecollection: graceful pod deletion, propagation policies (Foreground marks
//! the owner with `deletionTimestamp` and the `foregroundDeletion` finalizer while the garbage
//! collector removes its dependents; Background removes it at once and the collector follows;
//! Orphan releases the dependents first), finalizers, and namespace termination.

use std::sync::Arc;

use ::http::Response;
use serde_json::{Value, json};

use crate::api::{Target, answer};
use crate::cluster::Cluster;
use crate::http::{Body, Request};
use crate::resources::{RESOURCES, ResourceType};
use crate::rest_read::Filter;
use crate::status::{self, ApiError};
use crate::store::Outcome;
use crate::write;

struct Options {
    policy: String,
    grace: Option<i64>,
    dry_run: bool,
    uid: Option<String>,
    resource_version: Option<String>,
}

fn options(request: &Request) -> Result<Options, ApiError> {
    let body = request.body_value()?;
    let orphan =
        body["orphanDependents"].as_bool().or(request.param("orphanDependents").map(|v| v == "true"));
    let policy = body["propagationPolicy"]
        .as_str()
        .map(str::to_string)
        .or(request.param("propagationPolicy").map(str::to_string))
        .unwrap_or_else(|| if orphan == Some(true) { "Orphan".into() } else { "Background".into() });
    if !matches!(policy.as_str(), "Foreground" | "Background" | "Orphan") {
        return Err(ApiError::bad_request(format!("invalid propagationPolicy {policy:?}")));
    }
    let grace = body["gracePeriodSeconds"]
        .as_i64()
        .or(request.param("gracePeriodSeconds").and_then(|g| g.parse().ok()));
    let dry_run = request.param("dryRun") == Some("All")
        || body["dryRun"].as_array().is_some_and(|d| d.iter().any(|v| v == "All"));
    Ok(Options {
        policy,
        grace,
        dry_run,
        uid: body["preconditions"]["uid"].as_str().map(str::to_string),
        resource_version: body["preconditions"]["resourceVersion"].as_str().map(str::to_string),
    })
}

fn deadline(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds)).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Releases every dependent of `uid` (the Orphan policy).
pub fn orphan_dependents(cluster: &Cluster, namespace: &str, uid: &str) {
    for rt in RESOURCES.iter().filter(|r| r.namespaced) {
        let (items, _) = cluster.store.list(rt, Some(namespace));
        for item in items.iter().filter(|i| owned_by(i, uid)) {
            let name = item["metadata"]["name"].as_str().unwrap_or("");
            cluster.store.update(rt, namespace, name, |o| {
                if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"] != uid);
                }
                Ok::<_, ()>(true)
            });
        }
    }
}

pub fn owned_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"].as_array().is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
}

/// Deletes one object as the API would with `policy` and `grace` (also the garbage
/// collector's and the namespace controller's way to delete). Answers the object as it is left
/// (marked for deletion) or `None` once removed.
pub fn delete_object(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    policy: &str,
    grace: Option<i64>,
) -> Result<Option<Value>, ApiError> {
    let current = cluster.store.get(rt, namespace, name).ok_or_else(|| ApiError::not_found(rt, name))?;
    let uid = current["metadata"]["uid"].as_str().unwrap_or("").to_string();
    if policy == "Orphan" && rt.namespaced {
        orphan_dependents(cluster, namespace, &uid);
    }
    let result = cluster.store.transact(rt, namespace, name, |live| {
        let Some(live) = live else { return Err(ApiError::not_found(rt, name)) };
        let mut object = live.clone();
        let already = object["metadata"]["deletionTimestamp"].is_string();
        let finalizers = object["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
        match rt.kind {
            "Pod" => {
                let grace = grace.unwrap_or_else(|| {
                    object["spec"]["terminationGracePeriodSeconds"].as_i64().unwrap_or(30)
                });
                if grace == 0 && finalizers.is_empty() {
                    return Ok(Outcome::Remove);
                }
                if already {
                    return Ok(Outcome::Keep(object));
                }
                object["metadata"]["deletionTimestamp"] = json!(deadline(grace));
                object["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                Ok(Outcome::Put(object))
            }
            "Namespace" => {
                if already {
                    return Ok(Outcome::Keep(object));
                }
                object["metadata"]["deletionTimestamp"] = json!(write::now());
                object["status"]["phase"] = json!("Terminating");
                Ok(Outcome::Put(object))
            }
            _ => {
                if policy == "Foreground" {
                    let mut finalizers = finalizers;
                    if !finalizers.iter().any(|f| f == "foregroundDeletion") {
                        finalizers.push(json!("foregroundDeletion"));
                    }
                    object["metadata"]["finalizers"] = Value::Array(finalizers);
                    if !already {
                        object["metadata"]["deletionTimestamp"] = json!(write::now());
                        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                    }
                    return Ok(if live == &object { Outcome::Keep(object) } else { Outcome::Put(object) });
                }
                if finalizers.is_empty() {
                    return Ok(Outcome::Remove);
                }
                if already {
                    return Ok(Outcome::Keep(object));
                }
                object["metadata"]["deletionTimestamp"] = json!(write::now());
                object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                Ok(Outcome::Put(object))
            }
        }
    })?;
    Ok(cluster.store.get(rt, namespace, name).map(|_| result))
}

pub fn delete(
    cluster: &Arc<Cluster>,
    request: &Request,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let rt = target.rt;
    let name = target.name.as_deref().unwrap_or("");
    let opts = options(request)?;
    let current =
        cluster.store.get(rt, &target.namespace, name).ok_or_else(|| ApiError::not_found(rt, name))?;
    let uid = current["metadata"]["uid"].as_str().unwrap_or("").to_string();
    if let Some(want) = &opts.uid
        && *want != uid
    {
        return Err(ApiError::apply_conflict(
            format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
            Vec::new(),
        ));
    }
    if let Some(want) = &opts.resource_version
        && Some(want.as_str()) != current["metadata"]["resourceVersion"].as_str()
    {
        return Err(ApiError::stale(rt, name));
    }
    if opts.dry_run {
        return Ok(answer(request, 200, &current));
    }
    match delete_object(cluster, rt, &target.namespace, name, &opts.policy, opts.grace)? {
        Some(left) => Ok(answer(request, 200, &left)),
        None if rt.kind == "Pod" => Ok(answer(request, 200, &current)),
        None => Ok(answer(request, 200, &status::success_status(rt, name, &uid))),
    }
}

pub fn delete_collection(
    cluster: &Arc<Cluster>,
    request: &Request,
    target: &Target,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::of(request, target)?;
    let opts = options(request)?;
    let (items, _) = cluster.store.list(target.rt, filter.namespace.as_deref());
    let mut deleted = Vec::new();
    for item in items.into_iter().filter(|i| filter.matches(i)) {
        let ns = item["metadata"]["namespace"].as_str().unwrap_or("").to_string();
        let name = item["metadata"]["name"].as_str().unwrap_or("").to_string();
        if !opts.dry_run {
            delete_object(cluster, target.rt, &ns, &name, &opts.policy, opts.grace)?;
        }
        deleted.push(crate::rest_read::as_item(target.rt, item));
    }
    let list = json!({
        "kind": format!("{}List", target.rt.kind),
        "apiVersion": target.rt.group_version(),
        "metadata": {"resourceVersion": cluster.store.revision().to_string()},
        "items": deleted,
    });
    Ok(answer(request, 200, &list))
}
