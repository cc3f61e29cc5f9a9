//! Git objects: kinds, trees and commits (parse and encode).

use std::collections::HashMap;

use sluice_plugin::TaskError;

use crate::oid::Oid;

/// The four object kinds, numbered as in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Commit = 1,
    Tree = 2,
    Blob = 3,
    Tag = 4,
}

impl Kind {
    pub fn from_pack_type(t: u8) -> Option<Kind> {
        match t {
            1 => Some(Kind::Commit),
            2 => Some(Kind::Tree),
            3 => Some(Kind::Blob),
            4 => Some(Kind::Tag),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
            Kind::Tag => "tag",
        }
    }
}

/// An object with its content.
pub struct Object {
    pub kind: Kind,
    pub data: Vec<u8>,
}

/// Every object of a fetch, by id.
pub type Objects = HashMap<Oid, Object>;

/// Tree entry modes git writes.
pub const MODE_FILE: u32 = 0o100644;
pub const MODE_EXECUTABLE: u32 = 0o100755;
pub const MODE_SYMLINK: u32 = 0o120000;
pub const MODE_TREE: u32 = 0o040000;
pub const MODE_GITLINK: u32 = 0o160000;

/// One entry of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub mode: u32,
    pub name: String,
    pub oid: Oid,
}

/// Look up `oid` as an object of `kind`.
pub fn get(objects: &Objects, oid: Oid, kind: Kind) -> Result<&Object, TaskError> {
    match objects.get(&oid) {
        Some(object) if object.kind == kind => Ok(object),
        Some(object) => Err(TaskError::failed(format!(
            "object {oid} is a {}, expected a {}; the repository is corrupt",
            object.kind.name(),
            kind.name()
        ))),
        None => Err(TaskError::failed(format!(
            "the server did not send {} {oid}; the repository or the server is incomplete",
            kind.name()
        ))),
    }
}

/// Parse a tree: `<octal mode> <name>\0<20-byte id>` repeated. Names that could escape the
/// checkout (`..`, `/`, `.git`) are refused: a hostile repository must not write outside.
pub fn parse_tree(data: &[u8], oid: Oid) -> Result<Vec<TreeEntry>, TaskError> {
    let corrupt = |why: &str| TaskError::failed(format!("tree {oid} is corrupt: {why}"));
    let mut entries = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(|| corrupt("no mode"))?;
        let mode = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .ok_or_else(|| corrupt("bad mode"))?;
        rest = &rest[space + 1..];
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(|| corrupt("no name end"))?;
        let name = std::str::from_utf8(&rest[..nul]).map_err(|_| corrupt("a name is not UTF-8"))?.to_string();
        let id =
            rest.get(nul + 1..nul + 21).and_then(Oid::from_bytes).ok_or_else(|| corrupt("truncated id"))?;
        rest = &rest[nul + 21..];
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains('/')
            || name.contains('\\')
            || name.eq_ignore_ascii_case(".git")
        {
            return Err(TaskError::failed(format!(
                "tree {oid} has an entry named `{name}`, which could write outside the checkout; refusing it"
            )));
        }
        entries.push(TreeEntry { mode: normalize_mode(mode), name, oid: id });
    }
    Ok(entries)
}

/// Git's normalized modes (old repositories have e.g. 100664).
fn normalize_mode(mode: u32) -> u32 {
    match mode & 0o170000 {
        0o040000 => MODE_TREE,
        0o120000 => MODE_SYMLINK,
        0o160000 => MODE_GITLINK,
        _ if mode & 0o111 != 0 => MODE_EXECUTABLE,
        _ => MODE_FILE,
    }
}

/// Encode a tree; `entries` in any order (sorted here the way git sorts: a directory as if its
/// name ended in `/`).
pub fn encode_tree(entries: &mut [TreeEntry]) -> Vec<u8> {
    entries.sort_by_key(sort_key);
    let mut out = Vec::new();
    for entry in entries.iter() {
        out.extend_from_slice(format!("{:o} {}", entry.mode, entry.name).as_bytes());
        out.push(0);
        out.extend_from_slice(&entry.oid.0);
    }
    out
}

fn sort_key(entry: &TreeEntry) -> Vec<u8> {
    let mut key = entry.name.as_bytes().to_vec();
    if entry.mode == MODE_TREE {
        key.push(b'/');
    }
    key
}

/// What a checkout and a push read of a commit: its tree and its parents.
pub struct Commit {
    pub tree: Oid,
    pub parents: Vec<Oid>,
}

pub fn parse_commit(data: &[u8], oid: Oid) -> Result<Commit, TaskError> {
    let corrupt = || TaskError::failed(format!("commit {oid} is corrupt"));
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let tree = lines.next().and_then(|l| l.strip_prefix("tree ")).and_then(Oid::from_hex);
    let mut parents = Vec::new();
    for line in lines {
        match line.strip_prefix("parent ") {
            Some(hex) => parents.push(Oid::from_hex(hex).ok_or_else(corrupt)?),
            None => break,
        }
    }
    Ok(Commit { tree: tree.ok_or_else(corrupt)?, parents })
}

/// The object an annotated tag points at.
pub fn tag_target(data: &[u8]) -> Option<Oid> {
    let text = String::from_utf8_lossy(data);
    text.lines().next().and_then(|l| l.strip_prefix("object ")).and_then(Oid::from_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_round_trip_in_git_order() {
        let oid = Oid([7; 20]);
        let mut entries = vec![
            TreeEntry { mode: MODE_FILE, name: "a.txt".into(), oid },
            TreeEntry { mode: MODE_TREE, name: "a".into(), oid },
            TreeEntry { mode: MODE_FILE, name: "a-b".into(), oid },
        ];
        let data = encode_tree(&mut entries);
        let names: Vec<String> =
            parse_tree(&data, oid).unwrap_or_default().into_iter().map(|e| e.name).collect();
        // "a-b" < "a.txt" < "a/" in byte order
        assert_eq!(names, ["a-b", "a.txt", "a"]);
    }

    #[test]
    fn refuses_escaping_names() {
        let mut entries = vec![TreeEntry { mode: MODE_FILE, name: "..".into(), oid: Oid([1; 20]) }];
        let data = encode_tree(&mut entries);
        assert!(parse_tree(&data, Oid::ZERO).is_err());
    }
}
