//! Kinds and the URLs of their resources: the built-in kinds from a table, any other kind (a
//! CRD's) from the server's discovery documents, as kubectl finds them.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::Value;
use sluice_plugin::TaskError;

use crate::api::{Api, CallError, failure};

/// One kind's REST resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    /// The resource's plural name in URLs: `deployments`.
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
}

impl Resource {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The collection's path, in `namespace` for a namespaced kind.
    pub fn collection(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}/namespaces/{ns}/{}", self.prefix(), self.plural),
            _ => format!("{}/{}", self.prefix(), self.plural),
        }
    }

    /// One object's path.
    pub fn item(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection(namespace))
    }
}

/// (apiVersion, kind, plural, namespaced, short names) of the kinds every cluster serves, and
/// the Gateway API's routes.
const BUILTIN: &[(&str, &str, &str, bool, &[&str])] = &[
    ("v1", "Namespace", "namespaces", false, &["ns"]),
    ("v1", "Pod", "pods", true, &["po"]),
    ("v1", "Service", "services", true, &["svc"]),
    ("v1", "ConfigMap", "configmaps", true, &["cm"]),
    ("v1", "Secret", "secrets", true, &[]),
    ("v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"]),
    ("v1", "PersistentVolume", "persistentvolumes", false, &["pv"]),
    ("v1", "Endpoints", "endpoints", true, &["ep"]),
    ("v1", "ResourceQuota", "resourcequotas", true, &["quota"]),
    ("v1", "LimitRange", "limitranges", true, &["limits"]),
    ("apps/v1", "Deployment", "deployments", true, &["deploy"]),
    ("apps/v1", "ReplicaSet", "replicasets", true, &["rs"]),
    ("apps/v1", "StatefulSet", "statefulsets", true, &["sts"]),
    ("apps/v1", "DaemonSet", "daemonsets", true, &["ds"]),
    ("apps/v1", "ControllerRevision", "controllerrevisions", true, &[]),
    ("batch/v1", "Job", "jobs", true, &[]),
    ("batch/v1", "CronJob", "cronjobs", true, &["cj"]),
    ("networking.k8s.io/v1", "Ingress", "ingresses", true, &["ing"]),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", true, &["netpol"]),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"]),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"]),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", true, &[]),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true, &[]),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false, &[]),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false, &[]),
    ("storage.k8s.io/v1", "StorageClass", "storageclasses", false, &["sc"]),
    (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
    ),
    ("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", true, &[]),
    ("gateway.networking.k8s.io/v1", "Gateway", "gateways", true, &[]),
];

fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((group, version)) => (group.to_string(), version.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

fn builtin_row(row: &(&str, &str, &str, bool, &[&str])) -> Resource {
    let (group, version) = split_api_version(row.0);
    Resource { group, version, plural: row.2.to_string(), kind: row.1.to_string(), namespaced: row.3 }
}

/// The built-in kind a user names as `Deployment`, `deployment`, `deployments` or `deploy`.
pub fn builtin_by_name(name: &str) -> Option<Resource> {
    let lower = name.to_ascii_lowercase();
    BUILTIN
        .iter()
        .find(|row| row.1.eq_ignore_ascii_case(&lower) || row.2 == lower || row.4.contains(&lower.as_str()))
        .map(builtin_row)
}

/// Finds resources, asking the server about kinds it does not know; one per task run.
#[derive(Default)]
pub struct Resources {
    discovered: RefCell<BTreeMap<String, Value>>,
}

impl Resources {
    /// The resource of `kind` in `api_version`.
    pub fn resolve(&self, api: &Api, api_version: &str, kind: &str) -> Result<Resource, TaskError> {
        if let Some(row) = BUILTIN.iter().find(|row| row.0 == api_version && row.1 == kind) {
            return Ok(builtin_row(row));
        }
        let (group, version) = split_api_version(api_version);
        let document = self.discovery(api, api_version)?;
        let resources = document["resources"].as_array().cloned().unwrap_or_default();
        let found =
            resources.iter().find(|r| r["kind"] == kind && !r["name"].as_str().unwrap_or("/").contains('/'));
        match found {
            Some(r) => Ok(Resource {
                group,
                version,
                plural: r["name"].as_str().unwrap_or_default().to_string(),
                kind: kind.to_string(),
                namespaced: r["namespaced"].as_bool().unwrap_or(true),
            }),
            None => {
                let kinds: Vec<&str> = resources
                    .iter()
                    .filter(|r| !r["name"].as_str().unwrap_or("/").contains('/'))
                    .filter_map(|r| r["kind"].as_str())
                    .collect();
                Err(TaskError::failed(format!(
                    "the cluster serves {api_version} but no kind {kind} in it (it has: {})",
                    if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
                )))
            }
        }
    }

    fn discovery(&self, api: &Api, api_version: &str) -> Result<Value, TaskError> {
        if let Some(document) = self.discovered.borrow().get(api_version) {
            return Ok(document.clone());
        }
        let path = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let document = match api.get(&path) {
            Ok(Some(document)) => document,
            Ok(None) => {
                return Err(TaskError::failed(format!(
                    "the cluster does not serve the API {api_version} (no such group/version: is its CRD or add-on installed?)"
                )));
            }
            Err(err @ CallError::Status(_)) | Err(err @ CallError::Task(_)) => {
                return Err(failure(&format!("discovery of {api_version}"), api, err));
            }
        };
        self.discovered.borrow_mut().insert(api_version.to_string(), document.clone());
        Ok(document)
    }
}

/// Where a kind goes in an apply: what others depend on first (namespaces, CRDs, config,
/// accounts and policies), then services, then workloads, then what routes to them.
pub fn apply_rank(kind: &str) -> u8 {
    const ORDER: &[&str] = &[
        "Namespace",
        "CustomResourceDefinition",
        "ResourceQuota",
        "LimitRange",
        "PodSecurityPolicy",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicaSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "Job",
        "CronJob",
        "Ingress",
        "Gateway",
        "HTTPRoute",
    ];
    ORDER.iter().position(|k| *k == kind).map_or(u8::MAX, |i| i as u8)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_core_and_group_kinds() {
        let deploy = builtin_by_name("deploy").unwrap();
        assert_eq!(deploy.item(Some("shop"), "web"), "/apis/apps/v1/namespaces/shop/deployments/web");
        assert_eq!(deploy.api_version(), "apps/v1");
        let ns = builtin_by_name("Namespace").unwrap();
        assert_eq!(ns.item(Some("ignored"), "shop"), "/api/v1/namespaces/shop");
        assert_eq!(builtin_by_name("pods").unwrap().collection(Some("a")), "/api/v1/namespaces/a/pods");
        assert!(builtin_by_name("frobnicator").is_none());
    }

    #[test]
    fn namespaces_and_config_go_before_workloads() {
        let mut kinds = ["HTTPRoute", "Deployment", "Widget", "ConfigMap", "Service", "Namespace"];
        kinds.sort_by_key(|k| apply_rank(k));
        assert_eq!(kinds, ["Namespace", "ConfigMap", "Service", "Deployment", "HTTPRoute", "Widget"]);
    }
}
