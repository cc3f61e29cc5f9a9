//! What a `docker` grant allows: the Engine API, minus what would reach the host itself.
//!
//! Containers that the task creates are confined like any container; what a grant must not give
//! is the host: bind mounts of host paths, privileged mode, the host's namespaces, devices, and
//! the daemon's own administration (plugins, swarm). Those requests are refused here with the
//! reason. Container creations are also labelled with the run, so the host can remove what a
//! killed or timed-out run left behind.

use serde_json::Value;

/// The label that marks containers created by a run; its value identifies the run.
pub(crate) const RUN_LABEL: &str = "sluice.run";

/// Which request bodies must be read and checked before they are forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyCheck {
    /// Forward the body untouched.
    None,
    /// `POST /containers/create`: check the host config and label the container.
    ContainerCreate,
    /// `POST /containers/{id}/exec`: no privileged exec.
    Exec,
    /// `POST /volumes/create`: no driver options (the `local` driver binds host paths with them).
    VolumeCreate,
}

/// Endpoints that administer the daemon rather than use it.
const DENIED_PREFIXES: [&str; 8] =
    ["/plugins", "/swarm", "/services", "/nodes", "/secrets", "/configs", "/session", "/grpc"];

/// Strips the API version prefix (`/v1.41/containers/json` -> `/containers/json`).
pub(crate) fn unversioned(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let version = &rest[..end];
        if !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return &rest[end..];
        }
    }
    path
}

/// Decides from the method and path (with query) whether a request may go to the daemon, and
/// which body check it needs. `Err` holds the reason for a refusal.
pub(crate) fn classify(method: &str, path_and_query: &str) -> Result<BodyCheck, String> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let path = unversioned(path);
    if let Some(prefix) = DENIED_PREFIXES.iter().find(|p| path == **p || path.starts_with(&format!("{p}/"))) {
        return Err(format!("`{prefix}` administers the daemon itself"));
    }
    let post = method.eq_ignore_ascii_case("POST");
    if post && path == "/build" && query_has(query, "networkmode", "host") {
        return Err("a build on the host's network (`networkmode=host`)".into());
    }
    Ok(match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "containers", "create"] if post => BodyCheck::ContainerCreate,
        ["", "containers", _, "exec"] if post => BodyCheck::Exec,
        ["", "volumes", "create"] if post => BodyCheck::VolumeCreate,
        _ => BodyCheck::None,
    })
}

fn query_has(query: &str, key: &str, value: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split_once('=').is_some_and(|(k, v)| k == key && v.eq_ignore_ascii_case(value)))
}

/// Checks a JSON request body; for a container creation also adds the run label. `Err` holds
/// the reason for a refusal.
pub(crate) fn check_body(check: BodyCheck, body: &mut Value, run: &str) -> Result<(), String> {
    match check {
        BodyCheck::None => Ok(()),
        BodyCheck::ContainerCreate => {
            if let Some(host) = body.get("HostConfig").filter(|h| !h.is_null()) {
                check_host_config(host)?;
            }
            let object = body.as_object_mut().ok_or("the container config is not a JSON object")?;
            let labels = object.entry("Labels").or_insert_with(|| Value::Object(Default::default()));
            if labels.is_null() {
                *labels = Value::Object(Default::default());
            }
            let labels = labels.as_object_mut().ok_or("`Labels` is not an object")?;
            labels.insert(RUN_LABEL.to_string(), Value::String(run.to_string()));
            Ok(())
        }
        BodyCheck::Exec => {
            if body.get("Privileged").and_then(Value::as_bool) == Some(true) {
                return Err("a privileged exec (`Privileged: true`)".into());
            }
            Ok(())
        }
        BodyCheck::VolumeCreate => {
            if body.get("DriverOpts").is_some_and(non_empty) {
                return Err("volume driver options (`DriverOpts`, which can bind host paths)".into());
            }
            Ok(())
        }
    }
}

