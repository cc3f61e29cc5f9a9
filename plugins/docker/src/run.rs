//! `docker.run`: run commands in a container, the workspace's files in and results out.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Component, Path};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::{Capability, Task, TaskError};

use crate::engine::{self, encode};
use crate::files;
use crate::glob::Glob;
use crate::image::{self, Credentials, PullPolicy, Reference};
use crate::mux::{Demux, Stream};
use crate::outputs;
use crate::tar::{Entry, Found, Kind, TarReader, TarWriter};

pub struct RunTask;

/// How many of the last log lines a failure message quotes.
const TAIL_LINES: usize = 20;

/// Config of `docker.run`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct RunConfig {
    /// The image (`name[:tag]` or `name@sha256:...`).
    image: String,
    /// Commands run as one script by `interpreter`. With the default interpreter the script
    /// starts with `set -e`, so the first failing command ends it. Empty: the image's own
    /// command.
    #[serde(default)]
    commands: Vec<String>,
    /// The program and arguments that run the script (passed as the last argument).
    #[serde(default = "default_interpreter")]
    interpreter: Vec<String>,
    /// Replaces the image's entrypoint.
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    /// Environment variables of the container.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// The working directory in the container, where `inputFiles` go and `outputFiles` are
    /// taken from.
    #[serde(default = "default_workdir")]
    workdir: String,
    /// The user (`name`, `uid` or `uid:gid`) to run as; the image's default otherwise.
    #[serde(default)]
    user: Option<String>,
    /// CPU limit, in CPUs (`1.5`).
    #[serde(default)]
    cpus: Option<f64>,
    /// Memory limit: bytes, or a number with `k`, `m` or `g` (`512m`).
    #[serde(default)]
    memory: Option<Memory>,
    /// The container's network: `none` (the default, no network), `bridge`, or a named one.
    #[serde(default = "default_network")]
    network: String,
    /// Workspace files copied into `workdir` before the container starts: `true` for the whole
    /// workspace, or a list of files and directories (relative to the workspace).
    #[serde(default)]
    input_files: InputFiles,
    /// Globs (relative to `workdir`) of files copied back into the workspace after the container
    /// exits, whatever its exit code.
    #[serde(default)]
    output_files: Vec<String>,
    /// When to pull the image.
    #[serde(default)]
    pull: PullPolicy,
    /// Registry credentials for pulling a private image: `username`, `password`.
    #[serde(flatten)]
    credentials: Credentials,
}

/// The whole workspace, or some paths of it.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum InputFiles {
    /// `true`: the whole workspace; `false`: nothing.
    All(bool),
    /// These files and directories.
    Paths(Vec<String>),
}

impl Default for InputFiles {
    fn default() -> Self {
        InputFiles::All(false)
    }
}

/// A memory size: bytes, or text with a unit.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Memory {
    Bytes(u64),
    Text(String),
}

fn default_interpreter() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

fn default_workdir() -> String {
    "/workspace".into()
}

fn default_network() -> String {
    "none".into()
}

/// Outputs of `docker.run`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOutput {
    /// The container's exit code (always 0 for a successful task).
    exit_code: i64,
    /// Workspace paths written from `outputFiles`.
    output_files: Vec<String>,
    /// Values from lines `::{"outputs": {...}}::` the container printed.
    #[serde(flatten)]
    values: BTreeMap<String, Value>,
}

