//! `git.push`: commit the workspace's changes in a checkout made by `git.clone` and push the
//! commit to a branch of the remote (`receive-pack` over smart HTTP).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError};

use crate::checkout::{self, Entry};
use crate::clone::{ref_name, relative_dir};
use crate::gitdir;
use crate::object::{
    self, Kind, MODE_EXECUTABLE, MODE_FILE, MODE_GITLINK, MODE_SYMLINK, MODE_TREE, Objects, TreeEntry,
};
use crate::oid::Oid;
use crate::pack;
use crate::pktline::{Packet, Reader, Writer, read_sideband};
use crate::refs;
use crate::remote::{Remote, Service};

pub struct PushTask;

/// Config of `git.push`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushConfig {
    /// The repository URL (http or https), normally the one the checkout was cloned from. Its
    /// origin is granted by default.
    pub url: String,
    /// The branch to push to.
    pub branch: String,
    /// Create `branch` on the remote when it does not exist.
    #[serde(default)]
    pub create: bool,
    /// The checkout made by `git.clone`, relative to the workspace (default: the workspace).
    #[serde(default)]
    pub directory: Option<String>,
    /// Which changes to commit: paths or globs relative to the checkout (`manifests/**`,
    /// `deploy/app.yaml`); a directory includes everything under it. Default: every change.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// The commit message.
    pub message: String,
    /// Author (and committer) name.
    pub author_name: String,
    /// Author (and committer) email.
    pub author_email: String,
    /// User name for HTTP basic auth.
    #[serde(default)]
    pub username: Option<String>,
    /// Password or token for HTTP basic auth, normally `{{ secret('...') }}`.
    #[serde(default)]
    pub password: Option<String>,
    /// Push even when the push is not a fast-forward of the remote branch (its tip is not in the
    /// history of the commit pushed: someone else pushed since the clone), replacing what is there.
    #[serde(default)]
    pub force: bool,
}

/// Outputs of `git.push`.
#[derive(Serialize, JsonSchema)]
pub struct PushOutput {
    /// The id of the commit now at the tip of `branch` (the base commit when nothing changed).
    pub commit: String,
    /// Whether a new commit was made.
    pub changed: bool,
}