fn check_host_config(host: &Value) -> Result<(), String> {
    if host.get("Privileged").and_then(Value::as_bool) == Some(true) {
        return Err("a privileged container (`HostConfig.Privileged`)".into());
    }
    for field in ["Binds", "VolumesFrom", "Devices", "DeviceRequests", "CapAdd"] {
        if host.get(field).is_some_and(non_empty) {
            return Err(format!("`HostConfig.{field}` (it reaches the host)"));
        }
    }
    if let Some(mounts) = host.get("Mounts").and_then(Value::as_array) {
        for mount in mounts {
            let kind = mount.get("Type").and_then(Value::as_str).unwrap_or("");
            if !matches!(kind, "volume" | "tmpfs") {
                return Err(format!(
                    "a `{kind}` mount in `HostConfig.Mounts` (only volume and tmpfs are allowed)"
                ));
            }
        }
    }
    for field in ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode"] {
        if host.get(field).and_then(Value::as_str).is_some_and(|mode| mode.eq_ignore_ascii_case("host")) {
            return Err(format!("the host's namespace (`HostConfig.{field}: host`)"));
        }
    }
    if let Some(options) = host.get("SecurityOpt").and_then(Value::as_array)
        && options.iter().filter_map(Value::as_str).any(|o| o.contains("unconfined"))
    {
        return Err("an unconfined security profile (`HostConfig.SecurityOpt`)".into());
    }
    Ok(())
}

fn non_empty(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::String(text) => !text.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn classifies_by_path_without_version() {
        assert_eq!(classify("POST", "/v1.41/containers/create?name=x"), Ok(BodyCheck::ContainerCreate));
        assert_eq!(classify("POST", "/containers/abc/exec"), Ok(BodyCheck::Exec));
        assert_eq!(classify("GET", "/containers/json"), Ok(BodyCheck::None));
        assert_eq!(classify("POST", "/build?t=a&networkmode=bridge"), Ok(BodyCheck::None));
        assert_eq!(
            classify("POST", "/v1.41/build?t=a&networkmode=host"),
            Err("a build on the host's network (`networkmode=host`)".into())
        );
        assert_eq!(
            classify("POST", "/v1.41/plugins/pull"),
            Err("`/plugins` administers the daemon itself".into())
        );
        assert_eq!(classify("GET", "/swarm"), Err("`/swarm` administers the daemon itself".into()));
        assert_eq!(classify("GET", "/pluginsx"), Ok(BodyCheck::None));
    }

    #[test]
    fn labels_creations_and_keeps_other_labels() {
        let mut body = json!({"Image": "x", "Labels": {"a": "b"}, "HostConfig": {"NetworkMode": "none"}});
        check_body(BodyCheck::ContainerCreate, &mut body, "run-1").expect("allowed");
        assert_eq!(body["Labels"], json!({"a": "b", "sluice.run": "run-1"}));
        let mut bare = json!({"Image": "x", "Labels": null});
        check_body(BodyCheck::ContainerCreate, &mut bare, "run-2").expect("allowed");
        assert_eq!(bare["Labels"], json!({"sluice.run": "run-2"}));
    }

    #[test]
    fn refuses_what_reaches_the_host() {
        let cases = [
            (json!({"Privileged": true}), "a privileged container (`HostConfig.Privileged`)"),
            (json!({"Binds": ["/:/host"]}), "`HostConfig.Binds` (it reaches the host)"),
            (json!({"CapAdd": ["SYS_ADMIN"]}), "`HostConfig.CapAdd` (it reaches the host)"),
            (
                json!({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}),
                "a `bind` mount in `HostConfig.Mounts` (only volume and tmpfs are allowed)",
            ),
            (json!({"NetworkMode": "host"}), "the host's namespace (`HostConfig.NetworkMode: host`)"),
            (json!({"PidMode": "host"}), "the host's namespace (`HostConfig.PidMode: host`)"),
            (
                json!({"SecurityOpt": ["seccomp=unconfined"]}),
                "an unconfined security profile (`HostConfig.SecurityOpt`)",
            ),
        ];
        for (host, reason) in cases {
            let mut body = json!({"Image": "x", "HostConfig": host});
            assert_eq!(check_body(BodyCheck::ContainerCreate, &mut body, "r"), Err(reason.to_string()));
        }
        let mut fine = json!({"HostConfig": {"Binds": [], "Mounts": [{"Type": "tmpfs", "Target": "/t"}]}});
        assert_eq!(check_body(BodyCheck::ContainerCreate, &mut fine, "r"), Ok(()));
        let mut exec = json!({"Cmd": ["sh"], "Privileged": true});
        assert_eq!(
            check_body(BodyCheck::Exec, &mut exec, "r"),
            Err("a privileged exec (`Privileged: true`)".into())
        );
        let mut volume = json!({"Name": "v", "DriverOpts": {"o": "bind", "device": "/etc"}});
        assert!(check_body(BodyCheck::VolumeCreate, &mut volume, "r").is_err());
    }
}
