//! What a `docker` grant allows: the Engine API, minus what would reach the host itself.
//!
//! Containers that the task creates are confined like any container; what a grant must not give
//! is the host: bind mounts of host paths, privileged mode, the host's namespaces, devices, URLs
//! fetched by the daemon from the host's network, and the daemon's own administration (plugins,
//! swarm). Those requests are refused here with the reason. Requests are read as the daemon
//! reads them (`wire`), and a checked body is forwarded as the host re-serialized it, so what
//! was checked is what the daemon acts on. Container creations are also labelled with the run,
//! so the host can remove what a killed or timed-out run left behind.

use serde_json::{Map, Value};

use super::container;
use super::wire::{self, canonicalize};

/// The label that marks containers created by a run; its value identifies the run.
pub(crate) const RUN_LABEL: &str = "sluice.run";

/// The oldest API version a task may speak: older ones accept a HostConfig when a container
/// starts (`POST /v1.23/containers/{id}/start` with `{"Binds": ["/:/host"]}`) and default to
/// other legacy behaviours the checks here do not cover.
const MIN_API_VERSION: &str = "1.40";

/// Which request bodies must be read and checked before they are forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyCheck {
    /// Forward the body untouched.
    None,
    /// `POST /containers/create`: check the host config and label the container.
    ContainerCreate,
    /// `POST /containers/{id}/exec`: no privileged exec.
    Exec,
    /// `POST /volumes/create`: the `local` driver, without options (they can bind host paths).
    VolumeCreate,
}

/// Endpoints that administer the daemon rather than use it.
const DENIED_PREFIXES: [&str; 8] =
    ["/plugins", "/swarm", "/services", "/nodes", "/secrets", "/configs", "/session", "/grpc"];

/// Splits the API version prefix off a path (`/v1.41/containers/json` -> `1.41`,
/// `/containers/json`), the way the daemon's router matches it (`/v{version:[0-9.]+}`).
pub(crate) fn split_version(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let version = &rest[..end];
        if !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return (Some(version), &rest[end..]);
        }
    }
    (None, path)
}

