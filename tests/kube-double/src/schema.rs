//! What the double knows of the types' schemas: which lists merge by key (strategic merge patch
//! and server-side apply), which maps are granular, which fields are atomic. Only as far as the
//! types served and kubectl's commands need; anything else is atomic, as an unknown field is in a
//! CRD without list-type markers.

/// How a list at a path merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Items are identified by these key fields (`x-kubernetes-list-type: map`).
    Map(&'static [&'static str]),
    /// Scalar items are identified by their value (`x-kubernetes-list-type: set`).
    Set,
    /// The list is one value.
    Atomic,
}

/// `path` holds the field names from the object's root to the list (list items add nothing).
pub fn list_type(path: &[String]) -> ListType {
    let last = path.last().map(String::as_str).unwrap_or("");
    let parent = path.len().checked_sub(2).and_then(|i| path.get(i)).map(String::as_str).unwrap_or("");
    match last {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            ListType::Map(&["name"])
        }
        "volumeMounts" => ListType::Map(&["mountPath"]),
        "conditions" => ListType::Map(&["type"]),
        "ownerReferences" => ListType::Map(&["uid"]),
        "hostAliases" => ListType::Map(&["ip"]),
        "finalizers" => ListType::Set,
        // a Service's ports (spec.ports) and a container's (containers[].ports)
        "ports" if parent == "spec" && path.len() == 2 => ListType::Map(&["port", "protocol"]),
        "ports" if matches!(parent, "containers" | "initContainers") => {
            ListType::Map(&["containerPort", "protocol"])
        }
        _ => ListType::Atomic,
    }
}

/// The strategic-merge-patch merge key of a list, when it merges by key.
pub fn merge_key(path: &[String]) -> Option<&'static str> {
    match list_type(path) {
        ListType::Map(keys) => keys.first().copied(),
        _ => None,
    }
}

/// Whether the object at `path` is a map with arbitrary keys, owned key by key and also as a
/// whole (`.` in fieldsV1).
pub fn is_granular_map(path: &[String]) -> bool {
    let last = path.last().map(String::as_str).unwrap_or("");
    matches!(
        last,
        "labels" | "annotations" | "data" | "stringData" | "binaryData" | "nodeSelector" | "matchLabels"
    )
}

/// Whether the field at `path` is one value though it is an object (`x-kubernetes-map-type:
/// atomic`): `spec.selector`, of workloads and Services alike.
pub fn is_atomic_object(path: &[String]) -> bool {
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    matches!(parts.as_slice(), ["spec", "selector"])
}

/// A defaulted key field a list item may omit (`protocol: TCP`).
pub fn key_default(key: &str) -> Option<&'static str> {
    (key == "protocol").then_some("TCP")
}
