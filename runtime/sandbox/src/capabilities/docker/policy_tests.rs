//! Tests of the docker grant's policy: what is refused, with which reason, and what is
//! forwarded as checked.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn classify_plain(method: &str, path: &str) -> Result<BodyCheck, String> {
    classify(method, path, &["application/json"])
}

#[test]
fn classifies_by_path_without_version() {
    assert_eq!(classify_plain("POST", "/v1.41/containers/create?name=x"), Ok(BodyCheck::ContainerCreate));
    assert_eq!(classify_plain("POST", "/containers/abc/exec"), Ok(BodyCheck::Exec));
    assert_eq!(classify_plain("POST", "/containers/a/b/exec"), Ok(BodyCheck::Exec));
    assert_eq!(classify_plain("POST", "/containers/exec"), Ok(BodyCheck::None));
    assert_eq!(classify_plain("POST", "/v1.41/volumes/create"), Ok(BodyCheck::VolumeCreate));
    assert_eq!(classify_plain("GET", "/containers/json"), Ok(BodyCheck::None));
    assert_eq!(classify_plain("POST", "/build?t=a&networkmode=bridge"), Ok(BodyCheck::None));
    assert_eq!(
        classify_plain("POST", "/v1.41/build?t=a&networkmode=host"),
        Err("a build on the host's network (`networkmode=host`)".into())
    );
    assert_eq!(
        classify_plain("POST", "/v1.41/plugins/pull"),
        Err("`/plugins` administers the daemon itself".into())
    );
    assert_eq!(classify_plain("GET", "/swarm"), Err("`/swarm` administers the daemon itself".into()));
    assert_eq!(classify_plain("GET", "/pluginsx"), Ok(BodyCheck::None));
}

#[test]
fn escapes_in_the_path_do_not_hide_an_endpoint() {
    assert_eq!(classify_plain("POST", "/v1.41/containers/%63reate"), Ok(BodyCheck::ContainerCreate));
    assert_eq!(classify_plain("POST", "/v1.41/containers%2Fcreate"), Ok(BodyCheck::ContainerCreate));
    assert_eq!(classify_plain("POST", "/v1.41/containers/x/%65xec"), Ok(BodyCheck::Exec));
    assert_eq!(
        classify_plain("POST", "/v1.41/%70lugins/pull"),
        Err("`/plugins` administers the daemon itself".into())
    );
    assert_eq!(
        classify_plain("POST", "/v1.41/containers/create%zz"),
        Err("a path with a malformed percent-escape".into())
    );
    for unclean in ["/v1.41/containers/./create", "/v1.41//containers/create", "/v1.41/x/../plugins/pull"] {
        assert_eq!(
            classify_plain("POST", unclean),
            Err("a path with an empty, `.` or `..` segment".into()),
            "{unclean}"
        );
    }
}

#[test]
fn old_api_versions_are_refused() {
    let refused = |v: &str| {
        Err(format!(
            "API version {v} (the host allows 1.40 and later: older versions take a HostConfig when a \
             container starts)"
        ))
    };
    assert_eq!(classify_plain("POST", "/v1.23/containers/abc/start"), refused("1.23"));
    assert_eq!(classify_plain("POST", "/v1.39/containers/create"), refused("1.39"));
    assert_eq!(classify_plain("POST", "/v1/containers/create"), refused("1"));
    assert_eq!(classify_plain("POST", "/v1.40/containers/abc/start"), Ok(BodyCheck::None));
    assert_eq!(classify_plain("POST", "/v1.41/containers/abc/start"), Ok(BodyCheck::None));
    assert_eq!(classify_plain("POST", "/containers/abc/start"), Ok(BodyCheck::None));
}

#[test]
fn form_bodies_are_refused() {
    for content_type in [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=x",
        " multipart/form-data; boundary=b",
    ] {
        let media = content_type.split(';').next().unwrap().trim().to_ascii_lowercase();
        assert_eq!(
            classify("POST", "/v1.41/images/create?fromSrc=-", &["application/x-tar", content_type]),
            Err(format!(
                "a form body (`Content-Type: {media}`; the daemon reads its fields as query parameters)"
            ))
        );
    }
    assert_eq!(
        classify("POST", "/v1.41/images/create?fromSrc=-", &["appl\u{130}cation/x-www-form-urlencoded"]),
        Err("a `Content-Type` that is not ASCII".into())
    );
    assert_eq!(classify("POST", "/v1.41/build", &["application/x-tar"]), Ok(BodyCheck::None));
    assert_eq!(classify("GET", "/v1.41/info", &[]), Ok(BodyCheck::None));
}

