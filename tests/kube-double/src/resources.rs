//! The resource types the double serves: one table that discovery, OpenAPI, routing and the
//! store all read, so a kind cannot be half-served.

/// One REST resource (`deployments` in `apps/v1`).
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Subresources served: `status`, `scale`, `log`.
    pub subresources: &'static [&'static str],
    /// Whether `metadata.generation` counts spec changes.
    pub generation: bool,
}

const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps` (or `pods`), as error messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The store's key for the resource: `apps/deployments`, `/pods`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        VERBS
    }

    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }

    /// The path of the collection, in a namespace for namespaced resources.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let prefix = if self.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{prefix}/namespaces/{ns}/{}", self.plural),
            _ => format!("{prefix}/{}", self.plural),
        }
    }
}

macro_rules! rt {
    ($group:expr, $kind:expr, $plural:expr, $singular:expr, $ns:expr, $short:expr, $sub:expr, $gen:expr) => {
        ResourceType {
            group: $group,
            version: "v1",
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            short_names: $short,
            subresources: $sub,
            generation: $gen,
        }
    };
}

/// Every resource type served.
pub static RESOURCES: &[ResourceType] = &[
    rt!("", "Namespace", "namespaces", "namespace", false, &["ns"], &["status"], false),
    rt!("", "Node", "nodes", "node", false, &["no"], &["status"], false),
    rt!("", "Pod", "pods", "pod", true, &["po"], &["status", "log"], false),
    rt!("", "Service", "services", "service", true, &["svc"], &["status"], false),
    rt!("", "Endpoints", "endpoints", "endpoints", true, &["ep"], &[], false),
    rt!("", "ConfigMap", "configmaps", "configmap", true, &["cm"], &[], false),
    // Served so `kubectl get events` and `describe` find the type; nothing records events.
    rt!("", "Event", "events", "event", true, &["ev"], &[], false),
    rt!("", "Secret", "secrets", "secret", true, &[], &[], false),
    rt!("apps", "Deployment", "deployments", "deployment", true, &["deploy"], &["status", "scale"], true),
    rt!("apps", "ReplicaSet", "replicasets", "replicaset", true, &["rs"], &["status", "scale"], true),
    rt!("apps", "StatefulSet", "statefulsets", "statefulset", true, &["sts"], &["status", "scale"], true),
    rt!("apps", "DaemonSet", "daemonsets", "daemonset", true, &["ds"], &["status"], true),
    rt!("apps", "ControllerRevision", "controllerrevisions", "controllerrevision", true, &[], &[], false),
    rt!("gateway.networking.k8s.io", "HTTPRoute", "httproutes", "httproute", true, &[], &["status"], true),
    // Stored, not served as new types: kubectl looks a kind it does not know up among them.
    rt!(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        false,
        &["crd", "crds"],
        &["status"],
        true
    ),
];

/// The API groups served besides the core group, in discovery order.
pub static GROUPS: &[&str] = &["apps", "gateway.networking.k8s.io", "apiextensions.k8s.io"];

/// Whether `/api/v1` or `/apis/<group>/<version>` is served.
pub fn serves_group_version(group: &str, version: &str) -> bool {
    version == "v1" && RESOURCES.iter().any(|r| r.group == group)
}

/// The resource `plural` in `group/version`.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// A resource named by kind, plural, singular or short name in `group_version`.
pub fn lookup(group_version: &str, name: &str) -> Option<&'static ResourceType> {
    let lower = name.to_ascii_lowercase();
    RESOURCES.iter().find(|r| {
        r.group_version() == group_version
            && (r.kind == name
                || r.plural == lower
                || r.singular == lower
                || r.short_names.contains(&lower.as_str()))
    })
}