/// Decides from the method, the path (with query) and the `Content-Type` headers whether a
/// request may go to the daemon, and which body check it needs. The path and query are read
/// as the daemon reads them (decoded), so an escape cannot hide an endpoint or a parameter.
/// `Err` holds the reason for a refusal.
pub(crate) fn classify(
    method: &str,
    path_and_query: &str,
    content_types: &[&str],
) -> Result<BodyCheck, String> {
    let (raw_path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let decoded = wire::decoded_path(raw_path).ok_or("a path with a malformed percent-escape")?;
    if !wire::is_clean(&decoded) {
        return Err("a path with an empty, `.` or `..` segment".into());
    }
    let (version, path) = split_version(&decoded);
    if let Some(version) = version.filter(|v| wire::version_less(v, MIN_API_VERSION)) {
        return Err(format!(
            "API version {version} (the host allows {MIN_API_VERSION} and later: older versions take \
             a HostConfig when a container starts)"
        ));
    }
    if let Some(prefix) = DENIED_PREFIXES.iter().find(|p| path == **p || path.starts_with(&format!("{p}/"))) {
        return Err(format!("`{prefix}` administers the daemon itself"));
    }
    for content_type in content_types {
        // Go lowercases with Unicode's mappings (`İ` is `i`): only ASCII is read the same here.
        if !content_type.is_ascii() {
            return Err("a `Content-Type` that is not ASCII".into());
        }
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if matches!(media.as_str(), "application/x-www-form-urlencoded" | "multipart/form-data") {
            return Err(format!(
                "a form body (`Content-Type: {media}`; the daemon reads its fields as query parameters)"
            ));
        }
    }
    let post = method.eq_ignore_ascii_case("POST");
    if post && path == "/build" {
        check_build_query(&wire::query_pairs(query))?;
    }
    if post && path == "/images/create" {
        check_import_query(&wire::query_pairs(query))?;
    }
    let exec = path.strip_prefix("/containers/").and_then(|rest| rest.strip_suffix("/exec"));
    Ok(match path {
        "/containers/create" if post => BodyCheck::ContainerCreate,
        _ if post && exec.is_some_and(|name| !name.is_empty()) => BodyCheck::Exec,
        "/volumes/create" if post => BodyCheck::VolumeCreate,
        _ => BodyCheck::None,
    })
}

/// A build runs on the network and in the cgroup it is given, and fetches a `remote` context
/// itself, from the daemon's network (which has the host's loopback services on it).
fn check_build_query(pairs: &[(String, String)]) -> Result<(), String> {
    for (key, value) in pairs {
        if key.eq_ignore_ascii_case("networkmode") {
            if value.eq_ignore_ascii_case("host") {
                return Err(format!("a build on the host's network (`networkmode={value}`)"));
            }
            if value.get(..10).is_some_and(|p| p.eq_ignore_ascii_case("container:")) {
                return Err(format!("a build in another container's network (`networkmode={value}`)"));
            }
        }
        if key.eq_ignore_ascii_case("remote") && !value.is_empty() {
            return Err(format!("a build context that the daemon fetches itself (`remote={value}`)"));
        }
        if key.eq_ignore_ascii_case("cgroupparent") && !value.is_empty() {
            return Err(format!("a build in a cgroup outside the daemon's (`cgroupparent={value}`)"));
        }
    }
    Ok(())
}

/// `fromSrc=<url>` makes the daemon download the image from its own network; `-` reads it from
/// the request body.
fn check_import_query(pairs: &[(String, String)]) -> Result<(), String> {
    match pairs.iter().find(|(k, v)| k.eq_ignore_ascii_case("fromsrc") && !v.is_empty() && v != "-") {
        Some((_, value)) => Err(format!("an image that the daemon downloads itself (`fromSrc={value}`)")),
        None => Ok(()),
    }
}

/// Reads a body of a checked endpoint: exactly one JSON object, no key repeated. `Err` holds
/// the reason for a refusal.
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Value, String> {
    wire::parse_object(bytes).map(Value::Object)
}

/// Checks a JSON request body, renaming its keys to the daemon's spelling; for a container
/// creation also adds the run label. What is forwarded is this body re-serialized, never the
/// bytes the component sent. `Err` holds the reason for a refusal.
pub(crate) fn check_body(check: BodyCheck, body: &mut Value, run: &str) -> Result<(), String> {
    let object = match body {
        Value::Object(object) => object,
        _ if check == BodyCheck::None => return Ok(()),
        _ => return Err("a body that is not one JSON object".into()),
    };
    match check {
        BodyCheck::None => Ok(()),
        BodyCheck::ContainerCreate => container::check(object, (RUN_LABEL, run)),
        BodyCheck::Exec => check_exec(object),
        BodyCheck::VolumeCreate => check_volume(object),
    }
}

const EXEC_FIELDS: &[&str] = &[
    "User",
    "Privileged",
    "Tty",
    "ConsoleSize",
    "AttachStdin",
    "AttachStderr",
    "AttachStdout",
    "Detach",
    "DetachKeys",
    "Env",
    "WorkingDir",
    "Cmd",
];

fn check_exec(exec: &mut Map<String, Value>) -> Result<(), String> {
    if let Some(key) = canonicalize(exec, EXEC_FIELDS, "")?.first() {
        return Err(format!(
            "the unknown field `{key}` of the exec config (the host passes only fields it knows)"
        ));
    }
    if exec.get("Privileged").is_some_and(|v| !container::is_empty(v)) {
        return Err("a privileged exec (`Privileged: true`)".into());
    }
    Ok(())
}

const VOLUME_FIELDS: &[&str] = &["Name", "Driver", "DriverOpts", "Labels"];

fn check_volume(volume: &mut Map<String, Value>) -> Result<(), String> {
    if let Some(key) = canonicalize(volume, VOLUME_FIELDS, "")?.first() {
        return Err(format!(
            "the unknown field `{key}` of the volume config (the host passes only fields it knows)"
        ));
    }
    if let Some(driver) = volume.get("Driver").filter(|v| !container::is_empty(v))
        && driver.as_str() != Some("local")
    {
        return Err(format!("the volume driver {driver} (`Driver`; only `local`)"));
    }
    if volume.get("DriverOpts").is_some_and(|v| !container::is_empty(v)) {
        return Err("volume driver options (`DriverOpts`, which can bind host paths)".into());
    }
    Ok(())
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
