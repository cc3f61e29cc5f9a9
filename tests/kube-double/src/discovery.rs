//! Discovery (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`) and the
//! OpenAPI v3 documents kubectl reads to learn that the server validates fields itself
//! (`fieldValidation` on each kind's PATCH). Plain (not aggregated) discovery: kubectl asks
//! for the aggregated form first and reads the plain form when that is what it gets.

use serde_json::{Value, json};

use crate::resources::{GROUPS, RESOURCES, ResourceType};

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-kube-double",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn group(name: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
    json!({"name": name, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn groups() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": GROUPS.iter().map(|g| group(g)).collect::<Vec<_>>()})
}

pub fn group_doc(name: &str) -> Value {
    let mut doc = group(name);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    doc
}

fn categories(rt: &ResourceType) -> Vec<&'static str> {
    match rt.kind {
        "Pod" | "Service" | "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => vec!["all"],
        _ => vec![],
    }
}

/// The `APIResourceList` of `group`/v1.
pub fn resource_list(group: &str) -> Value {
    let mut resources = Vec::new();
    for rt in RESOURCES.iter().filter(|r| r.group == group) {
        let mut entry = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs(),
        });
        if !rt.short_names.is_empty() {
            entry["shortNames"] = json!(rt.short_names);
        }
        let categories = categories(rt);
        if !categories.is_empty() {
            entry["categories"] = json!(categories);
        }
        resources.push(entry);
        for sub in rt.subresources {
            let entry = match *sub {
                "status" => {
                    json!({"name": format!("{}/status", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                    "kind": rt.kind, "verbs": ["get", "patch", "update"]})
                }
                "scale" => {
                    json!({"name": format!("{}/scale", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                    "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]})
                }
                _ => {
                    json!({"name": format!("{}/{sub}", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                    "kind": rt.kind, "verbs": ["get"]})
                }
            };
            resources.push(entry);
        }
    }
    let gv = if group.is_empty() { "v1".to_string() } else { format!("{group}/v1") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// The OpenAPI v3 discovery root: one document per group version.
pub fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert("api/v1".into(), json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=KUBEDOUBLE"}));
    for g in GROUPS {
        paths.insert(
            format!("apis/{g}/v1"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/v1?hash=KUBEDOUBLE")}),
        );
    }
    json!({"paths": paths})
}

/// The OpenAPI v3 document of `group`/v1: each kind's item path with its PATCH operation, which
/// names the kind and the query parameters the server understands.
pub fn openapi_doc(group: &str) -> Value {
    let params: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
        .iter()
        .map(|name| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
        .collect();
    let mut paths = serde_json::Map::new();
    for rt in RESOURCES.iter().filter(|r| r.group == group) {
        let collection = rt.collection_path(Some("{namespace}"));
        let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        let op = |action: &str| {
            json!({
                "operationId": format!("{action}{}", rt.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params,
                "responses": {"200": {"description": "OK"}}
            })
        };
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete"),
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]}),
        );
        paths.insert(collection, json!({"get": op("list"), "post": op("post")}));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}}
    })
}

/// The OpenAPI v2 protobuf media type the server answers with (kubectl asks for it spelt
/// with `@v1.0`, which Go's media type parser would refuse in a response).
pub const OPENAPI_V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// A minimal OpenAPI v2 document: `swagger: "2.0"` and no definitions. kubectl reads it only to
/// validate a kind the v3 documents do not describe, and skips validation of kinds it does not
/// find, as against a real server (which then says "no matches for kind").
pub fn openapi_v2(protobuf: bool) -> (&'static str, Vec<u8>) {
    if protobuf {
        // gnostic's Document, field 1 (swagger), a length-delimited string.
        let mut doc = vec![0x0a, 3];
        doc.extend_from_slice(b"2.0");
        (OPENAPI_V2_PROTOBUF, doc)
    } else {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": {}, "definitions": {}});
        ("application/json", doc.to_string().into_bytes())
    }
}
