//! Defaulting, as the real API server fills in fields on write (only those kubectl, the
//! controllers or the plugin read).

use serde_json::{Value, json};

use crate::resources::ResourceType;

fn set_default(object: &mut Value, field: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.entry(field.to_string()).or_insert(value);
    }
}

/// The items of the list at `field`, without creating the field.
fn items<'a>(object: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    object.get_mut(field).and_then(Value::as_array_mut).into_iter().flatten()
}

fn pod_spec(spec: &mut Value) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        for container in items(spec, list) {
            set_default(container, "terminationMessagePath", json!("/dev/termination-log"));
            set_default(container, "terminationMessagePolicy", json!("File"));
            set_default(container, "resources", json!({}));
            let latest =
                container["image"].as_str().is_some_and(|i| !i.contains(':') || i.ends_with(":latest"));
            set_default(container, "imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
            for port in items(container, "ports") {
                set_default(port, "protocol", json!("TCP"));
            }
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                if let Some(p) = container.get_mut(probe).filter(|p| p.is_object()) {
                    set_default(p, "timeoutSeconds", json!(1));
                    set_default(p, "periodSeconds", json!(10));
                    set_default(p, "successThreshold", json!(1));
                    set_default(p, "failureThreshold", json!(3));
                    if let Some(http) = p.get_mut("httpGet") {
                        set_default(http, "scheme", json!("HTTP"));
                        set_default(http, "path", json!("/"));
                    }
                }
            }
        }
    }
}

fn template(spec: &mut Value) {
    if let Some(pod) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        pod_spec(pod);
    }
}

/// `updateStrategy` of a StatefulSet or DaemonSet: RollingUpdate unless another type is given,
/// with `rolling` as its defaults.
fn update_strategy(spec: &mut Value, rolling: Value) {
    set_default(spec, "updateStrategy", json!({}));
    let Some(strategy) = spec.get_mut("updateStrategy") else { return };
    set_default(strategy, "type", json!("RollingUpdate"));
    if strategy["type"] == "RollingUpdate" {
        set_default(strategy, "rollingUpdate", json!({}));
        if let (Some(target), Value::Object(defaults)) = (strategy.get_mut("rollingUpdate"), rolling) {
            for (key, value) in defaults {
                set_default(target, &key, value);
            }
        }
    }
}

/// Fills in the defaults of `object` of type `rt`.
pub fn apply(rt: &ResourceType, object: &mut Value) {
    match (rt.group, rt.kind) {
        ("", "Pod") => {
            if let Some(spec) = object.get_mut("spec") {
                pod_spec(spec);
            }
        }
        ("", "Service") => {
            set_default(object, "status", json!({"loadBalancer": {}}));
            let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else { return };
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            set_default(spec, "ipFamilies", json!(["IPv4"]));
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            for port in items(spec, "ports") {
                set_default(port, "protocol", json!("TCP"));
                let number = port["port"].clone();
                set_default(port, "targetPort", number);
            }
        }
        ("", "Secret") => {
            if object["type"].as_str().is_none_or(str::is_empty) {
                object["type"] = json!("Opaque");
            }
            // stringData is write-only: merged into data, base64-encoded.
            if let Some(Value::Object(strings)) = object.as_object_mut().and_then(|m| m.remove("stringData"))
            {
                use base64::Engine as _;
                set_default(object, "data", json!({}));
                if let Some(data) = object.get_mut("data").and_then(Value::as_object_mut) {
                    for (key, value) in strings {
                        let encoded =
                            base64::engine::general_purpose::STANDARD.encode(value.as_str().unwrap_or(""));
                        data.insert(key, json!(encoded));
                    }
                }
            }
        }
        ("", "Namespace") => {
            set_default(object, "spec", json!({"finalizers": ["kubernetes"]}));
            set_default(object, "status", json!({"phase": "Active"}));
            let name = object["metadata"]["name"].clone();
            if let Some(meta) = object["metadata"].as_object_mut() {
                let labels = meta.entry("labels").or_insert(json!({}));
                set_default(labels, "kubernetes.io/metadata.name", name);
            }
        }
        ("apps", "Deployment") => {
            let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else { return };
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(spec, "strategy", json!({}));
            if let Some(strategy) = spec.get_mut("strategy") {
                set_default(strategy, "type", json!("RollingUpdate"));
            }
            if spec["strategy"]["type"] == "RollingUpdate"
                && let Some(strategy) = spec.get_mut("strategy")
            {
                set_default(strategy, "rollingUpdate", json!({}));
                if let Some(rolling) = strategy.get_mut("rollingUpdate") {
                    set_default(rolling, "maxSurge", json!("25%"));
                    set_default(rolling, "maxUnavailable", json!("25%"));
                }
            }
            template(spec);
        }
        ("apps", "ReplicaSet") => {
            let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else { return };
            set_default(spec, "replicas", json!(1));
            template(spec);
        }
        ("apps", "StatefulSet") => {
            let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else { return };
            set_default(spec, "replicas", json!(1));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(spec, "revisionHistoryLimit", json!(10));
            update_strategy(spec, json!({"partition": 0}));
            template(spec);
        }
        ("apps", "DaemonSet") => {
            let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else { return };
            set_default(spec, "revisionHistoryLimit", json!(10));
            update_strategy(spec, json!({"maxUnavailable": 1, "maxSurge": 0}));
            template(spec);
        }
        _ => {}
    }
}
