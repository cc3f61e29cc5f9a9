//! The `.git` directory of a checkout, written so that the real `git` reads it in later steps
//! (`git log`, `git status`, `git describe`): config, HEAD and refs, `shallow`, the received pack
//! with its `.idx`, and the index. `core.fileMode` is on: the checkout sets the executable bit
//! through the host's `workspace` interface. `core.symlinks` is off because symlinks that would
//! lead outside the checkout are written as regular files; the index keeps the real modes.

use std::path::{Path, PathBuf};

use sluice_plugin::TaskError;

use crate::checkout::Entry;
use crate::object::Objects;
use crate::oid::{Oid, sha1};
use crate::pack::{self, Decoded};

/// What HEAD is.
pub enum Head {
    Branch(String),
    Detached(Oid),
}

fn io(what: &str, path: &Path, err: std::io::Error) -> TaskError {
    TaskError::failed(format!("cannot {what} {}: {err}", path.display()))
}

fn write(path: PathBuf, data: impl AsRef<[u8]>) -> Result<(), TaskError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
    }
    std::fs::write(&path, data).map_err(|e| io("write", &path, e))
}

/// Write the loose ref `name` (`refs/tags/release/1.0`), creating the directories its `/`s
/// call for.
pub fn write_ref(git: &Path, name: &str, oid: Oid) -> Result<(), TaskError> {
    write(git.join(name), format!("{oid}\n"))
}

/// Read the ref `name`: its loose file, else its line in `packed-refs` (where `git pack-refs`
/// or `git gc` in an earlier step may have moved it).
pub fn read_ref(git: &Path, name: &str) -> Result<Oid, TaskError> {
    let path = git.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let packed = std::fs::read_to_string(git.join("packed-refs")).unwrap_or_default();
            return packed
                .lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
                .find_map(|l| l.split_once(' ').filter(|(_, n)| *n == name).map(|(hex, _)| hex))
                .and_then(Oid::from_hex)
                .ok_or_else(|| {
                    TaskError::failed(format!("{name} is neither in {} nor in packed-refs", git.display()))
                });
        }
        Err(e) => return Err(io("read", &path, e)),
    };
    Oid::from_hex(text.trim()).ok_or_else(|| TaskError::failed(format!("{} is corrupt", path.display())))
}

/// Create `.git` for a fresh clone.
pub fn init(git: &Path, url: &str, head: &Head, commit: Oid, shallow: &[Oid]) -> Result<(), TaskError> {
    let mut config = String::from(
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tsymlinks = false\n\tbare = false\n\tlogallrefupdates = true\n",
    );
    config.push_str(&format!(
        "[remote \"origin\"]\n\turl = {url}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
    ));
    match head {
        Head::Branch(branch) => {
            config.push_str(&format!(
                "[branch {}]\n\tremote = origin\n\tmerge = refs/heads/{branch}\n",
                subsection(branch)
            ));
            update_branch(git, branch, commit)?;
        }
        Head::Detached(oid) => {
            write(git.join("HEAD"), format!("{oid}\n"))?;
            std::fs::create_dir_all(git.join("refs/heads")).map_err(|e| io("create", git, e))?;
        }
    }
    std::fs::create_dir_all(git.join("refs/tags")).map_err(|e| io("create", git, e))?;
    write(git.join("config"), config)?;
    write(git.join("description"), "cloned by sluice\n")?;
    if !shallow.is_empty() {
        let lines: String = shallow.iter().map(|oid| format!("{oid}\n")).collect();
        write(git.join("shallow"), lines)?;
    }
    Ok(())
}

/// Record a cloned submodule in `config`, as `git submodule init` does (`active`, `url`).
pub fn add_submodule(git: &Path, name: &str, url: &str) -> Result<(), TaskError> {
    let path = git.join("config");
    let mut config = std::fs::read_to_string(&path).map_err(|e| io("read", &path, e))?;
    config.push_str(&format!("[submodule {}]\n\tactive = true\n\turl = {url}\n", subsection(name)));
    write(path, config)
}

