//! `git.clone`: fetch one commit (and its history up to `depth`) over smart HTTP and check it
//! out into the workspace, with a `.git` that the real `git` can use afterwards.

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError};

use crate::checkout::{self, Summary};
use crate::gitdir::{self, Head};
use crate::object::{self, Kind};
use crate::oid::Oid;
use crate::refs::{self, Advertisement};
use crate::remote::{Remote, Service};
use crate::{fetch, pack, submodules};

pub struct CloneTask;

/// Config of `git.clone`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloneConfig {
    /// The repository URL (http or https, smart HTTP). Its origin is granted by default.
    pub url: String,
    /// The branch to check out (default: the remote's HEAD).
    #[serde(default)]
    pub branch: Option<String>,
    /// The tag to check out (instead of a branch).
    #[serde(default)]
    pub tag: Option<String>,
    /// The full 40-hex commit id to check out (instead of a branch or tag).
    #[serde(default)]
    pub commit: Option<String>,
    /// How many commits of history to fetch; 0 for the full history.
    #[serde(default = "default_depth")]
    pub depth: u32,
    /// Where to check out, relative to the workspace (default: the workspace itself). Must be
    /// empty or not exist.
    #[serde(default)]
    pub directory: Option<String>,
    /// User name for HTTP basic auth.
    #[serde(default)]
    pub username: Option<String>,
    /// Password or token for HTTP basic auth, normally `{{ secret('...') }}`.
    #[serde(default)]
    pub password: Option<String>,
    /// Also clone the submodules (each submodule's origin must be granted in `allow.network`).
    #[serde(default)]
    pub submodules: bool,
}

fn default_depth() -> u32 {
    1
}

/// Outputs of `git.clone`.
#[derive(Serialize, JsonSchema)]
pub struct CloneOutput {
    /// The full id of the checked-out commit.
    pub commit: String,
    /// The ref checked out (`refs/heads/main`, `refs/tags/v1.0`), or the commit id.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The checkout directory, relative to the workspace (`.` for the workspace itself).
    pub directory: String,
}

impl Task for CloneTask {
    const NAME: &'static str = "clone";
    const DESCRIPTION: &'static str = "Clones a git repository over smart HTTP (protocol v2, or v0 when \
        the server needs it) into the workspace: `url`, one of `branch`/`tag`/`commit` (default: \
        the remote's HEAD), `depth` (default 1; 0 for the full history), `directory`, basic-auth \
        `username`/`password`, `submodules`. Every object is verified by its hash. Writes a `.git` \
        the real git can use. Symlinks that would resolve outside the checkout are written as \
        regular files holding their target. Outputs `commit`, `ref` and `directory`. The origin \
        of `url` is granted by default.";
    type Config = CloneConfig;
    type Output = CloneOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("url")]
    }

    fn run(config: CloneConfig) -> Result<CloneOutput, TaskError> {
        let selectors = [&config.branch, &config.tag, &config.commit].iter().filter(|s| s.is_some()).count();
        if selectors > 1 {
            return Err(TaskError::invalid_config("set at most one of `branch`, `tag` and `commit`"));
        }
        let directory = relative_dir(config.directory.as_deref().unwrap_or("."), "directory")?;
        let remote = Remote::new(&config.url, config.username.as_deref(), config.password.as_deref())?;
        let what = match (&config.branch, &config.tag, &config.commit) {
            (Some(b), _, _) => Selector::Branch(ref_name("branch", "refs/heads/", b)?),
            (_, Some(t), _) => Selector::Tag(ref_name("tag", "refs/tags/", t)?),
            (_, _, Some(c)) => Selector::Commit(Oid::from_hex(c).ok_or_else(|| {
                TaskError::invalid_config(format!("at /commit: `{c}` is not a full 40-hex commit id"))
            })?),
            _ => Selector::Head,
        };
        prepare_dir(&directory)?;
        let cloned = clone_into(&remote, &what, config.depth, &directory)?;
        let summary = &cloned.summary;
        sluice_plugin::info!(
            "cloned {} {} at {} into {}: {} files, {} symlinks ({})",
            remote.url,
            cloned.reference,
            cloned.commit,
            directory.display(),
            summary.files,
            summary.symlinks,
            cloned.timings.iter().map(|(step, ms)| format!("{step} {ms} ms")).collect::<Vec<_>>().join(", ")
        );
        for path in &summary.unsafe_symlinks {
            sluice_plugin::warn!(
                "{path}: symlink target leaves the checkout; written as a regular file holding the target"
            );
        }
        if !summary.submodules.is_empty() {
            if config.submodules {
                submodules::clone_all(&remote, &cloned, &directory, config.depth, &config)?;
            } else {
                sluice_plugin::info!(
                    "{} submodules left empty (set `submodules: true` to clone them)",
                    summary.submodules.len()
                );
            }
        }
        Ok(CloneOutput {
            commit: cloned.commit.to_hex(),
            reference: cloned.reference,
            directory: directory.to_string_lossy().into_owned(),
        })
    }
}

/// `name` as a short ref name under `prefix`, checked (it becomes a path under `.git`).
pub fn ref_name(field: &str, prefix: &str, name: &str) -> Result<String, TaskError> {
    if refs::valid_name(&format!("{prefix}{name}")) {
        return Ok(name.to_string());
    }
    Err(TaskError::invalid_config(format!("at /{field}: `{name}` is not a valid {field} name")))
}

/// What to check out.
pub enum Selector {
    Head,
    Branch(String),
    Tag(String),
    Commit(Oid),
}