impl Task for PushTask {
    const NAME: &'static str = "push";
    const DESCRIPTION: &'static str = "Commits the changes of a `git.clone` checkout (`directory`; only \
        `paths`, paths or globs, when given) with `message` by `authorName`/`authorEmail`, and \
        pushes the commit to `branch` of `url` (created when `create` is true) with basic-auth \
        `username`/`password`. Refuses a push that is not a fast-forward of the remote branch \
        (someone else pushed since the clone) unless `force` is true. Outputs `commit` and \
        `changed`. The origin of `url` is granted by default.";
    type Config = PushConfig;
    type Output = PushOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("url")]
    }

    fn run(config: PushConfig) -> Result<PushOutput, TaskError> {
        let dir = relative_dir(config.directory.as_deref().unwrap_or("."), "directory")?;
        ref_name("branch", "refs/heads/", &config.branch)?;
        let patterns = patterns(config.paths.as_deref())?;
        let remote = Remote::new(&config.url, config.username.as_deref(), config.password.as_deref())?;
        let git = dir.join(".git");
        let mut repo = gitdir::open(&git)?;
        let base = repo.commit;
        let base_tree =
            object::parse_commit(&object::get(&repo.objects, base, Kind::Commit)?.data, base)?.tree;
        let (_, base_entries) = checkout::flatten(&repo.objects, base_tree)?;
        let before: BTreeMap<String, (u32, Oid)> =
            base_entries.iter().map(|e| (e.path.clone(), (e.mode, e.oid))).collect();

        // The new tree: the base with the selected paths as they are on disk.
        let mut after = before.clone();
        let mut new_objects: Vec<(Kind, Vec<u8>)> = Vec::new();
        let mut on_disk = BTreeMap::new();
        let gitlinks: Vec<&str> =
            base_entries.iter().filter(|e| e.mode == MODE_GITLINK).map(|e| e.path.as_str()).collect();
        let selected = |path: &str| patterns.iter().any(|p| matches(p, path));
        scan(&dir, "", &gitlinks, &selected, &mut on_disk)?;
        for (path, file) in &on_disk {
            let (mode, data) = match file {
                DiskFile::Symlink(target) => (MODE_SYMLINK, target.clone()),
                DiskFile::Regular(data) => {
                    // A symlink that pointed outside was checked out as a regular file holding
                    // its target: it stays a symlink. Otherwise the executable bit decides, read
                    // through the host (WASI's `stat` does not show it).
                    let mode = match before.get(path) {
                        Some((MODE_SYMLINK, _)) => MODE_SYMLINK,
                        _ if sluice_plugin::workspace::is_executable(&dir.join(path))? => MODE_EXECUTABLE,
                        _ => MODE_FILE,
                    };
                    (mode, data.clone())
                }
            };
            let oid = Oid::of_object("blob", &data);
            if !repo.objects.contains_key(&oid)
                && !new_objects.iter().any(|(_, d)| Oid::of_object("blob", d) == oid)
            {
                new_objects.push((Kind::Blob, data));
            }
            after.insert(path.clone(), (mode, oid));
        }
        after
            .retain(|path, (mode, _)| *mode == MODE_GITLINK || on_disk.contains_key(path) || !selected(path));

        let changed = after != before;
        let commit = if changed {
            let tree = build_tree(&after, &mut new_objects)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let who = format!("{} <{}> {now} +0000", config.author_name, config.author_email);
            let mut message = config.message.clone();
            if !message.ends_with('\n') {
                message.push('\n');
            }
            let text = format!("tree {tree}\nparent {base}\nauthor {who}\ncommitter {who}\n\n{message}");
            let oid = Oid::of_object("commit", text.as_bytes());
            new_objects.push((Kind::Commit, text.into_bytes()));
            oid
        } else {
            sluice_plugin::info!("nothing to commit in {}", dir.display());
            base
        };

        let refname = format!("refs/heads/{}", config.branch);
        let adv = refs::discover(&remote, Service::ReceivePack, false)?;
        let old = match adv.find(&refname) {
            None if !config.create => {
                return Err(TaskError::failed(format!(
                    "branch `{}` does not exist in {}; set `create: true` to create it",
                    config.branch, remote.url
                )));
            }
            None => Oid::ZERO,
            Some(r) if r.oid == commit => {
                sluice_plugin::info!("{refname} of {} is already at {commit}", remote.url);
                gitdir::update_branch(&git, &config.branch, commit)?;
                return Ok(PushOutput { commit: commit.to_hex(), changed });
            }
            // A fast-forward: what the remote has is in the history of what we push (the new
            // commit's parent chain, as far as the checkout's objects go: with a shallow clone,
            // a remote tip older than the clone's history counts as moved).
            Some(r) if !config.force && !in_history(&repo.objects, base, r.oid) => {
                let on_top = if changed { format!(", made on top of {base}") } else { String::new() };
                return Err(TaskError::failed(format!(
                    "the remote moved: {refname} of {} is at {}, which is not in the history of {commit}, \
                     the commit to push{on_top}; clone again and redo the change, or set `force: true` \
                     to replace the remote's commits",
                    remote.url, r.oid
                )));
            }
            Some(r) => r.oid,
        };

        let objects: Vec<(Kind, &[u8])> = new_objects.iter().map(|(k, d)| (*k, d.as_slice())).collect();
        let pack_bytes = pack::encode(&objects);
        send(&remote, &adv, old, commit, &refname, &pack_bytes)?;
        sluice_plugin::info!(
            "pushed {commit} to {refname} of {} ({} new objects)",
            remote.url,
            objects.len()
        );

        // Keep the checkout's `.git` in step: the new objects, the branch, the index.
        if !objects.is_empty() {
            let decoded = pack::decode(&pack_bytes)?;
            gitdir::store_pack(&git, &pack_bytes, &decoded)?;
            repo.objects.extend(decoded.objects);
        }
        gitdir::update_branch(&git, &config.branch, commit)?;
        let entries: Vec<Entry> = after
            .iter()
            .map(|(path, (mode, oid))| Entry {
                path: path.clone(),
                mode: *mode,
                oid: *oid,
                size: repo.objects.get(oid).map_or(0, |o| o.data.len() as u32),
            })
            .collect();
        gitdir::write_index(&git, &entries)?;
        Ok(PushOutput { commit: commit.to_hex(), changed })
    }
}

