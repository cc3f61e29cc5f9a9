//! What the git plugin's clone and push suites share: the fixture repository, running a flow
//! with the real `sluice` binary, and checking a clone against its source with the real `git`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "../common/doc.rs"]
mod doc;
pub use doc::run_of;

use super::{git, git_bytes, make_repo};

/// Symlinks of the fixture whose targets stay inside the checkout; the others are written as
/// regular files holding the target.
pub const SAFE_LINKS: [&str; 2] = ["link-inside", "dir-link"];

/// `len` bytes that do not compress (xorshift from `seed`), the same for the same seed.
pub fn incompressible(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

/// The fixture: binary, executable, nested, empty files, four symlinks, an annotated and a
/// lightweight tag, two commits on main (the second changes a large file slightly, so a full
/// clone gets deltas) and a `dev` branch with a third.
pub fn fixture(root: &Path) -> PathBuf {
    make_repo(root, "fixture", |w| {
        std::fs::write(w.join("README.md"), "# fixture\n").unwrap();
        std::fs::create_dir_all(w.join("bin")).unwrap();
        std::fs::write(w.join("bin/data.bin"), incompressible(0x2545_f491, 70_000)).unwrap();
        std::fs::create_dir_all(w.join("scripts")).unwrap();
        std::fs::write(w.join("scripts/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        git(w, &["update-index", "--add", "--chmod=+x", "scripts/run.sh"]);
        std::fs::create_dir_all(w.join("a/b/c/d")).unwrap();
        std::fs::write(w.join("a/b/c/d/nested.txt"), "deep\n").unwrap();
        std::fs::write(w.join("empty.txt"), "").unwrap();
        let big: String = (0..3000).map(|i| format!("line {i} of a large text file\n")).collect();
        std::fs::write(w.join("big.txt"), &big).unwrap();
        std::os::unix::fs::symlink("README.md", w.join("link-inside")).unwrap();
        std::os::unix::fs::symlink("a/b", w.join("dir-link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", w.join("link-outside")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", w.join("abs-link")).unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "first"]);
        git(w, &["tag", "-a", "v1", "-m", "version 1"]);
        git(w, &["tag", "light"]);
        std::fs::write(w.join("big.txt"), big.replace("line 1500 of", "LINE 1500 OF")).unwrap();
        std::fs::create_dir_all(w.join("notes")).unwrap();
        std::fs::write(w.join("notes/two.txt"), "second commit\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "second"]);
        git(w, &["checkout", "-q", "-b", "dev"]);
        std::fs::write(w.join("dev.txt"), "on dev\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "third, on dev"]);
        git(w, &["checkout", "-q", "main"]);
    })
}

pub struct Run {
    pub code: i32,
    pub doc: Value,
    pub workspace: PathBuf,
    pub stdout: String,
}

/// `sluice run <flow> --json` in a fresh data dir (with the `test` plugin installed, for its
/// `write-file` task).
///
/// One flow at a time, so a test's timeouts hold on two cores. (The "connection reset" seen
/// now and then on a GET was the host sending a GET before the guest finished its empty body;
/// the sandbox now waits for it: `hostile::many_gets_at_once_all_get_their_answer`.)
pub fn run_flow(data: &Path, yaml: &str, env: &[(&str, &str)]) -> Run {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    std::fs::create_dir_all(data.join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, data.join("plugins/test.wasm")).unwrap();
    let flow = data.join("flow.yaml");
    std::fs::write(&flow, yaml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.arg("--data-dir").arg(data).args(["run", flow.to_str().unwrap(), "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    let workspaces: Vec<PathBuf> =
        std::fs::read_dir(data.join("workspaces")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(workspaces.len(), 1, "{workspaces:?}");
    Run { code: output.status.code().unwrap(), doc, workspace: workspaces[0].clone(), stdout }
}

pub fn flow(tasks: &str) -> String {
    format!("id: git-test\nnamespace: tests\ntasks:\n{tasks}")
}

pub fn error_of(doc: &Value, id: &str) -> String {
    let run = run_of(doc, id);
    assert!(run["state"] == "FAILED" || run["state"] == "WARNING", "{doc:#}");
    run["error"].as_str().unwrap().to_owned()
}

/// Every path of the checkout on disk (files, symlinks and directories), `.git` left out.
pub fn disk_paths(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir.join(prefix)).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefix.is_empty() && name == ".git" {
            continue;
        }
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let kind = entry.file_type().unwrap();
        out.insert(path.clone());
        if kind.is_dir() && !kind.is_symlink() {
            disk_paths(dir, &path, out);
        }
    }
}

/// The mode this process gives a new file (`0644` under a `022` umask): what a `100644` blob's
/// file has on disk; a `100755` one has the executable bits too (`0755`), as `chmod +x` gives.
pub fn new_file_mode() -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let probe = tempfile::tempdir().unwrap();
    std::fs::write(probe.path().join("new"), "").unwrap();
    std::fs::metadata(probe.path().join("new")).unwrap().permissions().mode() & 0o777
}

/// The checkout in `dir` is exactly `rev` of `bare`: same set of paths; every blob's bytes equal
/// `git cat-file`, and its file is executable exactly when the blob is `100755`; symlinks are
/// symlinks with the same target when safe, else regular files holding it; the clone's index
/// (`git ls-files -s`) equals `git ls-tree -r` (mode, id, path); and the real git, trusting the
/// executable bit (`core.fileMode = true`), finds the clone clean and sound.
pub fn assert_checkout(bare: &Path, rev: &str, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let file_mode = new_file_mode();
    let listing = git_bytes(bare, &["ls-tree", "-r", "-z", "--full-tree", rev]);
    let mut expected_paths = BTreeSet::new();
    let mut index_expected = Vec::new();
    for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8(record.to_vec()).unwrap();
        let (meta, path) = record.split_once('\t').unwrap();
        let parts: Vec<&str> = meta.split(' ').collect();
        let (mode, oid) = (parts[0], parts[2]);
        index_expected.push(format!("{mode} {oid} 0\t{path}"));
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            expected_paths.insert(p.to_string_lossy().into_owned());
            parent = p.parent();
        }
        expected_paths.insert(path.to_string());
        let content = git_bytes(bare, &["cat-file", "blob", oid]);
        let on_disk = dir.join(path);
        let meta = std::fs::symlink_metadata(&on_disk).unwrap_or_else(|e| panic!("{path}: {e}"));
        match mode {
            "100644" | "100755" => {
                assert!(meta.is_file(), "{path} is not a regular file");
                assert!(std::fs::read(&on_disk).unwrap() == content, "{path}: content differs");
                let expected = if mode == "100755" { file_mode | 0o111 } else { file_mode };
                assert_eq!(meta.permissions().mode() & 0o777, expected, "{path}: mode on disk ({mode})");
            }
            "120000" if SAFE_LINKS.contains(&path) => {
                assert!(meta.file_type().is_symlink(), "{path} is not a symlink");
                assert_eq!(
                    std::fs::read_link(&on_disk).unwrap().as_os_str().as_encoded_bytes(),
                    content,
                    "{path}"
                );
            }
            "120000" => {
                assert!(meta.is_file(), "{path} (pointing outside) must be a regular file");
                assert_eq!(std::fs::read(&on_disk).unwrap(), content, "{path}");
            }
            other => panic!("unexpected mode {other} for {path}"),
        }
    }
    let mut actual_paths = BTreeSet::new();
    disk_paths(dir, "", &mut actual_paths);
    assert_eq!(actual_paths, expected_paths, "paths on disk");
    let index = git_bytes(dir, &["ls-files", "-s", "-z"]);
    let index: Vec<String> = index
        .split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(|r| String::from_utf8(r.to_vec()).unwrap())
        .collect();
    assert_eq!(index, index_expected, "the clone's index against ls-tree -r");
    assert_eq!(git(dir, &["config", "core.fileMode"]).trim(), "true", "core.fileMode of the clone");
    assert_eq!(git(dir, &["status", "--porcelain"]), "", "git status of the clone");
    git(dir, &["fsck", "--full", "--no-dangling"]);
    let head = git(bare, &["rev-parse", &format!("{rev}^{{commit}}")]);
    assert_eq!(git(dir, &["rev-parse", "HEAD"]), head);
}

pub fn rev(bare: &Path, what: &str) -> String {
    git(bare, &["rev-parse", what]).trim().to_owned()
}

/// What a checkout holds, so that two checkouts (sluice's and the real git's) can be compared:
/// each path, `.git` directories and files left out at every level, with its kind, the
/// executable bit and the bytes, or the symlink target.
pub fn tree_content(dir: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir.join(prefix)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == ".git" {
                continue;
            }
            let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("symlink -> {}", std::fs::read_link(entry.path()).unwrap().display())
            } else if meta.is_dir() {
                walk(dir, &path, out);
                "directory".to_string()
            } else {
                let executable = meta.permissions().mode() & 0o100 != 0;
                let bytes = std::fs::read(entry.path()).unwrap();
                format!("file executable={executable} {:?}", String::from_utf8_lossy(&bytes))
            };
            out.insert(path, what);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}