impl Task for RunTask {
    const NAME: &'static str = "run";
    const DESCRIPTION: &'static str = "Runs `commands` in a container of `image` (pulled as \
        `pull` says) and streams its stdout and stderr to the task log. `inputFiles` are copied \
        from the workspace into `workdir` before the start, `outputFiles` globs copied back \
        after the exit. A line `::{\"outputs\": {...}}::` adds those values to the outputs. \
        Fails on a non-zero exit code, quoting the last lines. The container has no network \
        unless `network` says otherwise, and is removed afterwards (by the host, if the task \
        times out or is killed). Needs `allow: {docker: true}`.";
    type Config = RunConfig;
    type Output = RunOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::Docker]
    }

    fn run(config: RunConfig) -> Result<RunOutput, TaskError> {
        let create = create_body(&config)?;
        let inputs = input_entries(&config)?;
        let reference = Reference::parse(&config.image);
        let auth = config.credentials.registry_auth(&reference.registry());
        image::ensure(&config.image, config.pull, &auth)?;

        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Created {
            id: String,
            #[serde(default)]
            warnings: Option<Vec<String>>,
        }
        let created: Created = engine::send_json(
            engine::request("POST", "/containers/create").json(&create).map_err(TaskError::from)?,
            "creating the container",
        )?;
        for warning in created.warnings.unwrap_or_default() {
            sluice_plugin::warn!("{warning}");
        }
        let id = created.id;
        let result = run_container(&id, &config, inputs);
        let removed = engine::request("DELETE", &format!("/containers/{id}?force=1&v=1")).send();
        if let Err(err) = removed {
            sluice_plugin::warn!("could not remove container {}: {err}", short(&id));
        }
        result
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn create_body(config: &RunConfig) -> Result<Value, TaskError> {
    let cmd: Option<Vec<String>> = if config.commands.is_empty() {
        None
    } else {
        let mut script = config.commands.join("\n");
        if config.interpreter == default_interpreter() {
            script = format!("set -e\n{script}");
        }
        let mut cmd = config.interpreter.clone();
        cmd.push(script);
        Some(cmd)
    };
    if !config.workdir.starts_with('/') {
        return Err(TaskError::invalid_config(format!(
            "`workdir` must be an absolute path, not `{}`",
            config.workdir
        )));
    }
    let env: Vec<String> = config.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut host = json!({ "NetworkMode": config.network });
    if let Some(cpus) = config.cpus {
        if cpus <= 0.0 {
            return Err(TaskError::invalid_config("`cpus` must be more than 0"));
        }
        host["NanoCpus"] = json!((cpus * 1e9) as i64);
    }
    if let Some(memory) = &config.memory {
        host["Memory"] = json!(memory_bytes(memory)?);
    }
    let mut body = json!({
        "Image": config.image,
        "Env": env,
        "WorkingDir": config.workdir,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "HostConfig": host,
    });
    if let Some(cmd) = cmd {
        body["Cmd"] = json!(cmd);
    }
    if let Some(entrypoint) = &config.entrypoint {
        body["Entrypoint"] = json!(entrypoint);
    }
    if let Some(user) = &config.user {
        body["User"] = json!(user);
    }
    Ok(body)
}

fn memory_bytes(memory: &Memory) -> Result<u64, TaskError> {
    let text = match memory {
        Memory::Bytes(bytes) => return Ok(*bytes),
        Memory::Text(text) => text.trim().to_ascii_lowercase(),
    };
    let invalid = || {
        TaskError::invalid_config(format!(
            "`memory` `{text}` is not a size like `512m`, `2g` or a number of bytes"
        ))
    };
    let text_no_b = text.strip_suffix('b').unwrap_or(&text);
    let (number, unit) = match text_no_b.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text_no_b[..i], c),
        _ => (text_no_b, 'b'),
    };
    let factor: u64 = match unit {
        'b' => 1,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        _ => return Err(invalid()),
    };
    let number: f64 = number.trim().parse().map_err(|_| invalid())?;
    if number <= 0.0 {
        return Err(invalid());
    }
    Ok((number * factor as f64) as u64)
}

/// The archive entries for `inputFiles`, under `workdir`.
fn input_entries(config: &RunConfig) -> Result<Option<Vec<Entry>>, TaskError> {
    let prefix = format!("{}/", config.workdir.trim_matches('/'));
    let workspace = sluice_plugin::workspace();
    let root = |name: &str| Entry { name: name.trim_end_matches('/').to_string(), kind: Kind::Dir, mtime: 0 };
    match &config.input_files {
        InputFiles::All(false) => Ok(None),
        InputFiles::All(true) => {
            let mut entries = vec![root(&prefix)];
            entries.extend(files::collect(workspace, &prefix, &|_| true)?);
            Ok(Some(entries))
        }
        InputFiles::Paths(paths) => {
            let mut entries = vec![root(&prefix)];
            for path in paths {
                let clean = clean_relative(path).ok_or_else(|| {
                    TaskError::invalid_config(format!(
                        "`inputFiles`: `{path}` must be a relative path inside the workspace"
                    ))
                })?;
                let on_disk = workspace.join(&clean);
                let meta = std::fs::symlink_metadata(&on_disk).map_err(|_| {
                    TaskError::invalid_config(format!(
                        "`inputFiles`: `{path}` does not exist in the workspace"
                    ))
                })?;
                // Parent directories first, so the archive creates them.
                let mut parent = String::new();
                for part in clean.split('/').take(clean.split('/').count() - 1) {
                    parent = if parent.is_empty() { part.to_string() } else { format!("{parent}/{part}") };
                    entries.push(root(&format!("{prefix}{parent}")));
                }
                let name = format!("{prefix}{clean}");
                if meta.is_dir() {
                    entries.push(root(&name));
                    entries.extend(files::collect(&on_disk, &format!("{name}/"), &|_| true)?);
                } else {
                    entries.push(Entry {
                        name,
                        kind: Kind::File {
                            executable: files::is_executable(&on_disk),
                            source: on_disk,
                            size: meta.len(),
                        },
                        mtime: 0,
                    });
                }
            }
            Ok(Some(entries))
        }
    }
}

