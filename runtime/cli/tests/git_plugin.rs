//! The git plugin end to end: the real `sluice` binary runs `git.clone` and `git.push` against
//! a real `git http-backend` (tests/support_git), and every clone is compared with the source
//! repository through the real `git` CLI: the content of every file, the mode and id of every
//! entry (the clone's index against `git ls-tree -r`), symlinks, and `git status`/`git fsck`.

#![allow(clippy::unwrap_used)]

mod common;
use common::doc::run_of;

mod support_git;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support_git::{GitServer, Hook, PASSWORD, USER, git, git_bytes, make_repo};

/// Symlinks of the fixture whose targets stay inside the checkout; the others are written as
/// regular files holding the target.
const SAFE_LINKS: [&str; 2] = ["link-inside", "dir-link"];

/// The fixture: binary, executable, nested, empty files, four symlinks, an annotated and a
/// lightweight tag, two commits on main (the second changes a large file slightly, so a full
/// clone gets deltas) and a `dev` branch with a third.
fn fixture(root: &Path) -> PathBuf {
    make_repo(root, "fixture", |w| {
        std::fs::write(w.join("README.md"), "# fixture\n").unwrap();
        std::fs::create_dir_all(w.join("bin")).unwrap();
        let mut state = 0x2545_f491_u32;
        let binary: Vec<u8> = (0..70_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        std::fs::write(w.join("bin/data.bin"), binary).unwrap();
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

struct Run {
    code: i32,
    doc: Value,
    workspace: PathBuf,
    stdout: String,
}

/// `sluice run <flow> --json` in a fresh data dir (with the `test` plugin installed, for its
/// `write-file` task).
///
/// One flow at a time, so a test's timeouts hold on two cores. (The "connection reset" seen
/// now and then on a GET was the host sending a GET before the guest finished its empty body;
/// the sandbox now waits for it: `hostile::many_gets_at_once_all_get_their_answer`.)
fn run_flow(data: &Path, yaml: &str, env: &[(&str, &str)]) -> Run {
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

fn flow(tasks: &str) -> String {
    format!("id: git-test\nnamespace: tests\ntasks:\n{tasks}")
}

fn error_of(doc: &Value, id: &str) -> String {
    let run = run_of(doc, id);
    assert!(run["state"] == "FAILED" || run["state"] == "WARNING", "{doc:#}");
    run["error"].as_str().unwrap().to_owned()
}

/// Every path of the checkout on disk (files, symlinks and directories), `.git` left out.
fn disk_paths(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
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
fn new_file_mode() -> u32 {
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
fn assert_checkout(bare: &Path, rev: &str, dir: &Path) {
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

fn rev(bare: &Path, what: &str) -> String {
    git(bare, &["rev-parse", what]).trim().to_owned()
}

#[test]
fn clone_of_the_default_branch_matches_the_source_byte_for_byte() {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    let url = format!("{}/fixture.git", server.origin);
    let run =
        run_flow(data.path(), &flow(&format!("  - id: clone\n    type: git.clone\n    url: {url}\n")), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    let main = rev(&bare, "main");
    assert_eq!(
        run.doc["outputs"]["clone"],
        serde_json::json!({"commit": main, "ref": "refs/heads/main", "directory": "."})
    );
    assert_checkout(&bare, "main", &run.workspace);
    // depth 1: one commit, recorded as shallow; HEAD is the branch.
    assert_eq!(git(&run.workspace, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(std::fs::read_to_string(run.workspace.join(".git/shallow")).unwrap(), format!("{main}\n"));
    assert_eq!(git(&run.workspace, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/main");
}

#[test]
fn clone_of_a_branch_a_tag_and_a_commit() {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    let url = format!("{}/fixture.git", server.origin);
    let first = rev(&bare, "v1^{commit}");
    let tasks = format!(
        "  - id: dev\n    type: git.clone\n    url: {url}\n    branch: dev\n    directory: dev\n\
         \x20 - id: tag\n    type: git.clone\n    url: {url}\n    tag: v1\n    directory: tag\n\
         \x20 - id: light\n    type: git.clone\n    url: {url}\n    tag: light\n    directory: light\n\
         \x20 - id: sha\n    type: git.clone\n    url: {url}\n    commit: {first}\n    directory: sha\n\
         \x20 - id: again\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    directory: dev/\n"
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(
        error_of(&run.doc, "again"),
        "failed: dev is not empty; clone into an empty or new `directory`"
    );
    let outputs = &run.doc["outputs"];
    assert_eq!(
        outputs["dev"],
        serde_json::json!({"commit": rev(&bare, "dev"), "ref": "refs/heads/dev", "directory": "dev"})
    );
    assert_eq!(
        outputs["tag"],
        serde_json::json!({"commit": first, "ref": "refs/tags/v1", "directory": "tag"})
    );
    assert_eq!(
        outputs["light"],
        serde_json::json!({"commit": first, "ref": "refs/tags/light", "directory": "light"})
    );
    assert_eq!(outputs["sha"], serde_json::json!({"commit": first, "ref": first, "directory": "sha"}));
    assert_checkout(&bare, "dev", &run.workspace.join("dev"));
    assert_checkout(&bare, "v1", &run.workspace.join("tag"));
    assert_checkout(&bare, "light", &run.workspace.join("light"));
    assert_checkout(&bare, &first, &run.workspace.join("sha"));
    assert_eq!(git(&run.workspace.join("tag"), &["describe", "--tags"]).trim(), "v1");
}

#[test]
fn full_history_clone_has_every_commit_and_resolves_deltas() {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    // Over a server without protocol v2 too.
    let tasks = format!(
        "  - id: full\n    type: git.clone\n    url: {0}/fixture.git\n    depth: 0\n    directory: full\n\
         \x20 - id: v0\n    type: git.clone\n    url: {0}/v0/fixture.git\n    depth: 0\n    branch: dev\n    directory: v0\n\
         \x20 - id: v0shallow\n    type: git.clone\n    url: {0}/v0/fixture.git\n    directory: v0shallow\n",
        server.origin
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    let full = run.workspace.join("full");
    assert_checkout(&bare, "main", &full);
    assert_checkout(&bare, "dev", &run.workspace.join("v0"));
    assert_checkout(&bare, "main", &run.workspace.join("v0shallow"));
    assert_eq!(git(&full, &["log", "--format=%H %s"]), git(&bare, &["log", "--format=%H %s", "main"]));
    assert_eq!(git(&run.workspace.join("v0"), &["rev-list", "--count", "HEAD"]).trim(), "3");
    assert_eq!(git(&run.workspace.join("v0shallow"), &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert!(!full.join(".git/shallow").exists());
    // The server sent deltas (the second version of big.txt against the first), and they were
    // resolved: `git verify-pack` lists delta chains in the pack the clone stored.
    let pack_dir = full.join(".git/objects/pack");
    let idx = std::fs::read_dir(&pack_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .unwrap();
    let verify = git(&full, &["verify-pack", "-v", idx.to_str().unwrap()]);
    assert!(verify.contains("chain length = 1"), "{verify}");
}

#[test]
fn clone_of_5000_files() {
    let root = tempfile::tempdir().unwrap();
    let bare = make_repo(root.path(), "many", |w| support_git::fill_many_files(w, 5000));
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    let run = run_flow(
        data.path(),
        &flow(&format!("  - id: clone\n    type: git.clone\n    url: {}/many.git\n", server.origin)),
        &[],
    );
    assert_eq!(run.code, 0, "{:#}", run.doc);
    assert_eq!(git(&bare, &["ls-tree", "-r", "--name-only", "main"]).lines().count(), 5000);
    assert_checkout(&bare, "main", &run.workspace);
}

#[test]
fn basic_auth_with_right_and_wrong_credentials() {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    let url = format!("{}/private/fixture.git", server.origin);
    let tasks = format!(
        "  - id: right\n    type: git.clone\n    url: {url}\n    directory: right\n    username: {USER}\n    password: \"{{{{ secret('GIT_TOKEN') }}}}\"\n    allow:\n      secrets: [GIT_TOKEN]\n\
         \x20 - id: wrong\n    type: git.clone\n    url: {url}\n    directory: wrong\n    username: {USER}\n    password: not-the-token\n\
         \x20 - id: none\n    type: git.clone\n    url: {url}\n    directory: none\n"
    );
    let tasks = tasks
        .replace("  - id: wrong", "  - id: wrong\n    allowFailure: true")
        .replace("  - id: none", "  - id: none\n    allowFailure: true");
    let run = run_flow(data.path(), &flow(&tasks), &[("SLUICE_SECRET_GIT_TOKEN", PASSWORD)]);
    assert_eq!(run_of(&run.doc, "right")["state"], "SUCCESS", "{:#}", run.doc);
    assert_checkout(&bare, "main", &run.workspace.join("right"));
    let expected = format!("authentication failed for {}: check username/password", server.origin);
    let wrong = error_of(&run.doc, "wrong");
    assert!(wrong.contains(&expected), "{wrong}");
    let none = error_of(&run.doc, "none");
    assert!(none.contains(&expected) && none.contains("no credentials were given"), "{none}");
    // The token is neither in the outputs nor in the clone's config.
    assert!(!run.stdout.contains(PASSWORD));
    let config = std::fs::read_to_string(run.workspace.join("right/.git/config")).unwrap();
    assert!(!config.contains(PASSWORD) && config.contains(&url), "{config}");
}

#[test]
fn unknown_branch_tag_and_commit_fail_clearly() {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    let url = format!("{}/fixture.git", server.origin);
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let tasks = format!(
        "  - id: branch\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    branch: nope\n    directory: b\n\
         \x20 - id: tag\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    tag: v9\n    directory: t\n\
         \x20 - id: commit\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    commit: {missing}\n    directory: c\n\
         \x20 - id: repo\n    allowFailure: true\n    type: git.clone\n    url: {}/nothing-here.git\n    directory: r\n",
        server.origin
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(
        error_of(&run.doc, "branch"),
        format!("failed: branch `nope` not found in {url}; its branches: dev, main")
    );
    assert_eq!(
        error_of(&run.doc, "tag"),
        format!("failed: tag `v9` not found in {url}; its tags: light, v1")
    );
    let commit = error_of(&run.doc, "commit");
    assert!(
        commit.starts_with("failed: the git server refused the fetch: upload-pack: not our ref")
            && commit.contains(missing)
            && commit.ends_with("the commit is not in the repository, or the server does not allow fetching it by id (pick a `branch` or `tag`)"),
        "{commit}"
    );
    let repo = error_of(&run.doc, "repo");
    assert!(repo.contains("no git repository at") && repo.contains("check the URL"), "{repo}");
}

#[test]
fn garbage_junk_and_hanging_servers_fail_clearly() {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    let tasks = format!(
        "  - id: garbage\n    allowFailure: true\n    type: git.clone\n    url: {0}/garbage/fixture.git\n    directory: g\n\
         \x20 - id: hang\n    allowFailure: true\n    timeout: 2s\n    type: git.clone\n    url: {0}/hang/fixture.git\n    directory: h\n\
         \x20 - id: junk\n    allowFailure: true\n    type: git.clone\n    url: {0}/junk/fixture.git\n    directory: j\n",
        server.origin
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    let garbage = error_of(&run.doc, "garbage");
    assert!(
        garbage.contains("did not answer as a git smart-HTTP server") && garbage.contains("text/html"),
        "{garbage}"
    );
    // The content-type of a ref advertisement, and junk in it.
    assert_eq!(
        error_of(&run.doc, "junk"),
        format!(
            "failed: {}/junk/fixture.git/info/refs did not answer as a git smart-HTTP server (`Welc` is not a \
             pkt-line length); check that the URL is a git repository served over smart HTTP",
            server.origin
        )
    );
    let hang = error_of(&run.doc, "hang");
    assert!(hang.contains("timed out") || hang.contains("timeout"), "{hang}");
}

#[test]
fn clone_refuses_bad_directories_and_selectors_before_any_request() {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    let url = format!("{}/fixture.git", server.origin);
    let clone = |id: &str, extra: &str| {
        format!("  - id: {id}\n    allowFailure: true\n    type: git.clone\n    url: {url}\n{extra}")
    };
    let tasks = [
        clone("up", "    directory: ../outside\n"),
        clone("inner", "    directory: src/../../outside\n"),
        clone("abs", "    directory: /tmp/outside\n"),
        "  - id: occupy\n    type: test.write-file\n    path: existing.txt\n    content: \"x\\n\"\n".to_string(),
        clone("here", ""),
        clone("twice", "    directory: \"./\"\n"),
        clone("two", "    branch: main\n    tag: v1\n    directory: two\n"),
        clone("three", "    branch: main\n    tag: v1\n    commit: 0123456789abcdef0123456789abcdef01234567\n    directory: three\n"),
        clone("badbranch", "    branch: feature/../x\n    directory: bad\n"),
        clone("badtag", "    tag: \"v1:x\"\n    directory: bad\n"),
        clone("short", "    commit: abc123\n    directory: short\n"),
    ]
    .concat();
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    let outside = |dir: &str| {
        format!(
            "invalid config: at /directory: `{dir}` must be a relative path inside the workspace (no `/` at the start, no `..`)"
        )
    };
    assert_eq!(error_of(&run.doc, "up"), outside("../outside"));
    assert_eq!(error_of(&run.doc, "inner"), outside("src/../../outside"));
    assert_eq!(error_of(&run.doc, "abs"), outside("/tmp/outside"));
    let occupied = "failed: the workspace is not empty; clone into an empty or new `directory`";
    assert_eq!(error_of(&run.doc, "here"), occupied);
    assert_eq!(error_of(&run.doc, "twice"), occupied);
    let one = "invalid config: set at most one of `branch`, `tag` and `commit`";
    assert_eq!(error_of(&run.doc, "two"), one);
    assert_eq!(error_of(&run.doc, "three"), one);
    assert_eq!(
        error_of(&run.doc, "badbranch"),
        "invalid config: at /branch: `feature/../x` is not a valid branch name"
    );
    assert_eq!(error_of(&run.doc, "badtag"), "invalid config: at /tag: `v1:x` is not a valid tag name");
    assert_eq!(
        error_of(&run.doc, "short"),
        "invalid config: at /commit: `abc123` is not a full 40-hex commit id"
    );
    assert_eq!(server.requests(), 0, "a refused config sent a request");
    // Nothing was written: not outside the workspace, not in it beside the file already there.
    assert!(!run.workspace.parent().unwrap().join("outside").exists());
    let mut paths = BTreeSet::new();
    disk_paths(&run.workspace, "", &mut paths);
    assert_eq!(paths, BTreeSet::from(["existing.txt".to_string()]));
}

/// What a checkout holds, so that two checkouts (sluice's and the real git's) can be compared:
/// each path, `.git` directories and files left out at every level, with its kind, the
/// executable bit and the bytes, or the symlink target.
fn tree_content(dir: &Path) -> BTreeMap<String, String> {
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

/// `app` has the submodule `vendor/mid` (from a second server), which has the submodule
/// `deps/leaf` (from a third): each origin must be granted, the clone recurses like
/// `git clone --recurse-submodules`, and without `submodules: true` the submodule is an empty
/// directory, as `git clone` leaves it.
#[test]
fn nested_submodules_need_every_origin_granted_and_match_git_clone_recurse_submodules() {
    let (app_root, mid_root, leaf_root) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (app_server, mid_server, leaf_server) = (
        GitServer::start(app_root.path()),
        GitServer::start(mid_root.path()),
        GitServer::start(leaf_root.path()),
    );
    let with_submodule = |w: &Path, name: &str, path: &str, url: &str, commit: &str| {
        std::fs::write(
            w.join(".gitmodules"),
            format!("[submodule \"{name}\"]\n\tpath = {path}\n\turl = {url}\n"),
        )
        .unwrap();
        git(w, &["add", "-A"]);
        // A gitlink without a checkout of it (`add -A` would drop it, so it comes after).
        git(w, &["update-index", "--add", "--cacheinfo", &format!("160000,{commit},{path}")]);
        git(w, &["commit", "-q", "-m", &format!("with {name}")]);
    };
    let leaf = make_repo(leaf_root.path(), "leaf", |w| {
        std::fs::write(w.join("leaf.txt"), "leaf\n").unwrap();
        std::fs::write(w.join("run.sh"), "#!/bin/sh\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["update-index", "--chmod=+x", "run.sh"]);
        git(w, &["commit", "-q", "-m", "leaf"]);
    });
    let leaf_url = format!("{}/leaf.git", leaf_server.origin);
    let leaf_commit = rev(&leaf, "main");
    let mid = make_repo(mid_root.path(), "mid", |w| {
        std::fs::write(w.join("mid.txt"), "mid\n").unwrap();
        with_submodule(w, "leaf", "deps/leaf", &leaf_url, &leaf_commit);
    });
    let mid_url = format!("{}/mid.git", mid_server.origin);
    let mid_commit = rev(&mid, "main");
    make_repo(app_root.path(), "app", |w| {
        std::fs::write(w.join("app.txt"), "app\n").unwrap();
        with_submodule(w, "mid", "vendor/mid", &mid_url, &mid_commit);
    });
    let url = format!("{}/app.git", app_server.origin);
    let clone = format!(
        "  - id: deep\n    type: git.clone\n    url: {url}\n    directory: deep\n    submodules: true\n"
    );
    let grant = |origins: &[&str]| {
        let list: Vec<String> = origins.iter().map(|o| format!("\"{o}\"")).collect();
        format!("    allow:\n      network: [{}]\n", list.join(", "))
    };

    // No grant: denied at the first submodule, before any byte reaches its origin.
    let data = tempfile::tempdir().unwrap();
    let run = run_flow(data.path(), &flow(&clone), &[]);
    assert_eq!(
        error_of(&run.doc, "deep"),
        format!(
            "denied: submodule vendor/mid ({mid_url}): outbound HTTP to {} was refused by the host: grant it in the task's `allow.network`",
            mid_server.origin
        )
    );
    assert_eq!(mid_server.requests(), 0, "a request reached the non-granted origin");

    // The first level granted: denied at the second.
    let data = tempfile::tempdir().unwrap();
    let run = run_flow(data.path(), &flow(&format!("{clone}{}", grant(&[&mid_server.origin]))), &[]);
    assert_eq!(
        error_of(&run.doc, "deep"),
        format!(
            "denied: submodule vendor/mid/deps/leaf ({leaf_url}): outbound HTTP to {} was refused by the host: grant it in the task's `allow.network`",
            leaf_server.origin
        )
    );
    assert_eq!(leaf_server.requests(), 0, "a request reached the non-granted origin");

    // Both granted; and the default, without submodules, beside it.
    let tasks = format!(
        "{clone}{}  - id: plain\n    type: git.clone\n    url: {url}\n    directory: plain\n",
        grant(&[&mid_server.origin, &leaf_server.origin])
    );
    let data = tempfile::tempdir().unwrap();
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    let real = tempfile::tempdir().unwrap();
    git(real.path(), &["clone", "-q", "--recurse-submodules", &url, "deep"]);
    git(real.path(), &["clone", "-q", &url, "plain"]);
    let deep = run.workspace.join("deep");
    assert_eq!(tree_content(&deep), tree_content(&real.path().join("deep")));
    assert_eq!(tree_content(&run.workspace.join("plain")), tree_content(&real.path().join("plain")));
    assert_eq!(
        tree_content(&run.workspace.join("plain")).get("vendor/mid").map(String::as_str),
        Some("directory"),
        "the submodule left as an empty directory"
    );
    assert_eq!(std::fs::read_to_string(deep.join("vendor/mid/deps/leaf/leaf.txt")).unwrap(), "leaf\n");
    assert_checkout(&leaf, "main", &deep.join("vendor/mid/deps/leaf"));
    // The real git sees every level checked out at the recorded commit, and clean.
    let status = git(&deep, &["submodule", "status", "--recursive"]);
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines.len(), 2, "{status}");
    assert!(lines[0].starts_with(&format!(" {mid_commit} vendor/mid")), "{status}");
    assert!(lines[1].starts_with(&format!(" {leaf_commit} vendor/mid/deps/leaf")), "{status}");
    assert_eq!(git(&deep, &["status", "--porcelain", "--ignore-submodules=none"]), "");
    assert_eq!(git(&deep.join("vendor/mid"), &["status", "--porcelain"]), "");
    assert_eq!(
        git(&deep, &["ls-files", "-s", "vendor/mid"]).trim(),
        format!("160000 {mid_commit} 0\tvendor/mid")
    );
}

#[test]
fn push_commits_the_change_and_the_server_has_it() {
    let root = tempfile::tempdir().unwrap();
    let bare = make_repo(root.path(), "manifests", |w| {
        std::fs::create_dir_all(w.join("apps/shop")).unwrap();
        std::fs::write(w.join("apps/shop/deploy.yaml"), "image: shop:1.0\n").unwrap();
        std::fs::write(w.join("apps/shop/check.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(w.join("README.md"), "manifests\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["update-index", "--chmod=+x", "apps/shop/check.sh"]);
        git(w, &["commit", "-q", "-m", "initial"]);
    });
    let server = GitServer::start(root.path());
    let url = format!("{}/private/manifests.git", server.origin);
    let base = rev(&bare, "main");
    let auth = format!("    username: {USER}\n    password: {PASSWORD}\n");
    let tasks = format!(
        "  - id: clone\n    type: git.clone\n    url: {url}\n    directory: m\n{auth}\
         \x20 - id: bump\n    type: test.write-file\n    path: m/apps/shop/deploy.yaml\n    content: \"image: shop:1.1\\n\"\n\
         \x20 - id: stray\n    type: test.write-file\n    path: m/README.md\n    content: \"not to be committed\\n\"\n\
         \x20 - id: script\n    type: test.write-file\n    path: m/apps/shop/migrate.sh\n    content: \"#!/bin/sh\\n\"\n\
         \x20 - id: chmod\n    type: test.set-executable\n    path: m/apps/shop/migrate.sh\n    executable: true\n\
         \x20 - id: wrong\n    allowFailure: true\n    type: git.push\n    url: {url}\n    directory: m\n    branch: main\n    message: x\n    authorName: x\n    authorEmail: x@example.com\n    username: {USER}\n    password: not-the-token\n\
         \x20 - id: anonymous\n    allowFailure: true\n    type: git.push\n    url: {url}\n    directory: m\n    branch: main\n    message: x\n    authorName: x\n    authorEmail: x@example.com\n\
         \x20 - id: push\n    type: git.push\n    url: {url}\n    directory: m\n    branch: main\n    paths: [\"apps/**\"]\n    message: \"shop: 1.1\"\n    authorName: Sluice Bot\n    authorEmail: bot@example.com\n{auth}"
    );
    let run = run_flow(root.path().join("data").as_path(), &flow(&tasks), &[]);
    let refused = format!(
        "failed: authentication failed for {}: check username/password (HTTP 401 from {url}/info/refs?service=git-receive-pack",
        server.origin
    );
    assert_eq!(error_of(&run.doc, "wrong"), format!("{refused})"));
    assert_eq!(error_of(&run.doc, "anonymous"), format!("{refused}; no credentials were given)"));
    assert_eq!(run_of(&run.doc, "push")["state"], "SUCCESS", "{:#}", run.doc);
    let pushed = run.doc["outputs"]["push"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(run.doc["outputs"]["push"]["changed"], true);
    // The real git on the server side.
    assert_eq!(rev(&bare, "main"), pushed);
    assert_eq!(
        git(&bare, &["log", "--format=%an <%ae>|%s|%P", "-1", "main"]),
        format!("Sluice Bot <bot@example.com>|shop: 1.1|{base}\n")
    );
    assert_eq!(git(&bare, &["show", "main:apps/shop/deploy.yaml"]), "image: shop:1.1\n");
    assert_eq!(git(&bare, &["show", "main:README.md"]), "manifests\n");
    assert_eq!(
        git(&bare, &["show", "--name-only", "--format=", "main"]),
        "apps/shop/deploy.yaml\napps/shop/migrate.sh\n"
    );
    // The executable bit on disk becomes the mode: the new script is 100755, the checked-out
    // executable one stays so.
    let modes = git(&bare, &["ls-tree", "-r", "--format=%(objectmode) %(path)", "main"]);
    assert_eq!(
        modes,
        "100644 README.md\n100755 apps/shop/check.sh\n100644 apps/shop/deploy.yaml\n100755 apps/shop/migrate.sh\n"
    );
    git(&bare, &["fsck", "--full", "--no-dangling"]);
    // The checkout's .git follows: HEAD is the pushed commit, only README.md differs.
    let checkout = run.workspace.join("m");
    assert_eq!(git(&checkout, &["rev-parse", "HEAD"]).trim(), pushed);
    assert_eq!(git(&checkout, &["status", "--porcelain"]), " M README.md\n");
}

/// The one workspace of the flow running with data dir `data` (for a [`Hook`] to act in).
fn workspace_of(data: &Path) -> PathBuf {
    let mut dirs = std::fs::read_dir(data.join("workspaces")).unwrap().map(|e| e.unwrap().path());
    let dir = dirs.next().unwrap();
    assert!(dirs.next().is_none());
    dir
}

/// A `git.push` task of the manifests tests.
fn push_task(url: &str, id: &str, extra: &str) -> String {
    format!(
        "  - id: {id}\n    type: git.push\n    url: {url}\n    message: \"{id}\"\n    authorName: Bot\n    authorEmail: bot@example.com\n{extra}"
    )
}

fn manifests(root: &Path) -> PathBuf {
    make_repo(root, "manifests", |w| {
        std::fs::write(w.join("app.yaml"), "v: 1\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "initial"]);
    })
}

/// The wrong refusal of before: after a push to a new branch (which moves the checkout's HEAD
/// there), a push to main is a fast-forward of main, and goes through.
#[test]
fn push_creates_a_branch_only_when_asked_and_a_push_to_main_after_it_fast_forwards() {
    let root = tempfile::tempdir().unwrap();
    let bare = manifests(root.path());
    let server = GitServer::start(root.path());
    let url = format!("{}/manifests.git", server.origin);
    let base = rev(&bare, "main");
    let tasks = [
        format!("  - id: clone\n    type: git.clone\n    url: {url}\n"),
        "  - id: edit\n    type: test.write-file\n    path: app.yaml\n    content: \"v: 2\\n\"\n".to_string(),
        push_task(&url, "missing", "    branch: feature\n    allowFailure: true\n"),
        push_task(&url, "created", "    branch: feature\n    create: true\n"),
        "  - id: note\n    type: test.write-file\n    path: notes.txt\n    content: \"note\\n\"\n"
            .to_string(),
        push_task(&url, "main", "    branch: main\n"),
    ]
    .concat();
    let run = run_flow(&root.path().join("data"), &flow(&tasks), &[]);
    assert_eq!(
        error_of(&run.doc, "missing"),
        format!("failed: branch `feature` does not exist in {url}; set `create: true` to create it")
    );
    let outputs = &run.doc["outputs"];
    let created = outputs["created"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(outputs["created"]["changed"], true);
    let main = outputs["main"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(outputs["main"]["changed"], true);
    // The server, by the real git: feature has the first change on the base, main both.
    assert_eq!(
        git(&bare, &["for-each-ref", "--format=%(refname)", "refs/heads"]),
        "refs/heads/feature\nrefs/heads/main\n"
    );
    assert_eq!(
        git(&bare, &["log", "--format=%H %P|%s", "feature"]),
        format!("{created} {base}|created\n{base} |initial\n")
    );
    assert_eq!(
        git(&bare, &["log", "--format=%H %P|%s", "main"]),
        format!("{main} {created}|main\n{created} {base}|created\n{base} |initial\n")
    );
    assert_eq!(git(&bare, &["show", "feature:app.yaml"]), "v: 2\n");
    assert_eq!(git(&bare, &["ls-tree", "--name-only", "feature"]), "app.yaml\n");
    assert_eq!(git(&bare, &["show", "--name-status", "--format=", "main"]), "A\tnotes.txt\n");
    git(&bare, &["fsck", "--full", "--no-dangling"]);
    // The checkout follows the last push.
    assert_eq!(git(&run.workspace, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/main");
    assert_eq!(git(&run.workspace, &["rev-parse", "HEAD", "origin/feature"]), format!("{main}\n{created}\n"));
    assert_eq!(git(&run.workspace, &["status", "--porcelain"]), "");
}

/// Someone else pushes to main between the clone and the push (the real git, from a hook the
/// flow calls): the push is refused and names both commits; `force: true` replaces the
/// remote's commit with a new one.
#[test]
fn push_refuses_when_someone_else_moved_the_branch_and_force_replaces_their_commit() {
    let root = tempfile::tempdir().unwrap();
    let bare = manifests(root.path());
    let server = GitServer::start(root.path());
    let url = format!("{}/manifests.git", server.origin);
    let base = rev(&bare, "main");
    let server_root = root.path().to_path_buf();
    let intruder = Hook::start(move || {
        let work = server_root.join("manifests.work");
        std::fs::write(work.join("other.txt"), "someone else\n").unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "someone else"]);
        git(&work, &["push", "-q", server_root.join("manifests.git").to_str().unwrap(), "main"]);
        git(&work, &["rev-parse", "HEAD"]).trim().to_owned()
    });
    let tasks = [
        format!("  - id: clone\n    type: git.clone\n    url: {url}\n"),
        "  - id: edit\n    type: test.write-file\n    path: app.yaml\n    content: \"v: 2\\n\"\n".to_string(),
        format!("  - id: intrude\n    type: core.http\n    url: {}\n", intruder.url),
        push_task(&url, "moved", "    branch: main\n    allowFailure: true\n"),
        push_task(&url, "forced", "    branch: main\n    force: true\n"),
    ]
    .concat();
    let run = run_flow(&root.path().join("data"), &flow(&tasks), &[]);
    let theirs = run.doc["outputs"]["intrude"]["body"].as_str().unwrap().to_owned();
    assert_ne!(theirs, base);
    // The refusal names their commit, ours (made on top of the base), and the way out.
    let moved = error_of(&run.doc, "moved");
    let head = format!(
        "failed: the remote moved: refs/heads/main of {url} is at {theirs}, which is not in the history of "
    );
    let tail = format!(
        ", the commit to push, made on top of {base}; clone again and redo the change, or set `force: true` to replace the remote's commits"
    );
    let ours =
        moved.strip_prefix(&head).and_then(|m| m.strip_suffix(&tail)).unwrap_or_else(|| panic!("{moved}"));
    assert!(ours.len() == 40 && ours.bytes().all(|b| b.is_ascii_hexdigit()) && ours != theirs, "{moved}");
    // Forced: main is our new commit on the base; theirs is gone from its history.
    let forced = run.doc["outputs"]["forced"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(run.doc["outputs"]["forced"]["changed"], true);
    assert_eq!(
        git(&bare, &["log", "--format=%H %P|%s", "main"]),
        format!("{forced} {base}|forced\n{base} |initial\n")
    );
    assert_eq!(git(&bare, &["ls-tree", "--name-only", "main"]), "app.yaml\n");
    assert_eq!(git(&bare, &["show", "main:app.yaml"]), "v: 2\n");
    assert_eq!(git(&bare, &["cat-file", "-t", &theirs]).trim(), "commit", "their commit is still an object");
    assert_eq!(git(&run.workspace, &["rev-parse", "HEAD"]).trim(), forced);
}

/// Files removed and symlinks added on disk (by the test, from a hook the flow calls) are
/// committed as such: deletions, and `120000` entries holding the target; a symlink out of the
/// workspace cannot be, and is named.
#[test]
fn push_commits_deleted_files_and_new_symlinks() {
    let root = tempfile::tempdir().unwrap();
    let bare = make_repo(root.path(), "site", |w| {
        std::fs::create_dir_all(w.join("dir")).unwrap();
        std::fs::write(w.join("README.md"), "site\n").unwrap();
        std::fs::write(w.join("old.txt"), "old\n").unwrap();
        std::fs::write(w.join("dir/keep.txt"), "keep\n").unwrap();
        std::fs::write(w.join("dir/gone.txt"), "gone\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "initial"]);
    });
    let server = GitServer::start(root.path());
    let url = format!("{}/site.git", server.origin);
    let base = rev(&bare, "main");
    let data = root.path().join("data");
    let hook_data = data.clone();
    let edit = Hook::start(move || {
        let checkout = workspace_of(&hook_data).join("s");
        std::fs::remove_file(checkout.join("old.txt")).unwrap();
        std::fs::remove_file(checkout.join("dir/gone.txt")).unwrap();
        std::os::unix::fs::symlink("README.md", checkout.join("latest")).unwrap();
        std::os::unix::fs::symlink("../README.md", checkout.join("dir/up")).unwrap();
        std::os::unix::fs::symlink("dir", checkout.join("docs")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", checkout.join("abs")).unwrap();
        "edited".to_string()
    });
    let tasks = [
        format!("  - id: clone\n    type: git.clone\n    url: {url}\n    directory: s\n"),
        format!("  - id: edit\n    type: core.http\n    url: {}\n", edit.url),
        push_task(&url, "everything", "    branch: main\n    directory: s\n    allowFailure: true\n"),
        push_task(
            &url,
            "push",
            "    branch: main\n    directory: s\n    paths: [old.txt, dir, latest, docs]\n",
        ),
    ]
    .concat();
    let run = run_flow(&data, &flow(&tasks), &[]);
    // A link out of the workspace cannot be read from the sandbox: refused when selected, not
    // even read when not.
    assert_eq!(
        error_of(&run.doc, "everything"),
        "failed: cannot read the symlink s/abs: Operation not permitted (os error 63); the sandbox does not \
         read a link whose target leads outside the workspace, so it cannot be committed: leave it out of \
         `paths`, or point it inside the checkout with a relative target"
    );
    assert_eq!(run_of(&run.doc, "push")["state"], "SUCCESS", "{:#}", run.doc);
    let pushed = run.doc["outputs"]["push"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(rev(&bare, "main"), pushed);
    assert_eq!(git(&bare, &["log", "--format=%P", "-1", "main"]).trim(), base);
    assert_eq!(
        git(&bare, &["show", "--name-status", "--format=", "main"]),
        "D\tdir/gone.txt\nA\tdir/up\nA\tdocs\nA\tlatest\nD\told.txt\n"
    );
    assert_eq!(
        git(&bare, &["show", "--shortstat", "--format=", "main"]),
        " 5 files changed, 3 insertions(+), 2 deletions(-)\n"
    );
    assert_eq!(
        git(&bare, &["ls-tree", "-r", "--format=%(objectmode) %(objecttype) %(path)", "main"]),
        "100644 blob README.md\n100644 blob dir/keep.txt\n120000 blob dir/up\n120000 blob docs\n120000 blob latest\n"
    );
    for (link, target) in [("latest", "README.md"), ("dir/up", "../README.md"), ("docs", "dir")] {
        assert_eq!(git(&bare, &["cat-file", "blob", &format!("main:{link}")]), target, "{link}");
    }
    git(&bare, &["fsck", "--full", "--no-dangling"]);
    assert_eq!(git(&run.workspace.join("s"), &["status", "--porcelain"]), "?? abs\n");
}

/// Tags and branches named with `/`: cloned (also as the remote's HEAD) with their refs where
/// git keeps them, pushed to, created; and a push after the real git packed the checkout's refs.
#[test]
fn refs_with_slashes_are_cloned_pushed_and_created() {
    let root = tempfile::tempdir().unwrap();
    let bare = make_repo(root.path(), "slashes", |w| {
        std::fs::write(w.join("README.md"), "slashes\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "first"]);
        git(w, &["tag", "-a", "release/1.0", "-m", "release 1.0"]);
        git(w, &["tag", "release/rc/2"]);
        git(w, &["checkout", "-q", "-b", "feature/x"]);
        std::fs::write(w.join("feature.txt"), "feature\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "on feature/x"]);
    });
    // The remote's HEAD is a branch with a `/` too.
    git(&bare, &["symbolic-ref", "HEAD", "refs/heads/feature/x"]);
    let server = GitServer::start(root.path());
    let url = format!("{}/slashes.git", server.origin);
    let (first, feature) = (rev(&bare, "main"), rev(&bare, "feature/x"));
    let data = root.path().join("data");
    let hook_data = data.clone();
    let pack_refs = Hook::start(move || {
        let checkout = workspace_of(&hook_data).join("head");
        git(&checkout, &["pack-refs", "--all", "--prune"]);
        assert!(!checkout.join(".git/refs/heads/feature/x").exists());
        git(&checkout, &["rev-parse", "HEAD"])
    });
    let clone = |id: &str, extra: &str| {
        format!("  - id: {id}\n    type: git.clone\n    url: {url}\n    directory: {id}\n{extra}")
    };
    let tasks = [
        clone("head", ""),
        clone("branch", "    branch: feature/x\n"),
        clone("tag", "    tag: release/1.0\n"),
        clone("rc", "    tag: release/rc/2\n"),
        format!("  - id: pack\n    type: core.http\n    url: {}\n", pack_refs.url),
        "  - id: edit\n    type: test.write-file\n    path: head/feature.txt\n    content: \"changed\\n\"\n"
            .to_string(),
        push_task(&url, "push", "    directory: head\n    branch: feature/x\n"),
        push_task(&url, "create", "    directory: head\n    branch: team/a/b\n    create: true\n"),
    ]
    .concat();
    let run = run_flow(&data, &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    let outputs = &run.doc["outputs"];
    assert_eq!(
        outputs["head"],
        serde_json::json!({"commit": feature, "ref": "refs/heads/feature/x", "directory": "head"})
    );
    assert_eq!(
        outputs["branch"],
        serde_json::json!({"commit": feature, "ref": "refs/heads/feature/x", "directory": "branch"})
    );
    assert_eq!(
        outputs["tag"],
        serde_json::json!({"commit": first, "ref": "refs/tags/release/1.0", "directory": "tag"})
    );
    assert_eq!(
        outputs["rc"],
        serde_json::json!({"commit": first, "ref": "refs/tags/release/rc/2", "directory": "rc"})
    );
    assert_eq!(outputs["pack"]["body"], format!("{feature}\n"));
    // The clones, by the real git.
    let ws = &run.workspace;
    assert_checkout(&bare, &feature, &ws.join("branch"));
    assert_eq!(git(&ws.join("branch"), &["symbolic-ref", "HEAD"]).trim(), "refs/heads/feature/x");
    assert_eq!(git(&ws.join("branch"), &["rev-parse", "origin/feature/x"]).trim(), feature);
    for (dir, tag) in [("tag", "release/1.0"), ("rc", "release/rc/2")] {
        assert_checkout(&bare, tag, &ws.join(dir));
        assert_eq!(git(&ws.join(dir), &["describe", "--tags"]).trim(), tag);
        assert_eq!(
            git(&ws.join(dir), &["rev-parse", &format!("refs/tags/{tag}")]),
            git(&bare, &["rev-parse", &format!("refs/tags/{tag}")])
        );
    }
    assert_eq!(git(&ws.join("tag"), &["cat-file", "-t", "release/1.0"]).trim(), "tag");
    // The pushes: to feature/x (its ref packed in the checkout by then), then a new team/a/b
    // at the same commit (nothing changed since).
    let pushed = outputs["push"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(outputs["push"]["changed"], true);
    assert_eq!(outputs["create"], serde_json::json!({"commit": pushed, "changed": false}));
    assert_eq!(git(&bare, &["log", "--format=%H %P", "-1", "feature/x"]), format!("{pushed} {feature}\n"));
    assert_eq!(rev(&bare, "team/a/b"), pushed);
    assert_eq!(git(&bare, &["show", "team/a/b:feature.txt"]), "changed\n");
    let head = ws.join("head");
    assert_checkout(&bare, "team/a/b", &head);
    assert_eq!(git(&head, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/team/a/b");
    assert_eq!(
        git(&head, &["rev-parse", "feature/x", "origin/feature/x", "origin/team/a/b"]),
        format!("{pushed}\n{pushed}\n{pushed}\n")
    );
}

/// The raw body of `GET <path>` from a server (HTTP/1.1, connection closed after it).
fn http_get(origin: &str, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(origin.strip_prefix("http://").unwrap()).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let body = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    answer[body..].to_vec()
}

/// A server that speaks protocol v1 (its ref advertisements start with `version 1`) is read
/// as v0, for clones and pushes.
#[test]
fn clone_and_push_over_protocol_v1() {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = GitServer::start(root.path());
    for service in ["git-upload-pack", "git-receive-pack"] {
        let body = http_get(&server.origin, &format!("/v1/fixture.git/info/refs?service={service}"));
        let banner = format!("# service={service}\n");
        let expected = format!("{:04x}{banner}0000000eversion 1\n", banner.len() + 4);
        assert!(body.starts_with(expected.as_bytes()), "{service}: {}", String::from_utf8_lossy(&body));
    }
    let url = format!("{}/v1/fixture.git", server.origin);
    let main = rev(&bare, "main");
    let tasks = [
        format!("  - id: shallow\n    type: git.clone\n    url: {url}\n    directory: shallow\n"),
        format!("  - id: full\n    type: git.clone\n    url: {url}\n    depth: 0\n    branch: dev\n    directory: full\n"),
        "  - id: edit\n    type: test.write-file\n    path: shallow/notes/two.txt\n    content: \"over v1\\n\"\n".to_string(),
        push_task(&url, "push", "    directory: shallow\n    branch: main\n"),
    ]
    .concat();
    let run = run_flow(&root.path().join("data"), &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    let full = run.workspace.join("full");
    assert_checkout(&bare, "dev", &full);
    assert_eq!(git(&full, &["log", "--format=%H %s"]), git(&bare, &["log", "--format=%H %s", "dev"]));
    assert_eq!(run.doc["outputs"]["shallow"]["commit"], main);
    let pushed = run.doc["outputs"]["push"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(git(&bare, &["log", "--format=%H %P", "-1", "main"]), format!("{pushed} {main}\n"));
    assert_eq!(git(&bare, &["show", "--name-status", "--format=", "main"]), "M\tnotes/two.txt\n");
    assert_eq!(git(&bare, &["show", "main:notes/two.txt"]), "over v1\n");
    assert_checkout(&bare, "main", &run.workspace.join("shallow"));
}

#[test]
fn a_redirect_to_a_non_granted_origin_is_denied_before_any_byte_reaches_it() {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let elsewhere = GitServer::start(root.path());
    let server = GitServer::start(root.path());
    let port = elsewhere.origin.rsplit(':').next().unwrap();
    let data = tempfile::tempdir().unwrap();
    let tasks = format!(
        "  - id: clone\n    type: git.clone\n    url: {}/redirect/{port}/fixture.git\n",
        server.origin
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(run_of(&run.doc, "clone")["state"], "FAILED");
    assert_eq!(
        error_of(&run.doc, "clone"),
        format!(
            "denied: outbound HTTP to {} was refused by the host: grant it in the task's `allow.network`",
            elsewhere.origin
        )
    );
    assert_eq!(elsewhere.requests(), 0, "a request reached the non-granted origin");
    assert_eq!(server.requests(), 1);
    assert_eq!(std::fs::read_dir(&run.workspace).unwrap().count(), 0, "nothing was written");
}

#[test]
fn hostile_tree_entries_are_refused_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    make_repo(root.path(), "hostile", |w| {
        std::fs::write(w.join("README.md"), "fine\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "fine"]);
        // Trees the real git would never write, made by hand: `.GIT/config` (a second git
        // directory on case-insensitive file systems) and an entry named `..`.
        let blob = git(w, &["hash-object", "-w", "README.md"]).trim().to_owned();
        let mktree = |listing: String| {
            let mut child = Command::new("git")
                .current_dir(w)
                .arg("mktree")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), listing.as_bytes()).unwrap();
            String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim().to_owned()
        };
        let config = mktree(format!("100644 blob {blob}\tconfig\n"));
        let dot_git = mktree(format!("100644 blob {blob}\tok.txt\n040000 tree {config}\t.GIT\n"));
        let dot_dot = mktree(format!("100644 blob {blob}\t..\n100644 blob {blob}\tok.txt\n"));
        for (branch, tree) in [("dotgit", &dot_git), ("dotdot", &dot_dot)] {
            let commit = git(w, &["commit-tree", tree, "-m", branch]).trim().to_owned();
            git(w, &["update-ref", &format!("refs/heads/{branch}"), &commit]);
            trees.push(tree.clone());
        }
    });
    let server = GitServer::start(root.path());
    let url = format!("{}/hostile.git", server.origin);
    let data = tempfile::tempdir().unwrap();
    let tasks = format!(
        "  - id: dotgit\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    branch: dotgit\n    directory: a\n\
         \x20 - id: dotdot\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    branch: dotdot\n    directory: b\n"
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(
        error_of(&run.doc, "dotgit"),
        format!(
            "failed: tree {} has an entry named `.GIT`, which could write outside the checkout; refusing it",
            trees[0]
        )
    );
    assert_eq!(
        error_of(&run.doc, "dotdot"),
        format!(
            "failed: tree {} has an entry named `..`, which could write outside the checkout; refusing it",
            trees[1]
        )
    );
    for dir in ["a", "b"] {
        assert_eq!(std::fs::read_dir(run.workspace.join(dir)).unwrap().count(), 0, "{dir} is not empty");
    }
}
