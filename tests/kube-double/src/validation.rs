//! Validation: the 422 Invalid answers for objects missing what the real API server requires
//! (names, selectors, templates whose labels the selector matches, containers with images).

use serde_json::Value;

use crate::resources::ResourceType;
use crate::selectors::{LabelSelector, labels_of};
use crate::status::{ApiError, Cause};

fn required(field: &str) -> Cause {
    Cause { reason: "FieldValueRequired".into(), message: "Required value".into(), field: field.into() }
}

fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {value}: {detail}"),
        field: field.into(),
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Go's `%#v` of a `map[string]string`, as the real messages print label maps.
fn go_map(labels: &std::collections::BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

fn containers(spec: &Value, prefix: &str, causes: &mut Vec<Cause>) {
    match spec["containers"].as_array() {
        Some(list) if !list.is_empty() => {
            for (i, container) in list.iter().enumerate() {
                if container["name"].as_str().is_none_or(str::is_empty) {
                    causes.push(required(&format!("{prefix}.containers[{i}].name")));
                }
                if container["image"].as_str().is_none_or(str::is_empty) {
                    causes.push(required(&format!("{prefix}.containers[{i}].image")));
                }
            }
        }
        _ => causes.push(required(&format!("{prefix}.containers"))),
    }
}

fn workload(object: &Value, causes: &mut Vec<Cause>, needs_selector: bool) {
    let spec = &object["spec"];
    let selector = &spec["selector"];
    let has_selector = selector["matchLabels"].as_object().is_some_and(|m| !m.is_empty())
        || selector["matchExpressions"].as_array().is_some_and(|m| !m.is_empty());
    if needs_selector && !has_selector {
        causes.push(required("spec.selector"));
    }
    if !spec["template"].is_object() {
        causes.push(required("spec.template"));
        return;
    }
    let labels = labels_of(&spec["template"]);
    if has_selector {
        match LabelSelector::from_object(selector) {
            Ok(parsed) if !parsed.matches_labels(&labels) => causes.push(invalid(
                "spec.template.metadata.labels",
                &go_map(&labels),
                "`selector` does not match template `labels`",
            )),
            Ok(_) => {}
            Err(e) => causes.push(invalid("spec.selector", &format!("{selector}"), &e)),
        }
    }
    containers(&spec["template"]["spec"], "spec.template.spec", causes);
    if let Some(replicas) = spec["replicas"].as_i64().filter(|r| *r < 0) {
        causes.push(invalid("spec.replicas", &replicas.to_string(), "must be greater than or equal to 0"));
    }
}

/// Validates a create (`old` is `None`) or an update of `object`.
pub fn validate(rt: &ResourceType, object: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let mut causes = Vec::new();
    if name.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: name or generateName is required".into(),
            field: "metadata.name".into(),
        });
    } else if !is_dns_subdomain(name) {
        causes.push(invalid(
            "metadata.name",
            &format!("{name:?}"),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ));
    }
    match (rt.group, rt.kind) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            workload(object, &mut causes, true);
            if let Some(old) = old
                && rt.kind != "ReplicaSet"
                && old["spec"]["selector"] != object["spec"]["selector"]
            {
                let labels = labels_of(
                    &serde_json::json!({"metadata": {"labels": object["spec"]["selector"]["matchLabels"]}}),
                );
                let shown = format!(
                    "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}",
                    go_map(&labels)
                );
                causes.push(invalid("spec.selector", &shown, "field is immutable"));
            }
        }
        ("", "Pod") => containers(&object["spec"], "spec", &mut causes),
        ("", "Service") => {
            let spec = &object["spec"];
            let external = spec["type"] == "ExternalName";
            if !external && spec["ports"].as_array().is_none_or(Vec::is_empty) && spec["clusterIP"] != "None"
            {
                causes.push(required("spec.ports"));
            }
            node_ports(spec, &mut causes);
        }
        _ => {}
    }
    if causes.is_empty() { Ok(()) } else { Err(ApiError::invalid(rt.kind, rt.group, name, causes)) }
}

/// The range a real API server allocates node ports from (its default
/// `--service-node-port-range`).
pub const NODE_PORTS: std::ops::RangeInclusive<u64> = 30000..=32767;

/// `nodePort`s: only on NodePort and LoadBalancer Services, and in [`NODE_PORTS`].
fn node_ports(spec: &Value, causes: &mut Vec<Cause>) {
    let exposed = matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"));
    for (i, port) in spec["ports"].as_array().into_iter().flatten().enumerate() {
        let Some(node_port) = port["nodePort"].as_u64() else { continue };
        let field = format!("spec.ports[{i}].nodePort");
        if !exposed {
            causes.push(Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: may not be used when `type` is 'ClusterIP'".into(),
                field,
            });
        } else if !NODE_PORTS.contains(&node_port) {
            let detail = format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                NODE_PORTS.start(),
                NODE_PORTS.end()
            );
            causes.push(invalid(&field, &node_port.to_string(), &detail));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;
    use serde_json::json;

    fn deployments() -> &'static ResourceType {
        resources::by_plural("apps", "v1", "deployments").expect("served")
    }

    #[test]
    fn a_deployment_without_selector_or_template() {
        let err = validate(deployments(), &json!({"metadata": {"name": "web"}, "spec": {}}), None)
            .expect_err("invalid");
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            r#"Deployment.apps "web" is invalid: [spec.selector: Required value, spec.template: Required value]"#
        );
    }

    #[test]
    fn a_selector_that_does_not_match_the_template() {
        let object = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let err = validate(deployments(), &object, None).expect_err("invalid");
        assert_eq!(
            err.message,
            "Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"db\"}: `selector` does not match template `labels`"
        );
        assert_eq!(err.causes[0].field, "spec.template.metadata.labels");
    }
}