#[test]
fn the_daemon_fetches_no_url_for_a_task() {
    assert_eq!(
        classify_plain("POST", "/v1.41/build?t=x&remote=http%3A%2F%2F127.0.0.1%3A8080%2Fctx.tar"),
        Err("a build context that the daemon fetches itself (`remote=http://127.0.0.1:8080/ctx.tar`)".into())
    );
    assert_eq!(
        classify_plain("POST", "/v1.41/build?re%6Dote=git%40127.0.0.1:x.git"),
        Err("a build context that the daemon fetches itself (`remote=git@127.0.0.1:x.git`)".into())
    );
    assert_eq!(classify_plain("POST", "/v1.41/build?remote="), Ok(BodyCheck::None));
    assert_eq!(
        classify_plain("POST", "/v1.41/build?networkmode=%68ost"),
        Err("a build on the host's network (`networkmode=host`)".into())
    );
    assert_eq!(
        classify_plain("POST", "/v1.41/build?t=a;networkmode=HOST"),
        Err("a build on the host's network (`networkmode=HOST`)".into())
    );
    assert_eq!(
        classify_plain("POST", "/v1.41/build?networkmode=container:db"),
        Err("a build in another container's network (`networkmode=container:db`)".into())
    );
    assert_eq!(
        classify_plain("POST", "/v1.41/build?cgroupparent=%2F"),
        Err("a build in a cgroup outside the daemon's (`cgroupparent=/`)".into())
    );
    assert_eq!(
        classify_plain("POST", "/v1.41/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A9%2Fx&repo=a"),
        Err("an image that the daemon downloads itself (`fromSrc=http://127.0.0.1:9/x`)".into())
    );
    assert_eq!(
        classify_plain("POST", "/v1.41/images/create?fromSrc=-&fromSrc=127.0.0.1:9"),
        Err("an image that the daemon downloads itself (`fromSrc=127.0.0.1:9`)".into())
    );
    assert_eq!(classify_plain("POST", "/v1.41/images/create?fromSrc=-&repo=a"), Ok(BodyCheck::None));
    assert_eq!(
        classify_plain("POST", "/v1.41/images/create?fromImage=127.0.0.1%3A5000%2Fa&tag=v1"),
        Ok(BodyCheck::None)
    );
}

fn create(body: Value) -> Result<Value, String> {
    let mut body = body;
    check_body(BodyCheck::ContainerCreate, &mut body, "r").map(|()| body)
}

#[test]
fn labels_creations_and_keeps_other_labels() {
    let body = json!({"Image": "x", "Labels": {"a": "b"}, "HostConfig": {"NetworkMode": "none"}});
    assert_eq!(create(body).unwrap()["Labels"], json!({"a": "b", "sluice.run": "r"}));
    assert_eq!(create(json!({"Image": "x", "Labels": null})).unwrap()["Labels"], json!({"sluice.run": "r"}));
    // Any spelling of `Labels` is the one map, so the label cannot be shadowed.
    let body = json!({"Image": "x", "labels": {"sluice.run": "other"}});
    assert_eq!(create(body).unwrap(), json!({"Image": "x", "Labels": {"sluice.run": "r"}}));
}

#[test]
fn what_the_docker_plugin_sends_passes_unchanged_but_for_the_label() {
    let body = json!({
        "Image": "busybox", "Env": ["A=1"], "WorkingDir": "/workspace", "AttachStdout": false,
        "AttachStderr": false, "Tty": false, "Cmd": ["/bin/sh", "-c", "true"], "Entrypoint": ["/x"],
        "User": "1000:1000",
        "HostConfig": {"NetworkMode": "none", "NanoCpus": 1_500_000_000, "Memory": 536_870_912},
    });
    let mut expected = body.clone();
    expected["Labels"] = json!({"sluice.run": "r"});
    assert_eq!(create(body), Ok(expected));
}

