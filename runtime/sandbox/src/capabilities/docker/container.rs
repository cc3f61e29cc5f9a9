//! Checking a container config (`POST /containers/create`) before the daemon sees it.
//!
//! Deny by default: every key is matched to a field as the daemon's decoder matches it (case
//! ignored) and renamed to the field's spelling, a key for no known field is refused, and the
//! fields that would give the container the host (its paths, devices, namespaces, kernel
//! capabilities, security profiles, cgroups, runtime, log drivers that send elsewhere, published
//! ports) are refused unless they are empty.

use serde_json::{Map, Value};

use super::wire::canonicalize;

/// The fields of the container config (`container.Config`) and of the request around it.
const CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
    "HostConfig",
    "NetworkingConfig",
];

/// What the host does with each field of `HostConfig` (with the `Resources` it embeds).
#[derive(Clone, Copy)]
enum Rule {
    /// Passed on.
    Allow,
    /// Refused unless null, `false`, `0`, `""`, `[]` or `{}`; the text says what it would give.
    Empty(&'static str),
    /// Refused unless absent or null: even an empty list changes what the daemon does.
    Absent(&'static str),
    /// A namespace mode: refused when it is the host's (`host`) or another container's.
    Namespace,
    /// Checked by its own function.
    Special,
}

/// The daemon looks the devices up on the host, so its answers tell which host paths exist.
const HOST_DEVICE_PATHS: &str = "limits on host devices, named by their host paths";

const HOST_CONFIG_FIELDS: &[(&str, Rule)] = &[
    ("Binds", Rule::Empty("host paths mounted into the container")),
    ("ContainerIDFile", Rule::Allow),
    ("LogConfig", Rule::Special),
    ("NetworkMode", Rule::Namespace),
    ("PortBindings", Rule::Empty("ports published on the host's interfaces")),
    ("RestartPolicy", Rule::Allow),
    ("AutoRemove", Rule::Allow),
    ("VolumeDriver", Rule::Special),
    ("VolumesFrom", Rule::Empty("the mounts of another container")),
    ("ConsoleSize", Rule::Allow),
    ("Annotations", Rule::Empty("options for the OCI runtime")),
    ("CapAdd", Rule::Empty("extra kernel capabilities")),
    ("CapDrop", Rule::Allow),
    ("CgroupnsMode", Rule::Namespace),
    ("Dns", Rule::Allow),
    ("DnsOptions", Rule::Allow),
    ("DnsSearch", Rule::Allow),
    ("ExtraHosts", Rule::Allow),
    ("GroupAdd", Rule::Allow),
    ("IpcMode", Rule::Namespace),
    ("Cgroup", Rule::Empty("another container's cgroup")),
    ("Links", Rule::Allow),
    ("OomScoreAdj", Rule::Special),
    ("PidMode", Rule::Namespace),
    ("Privileged", Rule::Empty("a privileged container")),
    ("PublishAllPorts", Rule::Empty("ports published on the host's interfaces")),
    ("ReadonlyRootfs", Rule::Allow),
    ("SecurityOpt", Rule::Special),
    ("StorageOpt", Rule::Allow),
    ("Tmpfs", Rule::Allow),
    ("UTSMode", Rule::Namespace),
    ("UsernsMode", Rule::Empty("the host's user namespace")),
    ("ShmSize", Rule::Allow),
    ("Sysctls", Rule::Special),
    ("Runtime", Rule::Empty("a runtime other than the daemon's default")),
    ("Isolation", Rule::Allow),
    ("CpuShares", Rule::Allow),
    ("Memory", Rule::Allow),
    ("NanoCpus", Rule::Allow),
    ("CgroupParent", Rule::Empty("a cgroup outside the daemon's")),
    ("BlkioWeight", Rule::Allow),
    ("BlkioWeightDevice", Rule::Empty(HOST_DEVICE_PATHS)),
    ("BlkioDeviceReadBps", Rule::Empty(HOST_DEVICE_PATHS)),
    ("BlkioDeviceWriteBps", Rule::Empty(HOST_DEVICE_PATHS)),
    ("BlkioDeviceReadIOps", Rule::Empty(HOST_DEVICE_PATHS)),
    ("BlkioDeviceWriteIOps", Rule::Empty(HOST_DEVICE_PATHS)),
    ("CpuPeriod", Rule::Allow),
    ("CpuQuota", Rule::Allow),
    ("CpuRealtimePeriod", Rule::Allow),
    ("CpuRealtimeRuntime", Rule::Allow),
    ("CpusetCpus", Rule::Allow),
    ("CpusetMems", Rule::Allow),
    ("Devices", Rule::Empty("host devices")),
    ("DeviceCgroupRules", Rule::Empty("access to host devices")),
    ("DeviceRequests", Rule::Empty("host devices such as GPUs")),
    ("KernelMemory", Rule::Allow),
    ("KernelMemoryTCP", Rule::Allow),
    ("MemoryReservation", Rule::Allow),
    ("MemorySwap", Rule::Allow),
    ("MemorySwappiness", Rule::Allow),
    ("OomKillDisable", Rule::Empty("a container the OOM killer spares")),
    ("PidsLimit", Rule::Allow),
    ("Ulimits", Rule::Allow),
    ("CpuCount", Rule::Allow),
    ("CpuPercent", Rule::Allow),
    ("IOMaximumIOps", Rule::Allow),
    ("IOMaximumBandwidth", Rule::Allow),
    ("Mounts", Rule::Special),
    ("MaskedPaths", Rule::Absent("it replaces the /proc and /sys paths the daemon masks")),
    ("ReadonlyPaths", Rule::Absent("it replaces the paths the daemon makes read-only")),
    ("Init", Rule::Allow),
];

const MOUNT_FIELDS: &[&str] =
    &["Type", "Source", "Target", "ReadOnly", "Consistency", "BindOptions", "VolumeOptions", "TmpfsOptions"];
const VOLUME_OPTIONS_FIELDS: &[&str] = &["NoCopy", "Labels", "DriverConfig", "Subpath"];
const TMPFS_OPTIONS_FIELDS: &[&str] = &["SizeBytes", "Mode", "Options"];
const LOG_CONFIG_FIELDS: &[&str] = &["Type", "Config"];
const NETWORKING_CONFIG_FIELDS: &[&str] = &["EndpointsConfig"];

/// Log drivers that keep the logs on the daemon (the others send them to addresses, services
/// and cloud accounts of the host's choosing, with the host's credentials).
const LOG_DRIVERS: &[&str] = &["json-file", "local", "none"];

/// The sysctls that are namespaced, so a container setting them changes only itself.
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Checks a container config and labels the container with the run. `Err` holds the reason
/// for a refusal.
pub(crate) fn check(config: &mut Map<String, Value>, label: (&str, &str)) -> Result<(), String> {
    if let Some(key) = canonicalize(config, CONFIG_FIELDS, "")?.first() {
        // Daemons read `HostConfig` fields at the top level too, as the HostConfig.
        if let Some((field, _)) = find_field(key) {
            return Err(format!(
                "`{key}` outside `HostConfig` (daemons read it as `HostConfig.{field}`; put it in `HostConfig`)"
            ));
        }
        return Err(format!(
            "the unknown field `{key}` of the container config (the host passes only fields it knows)"
        ));
    }
    if let Some(host) = config.get_mut("HostConfig").filter(|h| !h.is_null()) {
        let host = host.as_object_mut().ok_or("a `HostConfig` that is not an object")?;
        check_host_config(host)?;
    }
    if let Some(networking) = config.get_mut("NetworkingConfig").filter(|n| !n.is_null()) {
        check_networking(networking)?;
    }
    let labels = config.entry("Labels").or_insert_with(|| Value::Object(Map::new()));
    if labels.is_null() {
        *labels = Value::Object(Map::new());
    }
    let labels = labels.as_object_mut().ok_or("`Labels` that are not an object")?;
    labels.insert(label.0.to_string(), Value::String(label.1.to_string()));
    Ok(())
}

fn find_field(key: &str) -> Option<(&'static str, Rule)> {
    let folded = super::wire::fold(key)?;
    HOST_CONFIG_FIELDS.iter().copied().find(|(field, _)| field.eq_ignore_ascii_case(&folded))
}

fn check_host_config(host: &mut Map<String, Value>) -> Result<(), String> {
    let names: Vec<&str> = HOST_CONFIG_FIELDS.iter().map(|(name, _)| *name).collect();
    if let Some(key) = canonicalize(host, &names, "HostConfig.")?.first() {
        return Err(format!("the unknown field `HostConfig.{key}` (the host passes only fields it knows)"));
    }
    for (field, rule) in HOST_CONFIG_FIELDS {
        let Some(value) = host.get(*field).filter(|v| !v.is_null()) else { continue };
        match rule {
            Rule::Allow => {}
            Rule::Empty(what) if !is_empty(value) => return Err(format!("`HostConfig.{field}` ({what})")),
            Rule::Empty(_) => {}
            Rule::Absent(what) => return Err(format!("`HostConfig.{field}` ({what})")),
            Rule::Namespace => check_namespace(&format!("HostConfig.{field}"), value)?,
            Rule::Special => {}
        }
    }
    check_security_options(host.get("SecurityOpt"))?;
    check_sysctls(host.get("Sysctls"))?;
    if let Some(value) = host.get("OomScoreAdj").filter(|v| !v.is_null())
        && value.as_i64().is_none_or(|n| n < 0)
    {
        return Err(format!(
            "`HostConfig.OomScoreAdj: {value}` (below 0, the host's processes are killed before the \
             container's when memory runs out)"
        ));
    }
    if let Some(driver) = host.get("VolumeDriver").filter(|v| !is_empty(v))
        && driver.as_str() != Some("local")
    {
        return Err(format!("the volume driver {driver} (`HostConfig.VolumeDriver`; only `local`)"));
    }
    if let Some(log) = host.get_mut("LogConfig").filter(|v| !v.is_null()) {
        let log = log.as_object_mut().ok_or("a `HostConfig.LogConfig` that is not an object")?;
        if let Some(key) = canonicalize(log, LOG_CONFIG_FIELDS, "HostConfig.LogConfig.")?.first() {
            return Err(format!(
                "the unknown field `HostConfig.LogConfig.{key}` (the host passes only fields it knows)"
            ));
        }
        if let Some(kind) = log.get("Type").filter(|v| !is_empty(v))
            && !kind.as_str().is_some_and(|k| LOG_DRIVERS.contains(&k))
        {
            return Err(format!(
                "the log driver {kind} (`HostConfig.LogConfig.Type`; only json-file, local and none keep the logs on the daemon)"
            ));
        }
    }
    if let Some(mounts) = host.get_mut("Mounts").filter(|v| !v.is_null()) {
        let mounts = mounts.as_array_mut().ok_or("`HostConfig.Mounts` that is not a list")?;
        for (i, mount) in mounts.iter_mut().enumerate() {
            check_mount(&format!("HostConfig.Mounts[{i}]"), mount)?;
        }
    }
    Ok(())
}

/// `host` and `container:<id>` join the host's or another container's namespace (a container
/// of someone else's, on the host's network, is the host's network).
fn check_namespace(at: &str, value: &Value) -> Result<(), String> {
    let Some(mode) = value.as_str() else { return Err(format!("`{at}` that is not a string")) };
    if mode.eq_ignore_ascii_case("host") {
        return Err(format!("the host's namespace (`{at}: {mode}`)"));
    }
    if mode.get(..10).is_some_and(|p| p.eq_ignore_ascii_case("container:")) {
        return Err(format!("another container's namespace (`{at}: {mode}`)"));
    }
    Ok(())
}

/// Only `no-new-privileges` (bare, `=bool` or `:bool`), parsed as the daemon parses options:
/// the others turn off seccomp, AppArmor or SELinux, or load a profile of the task's.
fn check_security_options(options: Option<&Value>) -> Result<(), String> {
    let Some(options) = options.filter(|v| !v.is_null()) else { return Ok(()) };
    let list = options.as_array().ok_or("`HostConfig.SecurityOpt` that is not a list")?;
    for option in list {
        let Some(text) = option.as_str() else {
            return Err(format!(
                "the security option {option} (`HostConfig.SecurityOpt`; only no-new-privileges)"
            ));
        };
        let key = if text.contains('=') {
            text.split_once('=').map(|(k, _)| k)
        } else {
            text.split_once(':').map(|(k, _)| k)
        };
        if text != "no-new-privileges" && key != Some("no-new-privileges") {
            return Err(format!(
                "the security option `{text}` (`HostConfig.SecurityOpt`; only no-new-privileges)"
            ));
        }
    }
    Ok(())
}

fn check_sysctls(sysctls: Option<&Value>) -> Result<(), String> {
    let Some(sysctls) = sysctls.filter(|v| !v.is_null()) else { return Ok(()) };
    let map = sysctls.as_object().ok_or("`HostConfig.Sysctls` that is not an object")?;
    for name in map.keys() {
        let namespaced = name.starts_with("net.")
            || name.starts_with("fs.mqueue.")
            || IPC_SYSCTLS.contains(&name.as_str());
        if !namespaced {
            return Err(format!(
                "the sysctl `{name}` (`HostConfig.Sysctls`; only the namespaced net.*, fs.mqueue.* and kernel IPC ones)"
            ));
        }
    }
    Ok(())
}

/// A mount: only a `volume` of the default driver without options, or a `tmpfs`.
fn check_mount(at: &str, mount: &mut Value) -> Result<(), String> {
    let mount = mount.as_object_mut().ok_or_else(|| format!("`{at}` that is not an object"))?;
    if let Some(key) = canonicalize(mount, MOUNT_FIELDS, &format!("{at}."))?.first() {
        return Err(format!("the unknown field `{at}.{key}` (the host passes only fields it knows)"));
    }
    let kind = mount.get("Type").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "volume" | "tmpfs") {
        return Err(format!("a `{kind}` mount in `HostConfig.Mounts` (only volume and tmpfs are allowed)"));
    }
    if mount.get("BindOptions").is_some_and(|v| !v.is_null()) {
        return Err(format!("`{at}.BindOptions` (options of a bind mount)"));
    }
    if let Some(options) = mount.get_mut("VolumeOptions").filter(|v| !v.is_null()) {
        let options =
            options.as_object_mut().ok_or_else(|| format!("`{at}.VolumeOptions` that is not an object"))?;
        let at = format!("{at}.VolumeOptions");
        if let Some(key) = canonicalize(options, VOLUME_OPTIONS_FIELDS, &format!("{at}."))?.first() {
            return Err(format!("the unknown field `{at}.{key}` (the host passes only fields it knows)"));
        }
        if options.get("DriverConfig").is_some_and(|v| !v.is_null()) {
            return Err(format!("`{at}.DriverConfig` (volume driver options, which can bind host paths)"));
        }
    }
    if let Some(options) = mount.get_mut("TmpfsOptions").filter(|v| !v.is_null()) {
        let options =
            options.as_object_mut().ok_or_else(|| format!("`{at}.TmpfsOptions` that is not an object"))?;
        let at = format!("{at}.TmpfsOptions");
        if let Some(key) = canonicalize(options, TMPFS_OPTIONS_FIELDS, &format!("{at}."))?.first() {
            return Err(format!("the unknown field `{at}.{key}` (the host passes only fields it knows)"));
        }
    }
    Ok(())
}

/// The networks to connect: never the host's.
fn check_networking(networking: &mut Value) -> Result<(), String> {
    let networking = networking.as_object_mut().ok_or("a `NetworkingConfig` that is not an object")?;
    if let Some(key) = canonicalize(networking, NETWORKING_CONFIG_FIELDS, "NetworkingConfig.")?.first() {
        return Err(format!(
            "the unknown field `NetworkingConfig.{key}` (the host passes only fields it knows)"
        ));
    }
    if let Some(endpoints) = networking.get("EndpointsConfig").filter(|v| !v.is_null()) {
        let endpoints =
            endpoints.as_object().ok_or("`NetworkingConfig.EndpointsConfig` that is not an object")?;
        if let Some(name) = endpoints.keys().find(|name| {
            name.eq_ignore_ascii_case("host")
                || name.get(..10).is_some_and(|p| p.eq_ignore_ascii_case("container:"))
        }) {
            return Err(format!("the network `{name}` (`NetworkingConfig.EndpointsConfig`)"));
        }
    }
    Ok(())
}

/// Null, `false`, `0`, `""`, `[]` or `{}`: what leaves the daemon's default as it is.
pub(crate) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
    }
}