/// A config subsection name, quoted (`[branch "a\"b"]`): `"` and `\` are escaped.
fn subsection(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Store a pack and its index under `objects/pack`.
pub fn store_pack(git: &Path, pack_bytes: &[u8], decoded: &Decoded) -> Result<(), TaskError> {
    let name = Oid(decoded.checksum).to_hex();
    let dir = git.join("objects/pack");
    write(dir.join(format!("pack-{name}.idx")), pack::index(&decoded.located, &decoded.checksum))?;
    write(dir.join(format!("pack-{name}.pack")), pack_bytes)?;
    std::fs::create_dir_all(git.join("objects/info")).map_err(|e| io("create", git, e))?;
    Ok(())
}

/// Write `.git/index` (version 2) for `entries`. Stat fields are zero, so git re-reads each file
/// once to check it (the index cannot know the host's inode numbers).
pub fn write_index(git: &Path, entries: &[Entry]) -> Result<(), TaskError> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut out = Vec::with_capacity(12 + sorted.len() * 80);
    out.extend_from_slice(b"DIRC");
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_be_bytes());
    for entry in sorted {
        let start = out.len();
        out.extend_from_slice(&[0u8; 24]); // ctime, mtime, dev, ino
        out.extend_from_slice(&entry.mode.to_be_bytes());
        out.extend_from_slice(&[0u8; 8]); // uid, gid
        out.extend_from_slice(&entry.size.to_be_bytes());
        out.extend_from_slice(&entry.oid.0);
        let name = entry.path.as_bytes();
        out.extend_from_slice(&(name.len().min(0xfff) as u16).to_be_bytes());
        out.extend_from_slice(name);
        // NUL-terminated and padded to a multiple of 8 bytes.
        let len = out.len() - start;
        out.resize(start + (len + 8) / 8 * 8, 0);
    }
    let checksum = sha1(&out);
    out.extend_from_slice(&checksum);
    write(git.join("index"), out)
}

/// The state of an existing checkout, for a push.
pub struct Repo {
    pub commit: Oid,
    pub objects: Objects,
}

/// Read HEAD and every object of `.git` (the packs this plugin wrote).
pub fn open(git: &Path) -> Result<Repo, TaskError> {
    let missing = |e: std::io::Error| {
        TaskError::failed(format!(
            "{} is not a repository cloned by git.clone ({e}); clone it first, with the same `directory`",
            git.display()
        ))
    };
    let head_text = std::fs::read_to_string(git.join("HEAD")).map_err(missing)?;
    let head_text = head_text.trim();
    let commit = match head_text.strip_prefix("ref: ") {
        Some(name) if crate::refs::valid_name(name) && name.starts_with("refs/heads/") => {
            read_ref(git, name)?
        }
        Some(name) => {
            return Err(TaskError::failed(format!(
                "{}/HEAD points at `{name}`, which is not a branch",
                git.display()
            )));
        }
        None => Oid::from_hex(head_text)
            .ok_or_else(|| TaskError::failed(format!("{}/HEAD is corrupt", git.display())))?,
    };
    let mut objects = Objects::new();
    let dir = git.join("objects/pack");
    for entry in std::fs::read_dir(&dir).map_err(|e| io("read", &dir, e))? {
        let path = entry.map_err(|e| io("read", &dir, e))?.path();
        if path.extension().is_some_and(|e| e == "pack") {
            let bytes = std::fs::read(&path).map_err(|e| io("read", &path, e))?;
            objects.extend(pack::decode(&bytes)?.objects);
        }
    }
    Ok(Repo { commit, objects })
}

/// Point `branch` (with its remote-tracking ref, and HEAD) at `commit`: after a clone or a push.
pub fn update_branch(git: &Path, branch: &str, commit: Oid) -> Result<(), TaskError> {
    write_ref(git, &format!("refs/heads/{branch}"), commit)?;
    write_ref(git, &format!("refs/remotes/origin/{branch}"), commit)?;
    write(git.join("HEAD"), format!("ref: refs/heads/{branch}\n"))
}
