//! Defaulting, as the real API server fills in fields on write (only those kubectl, the
//! controllers or the plugin read).

use serde_json::{Value, json};

use crate::resources::ResourceType;

fn set_default(object: &mut Value, field: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.entry(field.to_string()).or_insert(value);
    }
}

fn pod_spec(spec: &mut Value) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        for container in spec[list].as_array_mut().into_iter().flatten() {
            set_default(container, "terminationMessagePath", json!("/dev/termination-log"));
            set_default(container, "terminationMessagePolicy", json!("File"));
            set_default(container, "resources", json!({}));
            let latest =
                container["image"].as_str().is_some_and(|i| !i.contains(':') || i.ends_with(":latest"));
            set_default(container, "imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
            for port in container["ports"].as_array_mut().into_iter().flatten() {
                set_default(port, "protocol", json!("TCP"));
            }
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                if container[probe].is_object() {
                    let p = &mut container[probe];
                    set_default(p, "timeoutSeconds", json!(1));
                    set_default(p, "periodSeconds", json!(10));
                    set_default(p, "successThreshold", json!(1));
                    set_default(p, "failureThreshold", json!(3));
                    if p["httpGet"].is_object() {
                        set_default(&mut p["httpGet"], "scheme", json!("HTTP"));
                        set_default(&mut p["httpGet"], "path", json!("/"));
                    }
                }
            }
        }
    }
}

fn template(spec: &mut Value) {
    if spec["template"]["spec"].is_object() {
        pod_spec(&mut spec["template"]["spec"]);
    }
}

/// Fills in the defaults of `object` of type `rt`.
pub fn apply(rt: &ResourceType, object: &mut Value) {
    match (rt.group, rt.kind) {
        ("", "Pod") => {
            if object["spec"].is_object() {
                pod_spec(&mut object["spec"]);
            }
        }
        ("", "Service") => {
            let spec = &mut object["spec"];
            if !spec.is_object() {
                return;
            }
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            set_default(spec, "ipFamilies", json!(["IPv4"]));
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            for port in spec["ports"].as_array_mut().into_iter().flatten() {
                set_default(port, "protocol", json!("TCP"));
                let number = port["port"].clone();
                set_default(port, "targetPort", number);
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
            let spec = &mut object["spec"];
            if !spec.is_object() {
                return;
            }
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
            if spec["strategy"]["type"] == "RollingUpdate" {
                let rolling = &mut spec["strategy"];
                set_default(rolling, "rollingUpdate", json!({}));
                set_default(&mut rolling["rollingUpdate"], "maxSurge", json!("25%"));
                set_default(&mut rolling["rollingUpdate"], "maxUnavailable", json!("25%"));
            }
            template(spec);
        }
        ("apps", "ReplicaSet") => {
            set_default(&mut object["spec"], "replicas", json!(1));
            template(&mut object["spec"]);
        }
        ("apps", "StatefulSet") => {
            let spec = &mut object["spec"];
            if !spec.is_object() {
                return;
            }
            set_default(spec, "replicas", json!(1));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            template(spec);
        }
        ("apps", "DaemonSet") => {
            let spec = &mut object["spec"];
            if !spec.is_object() {
                return;
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
            template(spec);
        }
        _ => {}
    }
}