/// A finished clone.
pub struct Cloned {
    pub commit: Oid,
    pub reference: String,
    pub summary: Summary,
    pub objects: object::Objects,
    pub tree: Oid,
    /// Where the time went, for the log: `(step, milliseconds)`.
    pub timings: Vec<(&'static str, u128)>,
}

/// Clone `remote` at `what` into `dir` (existing and empty).
pub fn clone_into(remote: &Remote, what: &Selector, depth: u32, dir: &Path) -> Result<Cloned, TaskError> {
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |step: &'static str| {
        timings.push((step, clock.elapsed().as_millis()));
        clock = Instant::now();
    };
    let adv = refs::discover(remote, Service::UploadPack, true)?;
    let (want, reference, head) = select(&adv, what, remote)?;
    lap("refs");
    let fetched = fetch::fetch(remote, &adv, &[want], depth)?;
    lap("fetch");
    let decoded = pack::decode(&fetched.pack)?;
    lap("decode");
    let commit = peel_to_commit(&decoded.objects, want)?;
    let tree = object::parse_commit(&object::get(&decoded.objects, commit, Kind::Commit)?.data, commit)?.tree;
    let summary = checkout::checkout(&decoded.objects, tree, dir)?;
    lap("checkout");
    let git = dir.join(".git");
    let head = head.unwrap_or(Head::Detached(commit));
    gitdir::init(&git, &remote.url, &head, commit, &fetched.shallow)?;
    if let Selector::Tag(_) = what {
        gitdir::write_ref(&git, &reference, want)?;
    }
    gitdir::store_pack(&git, &fetched.pack, &decoded)?;
    gitdir::write_index(&git, &summary.entries)?;
    lap(".git");
    Ok(Cloned { commit, reference, summary, objects: decoded.objects, tree, timings })
}

/// The object to want, the ref name for the output, and what HEAD becomes.
fn select(
    adv: &Advertisement,
    what: &Selector,
    remote: &Remote,
) -> Result<(Oid, String, Option<Head>), TaskError> {
    let names = |prefix: &str| {
        let mut names: Vec<&str> = adv.refs.iter().filter_map(|r| r.name.strip_prefix(prefix)).collect();
        names.truncate(20);
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    };
    match what {
        Selector::Head => {
            let head = adv.find("HEAD").ok_or_else(|| {
                TaskError::failed(format!(
                    "{} is empty (it has no HEAD commit); push a first commit or pick a `branch`",
                    remote.url
                ))
            })?;
            // The server names HEAD's branch, and the name becomes a path: it must be a valid one.
            if let Some(target) = adv.head_target.as_deref().filter(|t| !refs::valid_name(t)) {
                return Err(TaskError::failed(format!(
                    "the HEAD of {} points at `{target}`, which is not a valid ref name; pick a `branch`",
                    remote.url
                )));
            }
            let branch = adv.head_target.as_deref().and_then(|t| t.strip_prefix("refs/heads/"));
            let reference = adv.head_target.clone().unwrap_or_else(|| "HEAD".to_string());
            Ok((head.oid, reference, branch.map(|b| Head::Branch(b.to_string()))))
        }
        Selector::Branch(branch) => {
            let name = format!("refs/heads/{branch}");
            let r = adv.find(&name).ok_or_else(|| {
                TaskError::failed(format!(
                    "branch `{branch}` not found in {}; its branches: {}",
                    remote.url,
                    names("refs/heads/")
                ))
            })?;
            Ok((r.oid, name, Some(Head::Branch(branch.clone()))))
        }
        Selector::Tag(tag) => {
            let name = format!("refs/tags/{tag}");
            let r = adv.find(&name).ok_or_else(|| {
                TaskError::failed(format!(
                    "tag `{tag}` not found in {}; its tags: {}",
                    remote.url,
                    names("refs/tags/")
                ))
            })?;
            Ok((r.oid, name, None))
        }
        Selector::Commit(oid) => Ok((*oid, oid.to_hex(), None)),
    }
}

/// Follow annotated tags to the commit.
fn peel_to_commit(objects: &object::Objects, mut oid: Oid) -> Result<Oid, TaskError> {
    for _ in 0..10 {
        match objects.get(&oid) {
            Some(o) if o.kind == Kind::Commit => return Ok(oid),
            Some(o) if o.kind == Kind::Tag => {
                oid = object::tag_target(&o.data)
                    .ok_or_else(|| TaskError::failed(format!("tag {oid} is corrupt")))?;
            }
            Some(o) => {
                return Err(TaskError::failed(format!("{oid} is a {}, not a commit", o.kind.name())));
            }
            None => {
                return Err(TaskError::failed(format!(
                    "commit {oid} not found: the server did not send it (is it in the repository?)"
                )));
            }
        }
    }
    Err(TaskError::failed(format!("tag chain too long at {oid}")))
}

/// A workspace-relative directory: no absolute path, no `..`.
pub fn relative_dir(text: &str, field: &str) -> Result<PathBuf, TaskError> {
    let path = Path::new(text);
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => {
                return Err(TaskError::invalid_config(format!(
                    "at /{field}: `{text}` must be a relative path inside the workspace (no `/` at the start, no `..`)"
                )));
            }
        }
    }
    if clean.as_os_str().is_empty() {
        clean.push(".");
    }
    Ok(clean)
}

/// Create `dir`, or check that it is empty.
fn prepare_dir(dir: &Path) -> Result<(), TaskError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| TaskError::failed(format!("cannot create {}: {e}", dir.display())))?;
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| TaskError::failed(format!("cannot read {}: {e}", dir.display())))?;
    if entries.next().is_some() {
        let name =
            if dir == Path::new(".") { "the workspace".to_string() } else { dir.display().to_string() };
        return Err(TaskError::failed(format!(
            "{name} is not empty; clone into an empty or new `directory`"
        )));
    }
    Ok(())
}
