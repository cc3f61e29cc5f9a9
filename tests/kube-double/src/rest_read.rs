//! get and list (label and field selectors), and the `/scale` view of a workload.

use std::sync::Arc;

use ::http::Response;
use serde_json::{Value, json};

use crate::api::{Target, answer};
use crate::cluster::Cluster;
use crate::http::{Body, Request};
use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::table;

/// The selectors of a list or watch request.
pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub namespace: Option<String>,
}

impl Filter {
    pub fn of(request: &Request, target: &Target) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(request.param("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(request.param("fieldSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let namespace =
            (target.rt.namespaced && !target.namespace.is_empty()).then(|| target.namespace.clone());
        Ok(Filter { labels, fields, namespace })
    }

    pub fn matches(&self, object: &Value) -> bool {
        let in_namespace = self
            .namespace
            .as_ref()
            .is_none_or(|ns| object["metadata"]["namespace"].as_str() == Some(ns.as_str()));
        in_namespace && self.labels.matches(object) && self.fields.matches(object)
    }
}

fn not_found(target: &Target) -> ApiError {
    ApiError::not_found(target.rt, target.name.as_deref().unwrap_or(""))
}

/// The object as a list item: built-in kinds leave out `kind` and `apiVersion` there.
pub fn as_item(rt: &ResourceType, mut object: Value) -> Value {
    if rt.group != "gateway.networking.k8s.io"
        && let Some(map) = object.as_object_mut()
    {
        map.remove("kind");
        map.remove("apiVersion");
    }
    object
}

/// The `autoscaling/v1` Scale of a workload.
pub fn scale_of(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector =
        LabelSelector::from_object(&object["spec"]["selector"]).map(|s| s.to_query()).unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]
        },
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector}
    })
}

pub fn get(cluster: &Arc<Cluster>, request: &Request, target: &Target) -> Result<Response<Body>, ApiError> {
    let name = target.name.as_deref().unwrap_or("");
    let object = cluster.store.get(target.rt, &target.namespace, name).ok_or_else(|| not_found(target))?;
    if target.subresource.as_deref() == Some("scale") {
        return Ok(answer(request, 200, &scale_of(&object)));
    }
    if table::wanted(request.header("accept")) {
        let version = object["metadata"]["resourceVersion"].clone();
        return Ok(answer(request, 200, &table::of(target.rt, std::slice::from_ref(&object), &version)));
    }
    Ok(answer(request, 200, &object))
}

pub fn list(cluster: &Arc<Cluster>, request: &Request, target: &Target) -> Result<Response<Body>, ApiError> {
    let filter = Filter::of(request, target)?;
    let (items, revision) = cluster.store.list(target.rt, filter.namespace.as_deref());
    let items: Vec<Value> = items.into_iter().filter(|o| filter.matches(o)).collect();
    if table::wanted(request.header("accept")) {
        return Ok(answer(request, 200, &table::of(target.rt, &items, &json!(revision.to_string()))));
    }
    let items: Vec<Value> = items.into_iter().map(|o| as_item(target.rt, o)).collect();
    let list = json!({
        "kind": format!("{}List", target.rt.kind),
        "apiVersion": target.rt.group_version(),
        "metadata": {"resourceVersion": revision.to_string()},
        "items": items,
    });
    Ok(answer(request, 200, &list))
}
