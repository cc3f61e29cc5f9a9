//! The git plugin end to end: the real `sluice` binary runs `git.clone` and `git.push` against
//! a real `git http-backend` (tests/support_git), and every clone is compared with the source
//! repository through the real `git` CLI: the content of every file, the mode and id of every
//! entry (the clone's index against `git ls-tree -r`), symlinks, and `git status`/`git fsck`.

#![allow(clippy::unwrap_used)]

mod common;
use common::doc::run_of;

mod support_git;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support_git::{GitServer, PASSWORD, USER, git, git_bytes, make_repo};

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
/// One flow at a time: with all the tests' runs and servers at once on two cores, a request
/// now and then ended in "connection reset" (about one full run in four, never alone; the
/// cause is not found yet, see the closing note of stop 9).
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
         \x20 - id: sha\n    type: git.clone\n    url: {url}\n    commit: {first}\n    directory: sha\n"
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
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
fn garbage_and_hanging_servers_fail_clearly_within_the_task_timeout() {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let server = GitServer::start(root.path());
    let data = tempfile::tempdir().unwrap();
    let tasks = format!(
        "  - id: garbage\n    allowFailure: true\n    type: git.clone\n    url: {0}/garbage/fixture.git\n    directory: g\n\
         \x20 - id: hang\n    allowFailure: true\n    timeout: 2s\n    type: git.clone\n    url: {0}/hang/fixture.git\n    directory: h\n",
        server.origin
    );
    let started = Instant::now();
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    let garbage = error_of(&run.doc, "garbage");
    assert!(
        garbage.contains("did not answer as a git smart-HTTP server") && garbage.contains("text/html"),
        "{garbage}"
    );
    let hang = error_of(&run.doc, "hang");
    assert!(hang.contains("timed out") || hang.contains("timeout"), "{hang}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

#[test]
fn submodules_need_their_origin_granted() {
    let root = tempfile::tempdir().unwrap();
    let other_root = tempfile::tempdir().unwrap();
    let lib = make_repo(other_root.path(), "lib", |w| {
        std::fs::write(w.join("lib.txt"), "library\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "lib"]);
    });
    let other = GitServer::start(other_root.path());
    let lib_url = format!("{}/lib.git", other.origin);
    let lib_commit = rev(&lib, "main");
    let app = make_repo(root.path(), "app", |w| {
        std::fs::write(w.join("app.txt"), "app\n").unwrap();
        std::fs::write(
            w.join(".gitmodules"),
            format!("[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = {lib_url}\n"),
        )
        .unwrap();
        git(w, &["add", "-A"]);
        // A gitlink without a checkout of it (`add -A` would drop it, so it comes after).
        git(w, &["update-index", "--add", "--cacheinfo", &format!("160000,{lib_commit},vendor/lib")]);
        git(w, &["commit", "-q", "-m", "app with a submodule"]);
    });
    let server = GitServer::start(root.path());
    let url = format!("{}/app.git", server.origin);

    let data = tempfile::tempdir().unwrap();
    let tasks = format!("  - id: app\n    type: git.clone\n    url: {url}\n    submodules: true\n");
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    let error = error_of(&run.doc, "app");
    assert!(error.contains(&other.origin) && error.contains("allow.network"), "{error}");
    assert_eq!(other.requests(), 0, "a request reached the non-granted origin");

    let data = tempfile::tempdir().unwrap();
    let tasks = format!("{tasks}    allow:\n      network: [\"{}\"]\n", other.origin);
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    assert_eq!(std::fs::read_to_string(run.workspace.join("vendor/lib/lib.txt")).unwrap(), "library\n");
    assert_checkout(&lib, "main", &run.workspace.join("vendor/lib"));
    assert_eq!(
        git(&run.workspace, &["ls-files", "-s", "vendor/lib"]).trim(),
        format!("160000 {lib_commit} 0\tvendor/lib")
    );
    let _ = app;
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
         \x20 - id: push\n    type: git.push\n    url: {url}\n    directory: m\n    branch: main\n    paths: [\"apps/**\"]\n    message: \"shop: 1.1\"\n    authorName: Sluice Bot\n    authorEmail: bot@example.com\n{auth}"
    );
    let run = run_flow(root.path().join("data").as_path(), &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
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

#[test]
fn push_refuses_when_the_remote_moved_unless_forced_and_creates_branches() {
    let root = tempfile::tempdir().unwrap();
    let bare = make_repo(root.path(), "manifests", |w| {
        std::fs::write(w.join("app.yaml"), "v: 1\n").unwrap();
        git(w, &["add", "-A"]);
        git(w, &["commit", "-q", "-m", "initial"]);
    });
    let server = GitServer::start(root.path());
    let url = format!("{}/manifests.git", server.origin);
    let push = |id: &str, extra: &str| {
        format!(
            "  - id: {id}\n    type: git.push\n    url: {url}\n    message: \"{id}\"\n    authorName: Bot\n    authorEmail: bot@example.com\n{extra}"
        )
    };
    let tasks = format!(
        "  - id: clone\n    type: git.clone\n    url: {url}\n\
         \x20 - id: edit\n    type: test.write-file\n    path: app.yaml\n    content: \"v: 2\\n\"\n\
         \x20 - id: wait\n    type: flow.sleep\n    duration: 5s\n\
         {}{}{}{}",
        push("missing", "    branch: feature\n    allowFailure: true\n"),
        push("created", "    branch: feature\n    create: true\n"),
        push("moved", "    branch: main\n    allowFailure: true\n"),
        push("forced", "    branch: main\n    force: true\n"),
    );
    // Once the clone is done (its index is the last file it writes), while the flow sleeps,
    // someone else pushes to main.
    let data = root.path().join("data");
    let server_root = root.path().to_path_buf();
    let workspaces = data.join("workspaces");
    let intruder = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let cloned = || {
            std::fs::read_dir(&workspaces)
                .map(|dirs| dirs.flatten().any(|d| d.path().join(".git/index").exists()))
                .unwrap_or(false)
        };
        while !cloned() {
            assert!(Instant::now() < deadline, "the clone did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
        let work = server_root.join("manifests.work");
        std::fs::write(work.join("other.txt"), "someone else\n").unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "someone else"]);
        git(&work, &["push", "-q", server_root.join("manifests.git").to_str().unwrap(), "main"]);
        git(&work, &["rev-parse", "HEAD"]).trim().to_owned()
    });
    let run = run_flow(&data, &flow(&tasks), &[]);
    let moved_to = intruder.join().unwrap();
    assert_eq!(
        error_of(&run.doc, "missing"),
        format!("failed: branch `feature` does not exist in {url}; set `create: true` to create it")
    );
    let created = run.doc["outputs"]["created"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(rev(&bare, "feature"), created);
    assert_eq!(git(&bare, &["show", "feature:app.yaml"]), "v: 2\n");
    let moved = error_of(&run.doc, "moved");
    assert!(
        moved.starts_with(&format!("failed: the remote moved: refs/heads/main of {url} is at {moved_to}")),
        "{moved}"
    );
    assert!(moved.contains("force: true"), "{moved}");
    let forced = run.doc["outputs"]["forced"]["commit"].as_str().unwrap().to_owned();
    // Nothing changed since the push to `feature` (which moved the checkout's HEAD there), so
    // the same commit replaces main.
    assert_eq!(forced, created);
    assert_eq!(run.doc["outputs"]["forced"]["changed"], false);
    assert_eq!(rev(&bare, "main"), forced);
    assert_eq!(git(&bare, &["show", "main:app.yaml"]), "v: 2\n");
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