#[test]
fn refuses_what_reaches_the_host() {
    let cases = [
        (json!({"Privileged": true}), "`HostConfig.Privileged` (a privileged container)"),
        (json!({"Privileged": 1}), "`HostConfig.Privileged` (a privileged container)"),
        (json!({"Binds": ["/:/host"]}), "`HostConfig.Binds` (host paths mounted into the container)"),
        (json!({"VolumesFrom": ["other"]}), "`HostConfig.VolumesFrom` (the mounts of another container)"),
        (json!({"Devices": [{"PathOnHost": "/dev/sda"}]}), "`HostConfig.Devices` (host devices)"),
        (
            json!({"DeviceRequests": [{"Count": -1}]}),
            "`HostConfig.DeviceRequests` (host devices such as GPUs)",
        ),
        (
            json!({"DeviceCgroupRules": ["b *:* rwm"]}),
            "`HostConfig.DeviceCgroupRules` (access to host devices)",
        ),
        (json!({"CapAdd": ["SYS_ADMIN"]}), "`HostConfig.CapAdd` (extra kernel capabilities)"),
        (json!({"CgroupParent": "/"}), "`HostConfig.CgroupParent` (a cgroup outside the daemon's)"),
        (json!({"Cgroup": "container:x"}), "`HostConfig.Cgroup` (another container's cgroup)"),
        (json!({"Runtime": "runc"}), "`HostConfig.Runtime` (a runtime other than the daemon's default)"),
        (json!({"Annotations": {"a": "b"}}), "`HostConfig.Annotations` (options for the OCI runtime)"),
        (json!({"UsernsMode": "host"}), "`HostConfig.UsernsMode` (the host's user namespace)"),
        (
            json!({"PortBindings": {"22/tcp": [{"HostPort": "22"}]}}),
            "`HostConfig.PortBindings` (ports published on the host's interfaces)",
        ),
        (
            json!({"PublishAllPorts": true}),
            "`HostConfig.PublishAllPorts` (ports published on the host's interfaces)",
        ),
        (json!({"OomKillDisable": true}), "`HostConfig.OomKillDisable` (a container the OOM killer spares)"),
        (
            json!({"OomScoreAdj": -1000}),
            "`HostConfig.OomScoreAdj: -1000` (below 0, the host's processes are killed before the container's when memory runs out)",
        ),
        (
            json!({"MaskedPaths": []}),
            "`HostConfig.MaskedPaths` (it replaces the /proc and /sys paths the daemon masks)",
        ),
        (
            json!({"ReadonlyPaths": []}),
            "`HostConfig.ReadonlyPaths` (it replaces the paths the daemon makes read-only)",
        ),
        (
            json!({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}),
            "a `bind` mount in `HostConfig.Mounts` (only volume and tmpfs are allowed)",
        ),
        (
            json!({"Mounts": [{"Target": "/h"}]}),
            "a `` mount in `HostConfig.Mounts` (only volume and tmpfs are allowed)",
        ),
        (
            json!({"Mounts": [{"Type": "volume", "Target": "/h", "BindOptions": {}}]}),
            "`HostConfig.Mounts[0].BindOptions` (options of a bind mount)",
        ),
        (
            json!({"Mounts": [{"Type": "tmpfs", "Target": "/t"}, {"Type": "volume", "Target": "/h",
                "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"type": "none", "o": "bind", "device": "/etc"}}}}]}),
            "`HostConfig.Mounts[1].VolumeOptions.DriverConfig` (volume driver options, which can bind host paths)",
        ),
        (json!({"NetworkMode": "host"}), "the host's namespace (`HostConfig.NetworkMode: host`)"),
        (
            json!({"NetworkMode": "container:db"}),
            "another container's namespace (`HostConfig.NetworkMode: container:db`)",
        ),
        (json!({"PidMode": "host"}), "the host's namespace (`HostConfig.PidMode: host`)"),
        (
            json!({"PidMode": "container:x"}),
            "another container's namespace (`HostConfig.PidMode: container:x`)",
        ),
        (json!({"IpcMode": "host"}), "the host's namespace (`HostConfig.IpcMode: host`)"),
        (json!({"UTSMode": "host"}), "the host's namespace (`HostConfig.UTSMode: host`)"),
        (json!({"CgroupnsMode": "host"}), "the host's namespace (`HostConfig.CgroupnsMode: host`)"),
        (
            json!({"SecurityOpt": ["seccomp=unconfined"]}),
            "the security option `seccomp=unconfined` (`HostConfig.SecurityOpt`; only no-new-privileges)",
        ),
        (
            json!({"SecurityOpt": ["no-new-privileges", "apparmor:unconfined"]}),
            "the security option `apparmor:unconfined` (`HostConfig.SecurityOpt`; only no-new-privileges)",
        ),
        (
            json!({"SecurityOpt": ["label=disable"]}),
            "the security option `label=disable` (`HostConfig.SecurityOpt`; only no-new-privileges)",
        ),
        (
            json!({"SecurityOpt": ["no-new-privileges:true=x"]}),
            "the security option `no-new-privileges:true=x` (`HostConfig.SecurityOpt`; only no-new-privileges)",
        ),
        (
            json!({"Sysctls": {"net.ipv4.ip_forward": "1", "kernel.core_pattern": "|/x"}}),
            "the sysctl `kernel.core_pattern` (`HostConfig.Sysctls`; only the namespaced net.*, fs.mqueue.* and kernel IPC ones)",
        ),
        (
            json!({"VolumeDriver": "nfs"}),
            "the volume driver \"nfs\" (`HostConfig.VolumeDriver`; only `local`)",
        ),
        (
            json!({"LogConfig": {"Type": "syslog", "Config": {"syslog-address": "tcp://127.0.0.1:22"}}}),
            "the log driver \"syslog\" (`HostConfig.LogConfig.Type`; only json-file, local and none keep the logs on the daemon)",
        ),
        (
            json!({"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}]}),
            "`HostConfig.BlkioDeviceReadBps` (limits on host devices, named by their host paths)",
        ),
        (json!({"Foo": 1}), "the unknown field `HostConfig.Foo` (the host passes only fields it knows)"),
    ];
    for (host, reason) in cases {
        assert_eq!(
            create(json!({"Image": "x", "HostConfig": host.clone()})),
            Err(reason.to_string()),
            "{host}"
        );
    }
    let fine = json!({"Binds": [], "Privileged": false, "NetworkMode": "bridge", "IpcMode": "private",
        "CgroupnsMode": "private", "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1}},
        {"Type": "volume", "Source": "cache", "Target": "/c", "VolumeOptions": {"NoCopy": true}}],
        "SecurityOpt": ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=false"],
        "Sysctls": {"net.ipv4.ping_group_range": "0 0", "kernel.shmmax": "1", "fs.mqueue.msg_max": "1"},
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}, "VolumeDriver": "local",
        "OomScoreAdj": 100, "CapDrop": ["ALL"], "Init": true, "MaskedPaths": null});
    assert!(create(json!({"Image": "x", "HostConfig": fine})).is_ok());
}

#[test]
fn keys_in_any_case_are_checked_under_the_daemons_spelling() {
    let cases = [
        (json!({"hostconfig": {"privileged": true}}), "`HostConfig.Privileged` (a privileged container)"),
        (
            json!({"HOSTCONFIG": {"Bind\u{17F}": ["/:/h"]}}),
            "`HostConfig.Binds` (host paths mounted into the container)",
        ),
        (
            json!({"HostConfig": {"networkmode": "host"}}),
            "the host's namespace (`HostConfig.NetworkMode: host`)",
        ),
        (
            json!({"HostConfig": {"mounts": [{"type": "bind", "source": "/", "target": "/h"}]}}),
            "a `bind` mount in `HostConfig.Mounts` (only volume and tmpfs are allowed)",
        ),
        (
            json!({"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/h", "volumeoptions": {"driverconfig": {"Name": "local"}}}]}}),
            "`HostConfig.Mounts[0].VolumeOptions.DriverConfig` (volume driver options, which can bind host paths)",
        ),
        (
            json!({"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/h", "bindoptions": {"Propagation": "shared"}}]}}),
            "`HostConfig.Mounts[0].BindOptions` (options of a bind mount)",
        ),
        (
            json!({"HostConfig": {"Privileged": false, "PRIVILEGED": true}}),
            "two keys for `HostConfig.Privileged` (`PRIVILEGED` and `Privileged`)",
        ),
        (
            json!({"HostConfig": {}, "hostConfig": {"Privileged": true}}),
            "two keys for `HostConfig` (`HostConfig` and `hostConfig`)",
        ),
        (
            json!({"HostConfig": {"Mounts": [{"Type": "volume", "type": "bind"}]}}),
            "two keys for `HostConfig.Mounts[0].Type` (`Type` and `type`)",
        ),
        // Daemons read HostConfig fields at the top level as the HostConfig.
        (
            json!({"Privileged": true}),
            "`Privileged` outside `HostConfig` (daemons read it as `HostConfig.Privileged`; put it in `HostConfig`)",
        ),
        (
            json!({"binds": ["/:/h"]}),
            "`binds` outside `HostConfig` (daemons read it as `HostConfig.Binds`; put it in `HostConfig`)",
        ),
        (
            json!({"Cpuset": "0"}),
            "the unknown field `Cpuset` of the container config (the host passes only fields it knows)",
        ),
        (
            json!({"NetworkingConfig": {"endpointsconfig": {"host": {}}}}),
            "the network `host` (`NetworkingConfig.EndpointsConfig`)",
        ),
        (json!({"HostConfig": "x"}), "a `HostConfig` that is not an object"),
        (json!({"Labels": ["a"]}), "`Labels` that are not an object"),
    ];
    for (body, reason) in cases {
        assert_eq!(create(body.clone()), Err(reason.to_string()), "{body}");
    }
    // What passes is forwarded in the daemon's spelling.
    let body = json!({"image": "x", "hostconfig": {"networkmode": "none", "MOUNTS": [{"type": "tmpfs", "target": "/t"}]}});
    assert_eq!(
        create(body),
        Ok(json!({"Image": "x", "Labels": {"sluice.run": "r"},
            "HostConfig": {"NetworkMode": "none", "Mounts": [{"Type": "tmpfs", "Target": "/t"}]}}))
    );
}