/// Whether `wanted` is `from` or one of its ancestors, walking parents through `objects` (a
/// commit whose object is not there, the parent of a shallow clone's oldest commit, ends its
/// line).
fn in_history(objects: &Objects, from: Oid, wanted: Oid) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    while let Some(oid) = stack.pop() {
        if oid == wanted {
            return true;
        }
        if !seen.insert(oid) {
            continue;
        }
        if let Some(o) = objects.get(&oid).filter(|o| o.kind == Kind::Commit)
            && let Ok(commit) = object::parse_commit(&o.data, oid)
        {
            stack.extend(commit.parents);
        }
    }
    false
}

/// A file of the checkout as the sandbox sees it.
enum DiskFile {
    Regular(Vec<u8>),
    Symlink(Vec<u8>),
}

/// Every selected file under `dir`, by `/`-joined path; skips `.git` and submodule checkouts.
fn scan(
    dir: &Path,
    prefix: &str,
    gitlinks: &[&str],
    selected: &dyn Fn(&str) -> bool,
    out: &mut BTreeMap<String, DiskFile>,
) -> Result<(), TaskError> {
    let here = if prefix.is_empty() { dir.to_path_buf() } else { dir.join(prefix) };
    let io = |path: &str, e: std::io::Error| {
        TaskError::failed(format!("cannot read {}: {e}", dir.join(path).display()))
    };
    for entry in std::fs::read_dir(&here).map_err(|e| io(prefix, e))? {
        let entry = entry.map_err(|e| io(prefix, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == ".git" {
            continue;
        }
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let kind = entry.file_type().map_err(|e| io(&path, e))?;
        if kind.is_dir() {
            if !gitlinks.contains(&path.as_str()) {
                scan(dir, &path, gitlinks, selected, out)?;
            }
        } else if !selected(&path) {
            // Not to be committed, so not read (whatever it is).
        } else if kind.is_symlink() {
            // WASI reads no link whose target leads out of the workspace (absolute, or up past
            // its root): such a link cannot be committed from inside the sandbox.
            let target = std::fs::read_link(entry.path()).map_err(|e| {
                TaskError::failed(format!(
                    "cannot read the symlink {}: {e}; the sandbox does not read a link whose target \
                     leads outside the workspace, so it cannot be committed: leave it out of `paths`, \
                     or point it inside the checkout with a relative target",
                    dir.join(&path).display()
                ))
            })?;
            out.insert(path, DiskFile::Symlink(target.to_string_lossy().into_owned().into_bytes()));
        } else {
            let data = std::fs::read(entry.path()).map_err(|e| io(&path, e))?;
            out.insert(path, DiskFile::Regular(data));
        }
    }
    Ok(())
}

fn patterns(paths: Option<&[String]>) -> Result<Vec<glob::Pattern>, TaskError> {
    let Some(paths) = paths else {
        return Ok(vec![glob::Pattern::new("**").map_err(|e| TaskError::failed(e.to_string()))?]);
    };
    paths
        .iter()
        .map(|p| {
            glob::Pattern::new(p.trim_end_matches('/'))
                .map_err(|e| TaskError::invalid_config(format!("at /paths: `{p}` is not a valid glob: {e}")))
        })
        .collect()
}

/// A path matches a pattern itself or through one of its parent directories.
fn matches(pattern: &glob::Pattern, path: &str) -> bool {
    let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
    let mut prefix = path;
    loop {
        if pattern.matches_with(prefix, options) {
            return true;
        }
        match prefix.rfind('/') {
            Some(i) => prefix = &prefix[..i],
            None => return false,
        }
    }
}

/// Encode the trees of `files` (path -> mode, blob), adding them to `new_objects`; the root's id.
fn build_tree(
    files: &BTreeMap<String, (u32, Oid)>,
    new_objects: &mut Vec<(Kind, Vec<u8>)>,
) -> Result<Oid, TaskError> {
    #[derive(Default)]
    struct Dir {
        files: Vec<TreeEntry>,
        dirs: BTreeMap<String, Dir>,
    }
    fn encode(dir: Dir, new_objects: &mut Vec<(Kind, Vec<u8>)>) -> Oid {
        let mut entries = dir.files;
        for (name, sub) in dir.dirs {
            let oid = encode(sub, new_objects);
            entries.push(TreeEntry { mode: MODE_TREE, name, oid });
        }
        let data = object::encode_tree(&mut entries);
        let oid = Oid::of_object("tree", &data);
        new_objects.push((Kind::Tree, data));
        oid
    }
    let mut root = Dir::default();
    for (path, (mode, oid)) in files {
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default().to_string();
        let mut dir = &mut root;
        for part in parts {
            dir = dir.dirs.entry(part.to_string()).or_default();
        }
        dir.files.push(TreeEntry { mode: *mode, name, oid: *oid });
    }
    // Trees unchanged from the base are sent again; the server keeps one copy.
    Ok(encode(root, new_objects))
}

/// Send the ref update and the pack; read the server's report.
fn send(
    remote: &Remote,
    adv: &refs::Advertisement,
    old: Oid,
    new: Oid,
    refname: &str,
    pack_bytes: &[u8],
) -> Result<(), TaskError> {
    let sideband = adv.has("side-band-64k");
    let mut caps = vec!["report-status".to_string(), format!("agent={}", crate::AGENT)];
    if sideband {
        caps.push("side-band-64k".to_string());
    }
    let mut w = Writer::default();
    w.data(format!("{old} {new} {refname}\0{}\n", caps.join(" ")).as_bytes());
    w.flush();
    w.buf.extend_from_slice(pack_bytes);
    let body = remote.post(Service::ReceivePack, w.buf, false)?;
    let from = format!("{}/git-receive-pack", remote.url);
    let report = if sideband {
        let mut inner = Vec::new();
        read_sideband(&mut Reader::new(&body, &from), &mut inner)?;
        inner
    } else {
        body
    };
    let mut reader = Reader::new(&report, &from);
    let mut ok = false;
    while !reader.at_end() {
        match reader.next_line()? {
            (Packet::Data(_), line) => {
                if let Some(why) = line.strip_prefix("unpack ").filter(|s| *s != "ok") {
                    return Err(TaskError::failed(format!(
                        "the server could not unpack the pushed objects: {why}"
                    )));
                }
                if let Some(rest) = line.strip_prefix("ng ") {
                    let why = rest.strip_prefix(refname).unwrap_or(rest).trim();
                    return Err(TaskError::failed(format!(
                        "the server rejected the push to {refname}: {why}"
                    )));
                }
                if line.strip_prefix("ok ") == Some(refname) {
                    ok = true;
                }
            }
            (Packet::Flush, _) => break,
            _ => return Err(reader.garbage("unexpected packet in the push report")),
        }
    }
    if !ok {
        return Err(reader.garbage("no status for the pushed branch"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_select_paths_and_directories() {
        let p = |s: &str| glob::Pattern::new(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches(&p("manifests"), "manifests/app/deploy.yaml"));
        assert!(matches(&p("manifests/*.yaml"), "manifests/a.yaml"));
        assert!(!matches(&p("manifests/*.yaml"), "other/a.yaml"));
        assert!(matches(&p("**"), "a/b/c"));
        assert!(!matches(&p("*.md"), "docs/x.rs"));
    }

    #[test]
    fn fast_forwards_are_found_through_the_parents() {
        let mut objects = Objects::new();
        let mut commit = |name: &str, parents: &[Oid]| {
            let parents: String = parents.iter().map(|p| format!("parent {p}\n")).collect();
            let text = format!("tree {}\n{parents}author a <a@b> 0 +0000\n\n{name}\n", Oid::ZERO);
            let oid = Oid::of_object("commit", text.as_bytes());
            objects.insert(oid, object::Object { kind: Kind::Commit, data: text.into_bytes() });
            oid
        };
        // `shallow` stands for a commit whose parent the clone did not fetch.
        let shallow = commit("shallow", &[Oid([9; 20])]);
        let a = commit("a", &[shallow]);
        let b = commit("b", &[a]);
        let side = commit("side", &[]);
        let merge = commit("merge", &[b, side]);
        assert!(in_history(&objects, b, b));
        assert!(in_history(&objects, b, a));
        assert!(in_history(&objects, merge, side));
        assert!(in_history(&objects, merge, shallow));
        assert!(!in_history(&objects, a, b), "a descendant is not in the history");
        assert!(!in_history(&objects, b, side));
        // The shallow commit's parent line names its parent, though the clone has no object of it.
        assert!(in_history(&objects, b, Oid([9; 20])));
        assert!(!in_history(&objects, b, Oid([8; 20])));
    }
}