/// A relative path without `..`, `/`-joined; `None` if it leaves the workspace.
fn clean_relative(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn run_container(id: &str, config: &RunConfig, inputs: Option<Vec<Entry>>) -> Result<RunOutput, TaskError> {
    if let Some(entries) = inputs {
        let count = entries.iter().filter(|e| matches!(e.kind, Kind::File { .. })).count();
        let request = engine::request("PUT", &format!("/containers/{id}/archive?path=%2F"))
            .header("content-type", "application/x-tar")
            .body_reader(TarWriter::new(entries));
        engine::send(request, "copying the input files into the container")?;
        sluice_plugin::info!("copied {count} input files into {}", config.workdir);
    }
    engine::send(engine::request("POST", &format!("/containers/{id}/start")), "starting the container")?;

    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut values = BTreeMap::new();
    let mut demux = Demux::default();
    let mut on_line = |stream: Stream, line: &str| {
        if let Some(found) = outputs::parse_line(line) {
            values.extend(found);
            return;
        }
        match stream {
            Stream::Stdout => sluice_plugin::info!("{line}"),
            Stream::Stderr => sluice_plugin::warn!("{line}"),
        }
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    };
    engine::send_streaming(
        engine::request("GET", &format!("/containers/{id}/logs?follow=1&stdout=1&stderr=1")),
        "following the container's output",
        |chunk| {
            demux.feed(chunk, &mut on_line);
            Ok(())
        },
    )?;
    demux.finish(&mut on_line);

    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Waited {
        status_code: i64,
    }
    let waited: Waited = engine::send_json(
        engine::request("POST", &format!("/containers/{id}/wait")),
        "waiting for the container",
    )?;
    let output_files = copy_out(id, config)?;
    for reserved in ["exitCode", "outputFiles"] {
        if values.remove(reserved).is_some() {
            sluice_plugin::warn!("ignored output `{reserved}` from the container: the task sets it");
        }
    }
    if waited.status_code != 0 {
        let lines: Vec<String> = tail.into_iter().collect();
        return Err(TaskError::failed(format!(
            "the container exited with code {}; last lines:\n{}",
            waited.status_code,
            lines.join("\n")
        )));
    }
    Ok(RunOutput { exit_code: waited.status_code, output_files, values })
}

/// Copies the files matching `outputFiles` from `workdir` into the workspace.
fn copy_out(id: &str, config: &RunConfig) -> Result<Vec<String>, TaskError> {
    if config.output_files.is_empty() {
        return Ok(Vec::new());
    }
    let globs: Vec<Glob> = config.output_files.iter().map(|g| Glob::new(g)).collect();
    let mut written: Vec<String> = Vec::new();
    let mut reader = TarReader::default();
    let mut failure: Option<std::io::Error> = None;
    let workspace = sluice_plugin::workspace();
    let mut on_entry = |name: &str, found: Found| -> std::io::Result<Option<Box<dyn Write>>> {
        // Entries are named after the last component of `workdir`: strip it.
        let Some((_, relative)) = name.split_once('/') else { return Ok(None) };
        let Found::File { executable } = found else { return Ok(None) };
        if !globs.iter().any(|g| g.matches(relative)) {
            return Ok(None);
        }
        let Some(clean) = clean_relative(relative) else { return Ok(None) };
        let target = workspace.join(&clean);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::File::create(&target)?;
        // The file keeps the container's executable bit (WASI cannot set it; the host does).
        if let Err(err) = sluice_plugin::workspace::set_executable(&target, executable) {
            sluice_plugin::warn!("{err}");
        }
        written.push(clean);
        Ok(Some(Box::new(std::io::BufWriter::with_capacity(256 << 10, file))))
    };
    let path = encode(&config.workdir);
    engine::send_streaming(
        engine::request("GET", &format!("/containers/{id}/archive?path={path}")),
        "copying the output files out of the container",
        |chunk| {
            if failure.is_none()
                && let Err(err) = reader.feed(chunk, &mut on_entry)
            {
                failure = Some(err);
            }
            Ok(())
        },
    )?;
    drop(reader);
    if let Some(err) = failure {
        return Err(TaskError::failed(format!("writing the output files into the workspace: {err}")));
    }
    written.sort();
    for (glob, pattern) in globs.iter().zip(&config.output_files) {
        if !written.iter().any(|w| glob.matches(w)) {
            sluice_plugin::warn!("`outputFiles`: nothing in {} matched `{pattern}`", config.workdir);
        }
    }
    sluice_plugin::info!("copied {} output files into the workspace", written.len());
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(memory_bytes(&Memory::Text("512m".into())).ok(), Some(512 << 20));
        assert_eq!(memory_bytes(&Memory::Text("1.5g".into())).ok(), Some(3 << 29));
        assert_eq!(memory_bytes(&Memory::Text("64MB".into())).ok(), Some(64 << 20));
        assert_eq!(memory_bytes(&Memory::Bytes(1000)).ok(), Some(1000));
        assert!(memory_bytes(&Memory::Text("lots".into())).is_err());
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(clean_relative("./a//b/c.txt"), Some("a/b/c.txt".into()));
        assert_eq!(clean_relative("../x"), None);
        assert_eq!(clean_relative("/etc/passwd"), None);
    }
}