#[test]
fn execs_and_volumes() {
    let check = |kind, body: Value| {
        let mut body = body;
        check_body(kind, &mut body, "r").map(|()| body)
    };
    assert_eq!(
        check(BodyCheck::Exec, json!({"Cmd": ["sh"], "Privileged": true})),
        Err("a privileged exec (`Privileged: true`)".into())
    );
    assert_eq!(
        check(BodyCheck::Exec, json!({"Cmd": ["sh"], "privileged": true})),
        Err("a privileged exec (`Privileged: true`)".into())
    );
    assert_eq!(
        check(BodyCheck::Exec, json!({"Cmd": ["sh"], "Privileged": false, "PrivilegeD": true})),
        Err("two keys for `Privileged` (`PrivilegeD` and `Privileged`)".into())
    );
    assert_eq!(
        check(BodyCheck::Exec, json!({"Cmd": ["sh"], "Extra": true})),
        Err("the unknown field `Extra` of the exec config (the host passes only fields it knows)".into())
    );
    assert_eq!(
        check(BodyCheck::Exec, json!({"cmd": ["sh"], "user": "1000", "attachstdout": true})),
        Ok(json!({"Cmd": ["sh"], "User": "1000", "AttachStdout": true}))
    );
    assert_eq!(
        check(BodyCheck::VolumeCreate, json!({"Name": "v", "DriverOpts": {"o": "bind", "device": "/etc"}})),
        Err("volume driver options (`DriverOpts`, which can bind host paths)".into())
    );
    assert_eq!(
        check(BodyCheck::VolumeCreate, json!({"Name": "v", "driveropts": {"o": "bind", "device": "/etc"}})),
        Err("volume driver options (`DriverOpts`, which can bind host paths)".into())
    );
    assert_eq!(
        check(BodyCheck::VolumeCreate, json!({"Name": "v", "Driver": "nfs-plugin"})),
        Err("the volume driver \"nfs-plugin\" (`Driver`; only `local`)".into())
    );
    assert_eq!(
        check(BodyCheck::VolumeCreate, json!({"Name": "v", "ClusterVolumeSpec": {}})),
        Err("the unknown field `ClusterVolumeSpec` of the volume config (the host passes only fields it knows)".into())
    );
    assert_eq!(
        check(BodyCheck::VolumeCreate, json!({"name": "v", "driver": "local", "DriverOpts": {}})),
        Ok(json!({"Name": "v", "Driver": "local", "DriverOpts": {}}))
    );
}
