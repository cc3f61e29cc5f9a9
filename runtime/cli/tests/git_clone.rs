//! The git plugin's clone suite end to end: the real `sluice` binary runs `git.clone` against a
//! real `git http-backend` (tests/support_git), and every clone is compared with the source
//! repository through the real `git` CLI: the content of every file, the mode and id of every
//! entry (the clone's index against `git ls-tree -r`), symlinks, and `git status`/`git fsck`.
//!
//! The main scenarios run against three servers: ours; ours answering 411 to a chunked request
//! body (a server that works with the git CLI, which sends a `content-length`, must work with
//! sluice); and Debian's Apache running `git http-backend` as CGI as git's documentation sets
//! it up. The push suite is `git_push.rs`.

#![allow(clippy::unwrap_used)]

mod support_git;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use support_git::apache::Apache;
use support_git::suite::{
    assert_checkout, disk_paths, error_of, fixture, flow, rev, run_flow, run_of, tree_content,
};
use support_git::{GitServer, PASSWORD, Serves, USER, git, make_repo};

/// Starts one of the servers a scenario runs against, over the repositories under a root.
type Start<S> = fn(&Path) -> S;

/// The default branch, shallow (depth 1), over protocol v2.
fn default_branch<S: Serves>(start: Start<S>) {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = start(root.path());
    let data = tempfile::tempdir().unwrap();
    let url = server.url("fixture");
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
fn clone_of_the_default_branch_matches_the_source_byte_for_byte() {
    default_branch(GitServer::start);
}

#[test]
fn clone_of_the_default_branch_from_a_server_that_refuses_chunked_bodies() {
    default_branch(GitServer::length_required);
}

#[test]
fn clone_of_the_default_branch_from_apache() {
    default_branch(Apache::start);
}

fn branch_tag_and_commit<S: Serves>(start: Start<S>) {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = start(root.path());
    let data = tempfile::tempdir().unwrap();
    let url = server.url("fixture");
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
fn clone_of_a_branch_a_tag_and_a_commit() {
    branch_tag_and_commit(GitServer::start);
}

#[test]
fn clone_of_a_branch_a_tag_and_a_commit_from_apache() {
    branch_tag_and_commit(Apache::start);
}

fn full_history<S: Serves>(start: Start<S>) {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = start(root.path());
    let data = tempfile::tempdir().unwrap();
    let tasks = format!(
        "  - id: full\n    type: git.clone\n    url: {}\n    depth: 0\n    directory: full\n",
        server.url("fixture")
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    let full = run.workspace.join("full");
    assert_checkout(&bare, "main", &full);
    assert_eq!(git(&full, &["log", "--format=%H %s"]), git(&bare, &["log", "--format=%H %s", "main"]));
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
fn full_history_clone_has_every_commit_and_resolves_deltas() {
    full_history(GitServer::start);
}

#[test]
fn full_history_clone_from_a_server_that_refuses_chunked_bodies() {
    full_history(GitServer::length_required);
}

#[test]
fn full_history_clone_from_apache() {
    full_history(Apache::start);
}

/// A server without protocol v2: full and shallow, each negotiated in v0's own request form.
fn protocol_v0(start: Start<GitServer>) {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = start(root.path());
    let data = tempfile::tempdir().unwrap();
    let tasks = format!(
        "  - id: v0\n    type: git.clone\n    url: {0}/v0/fixture.git\n    depth: 0\n    branch: dev\n    directory: v0\n\
         \x20 - id: v0shallow\n    type: git.clone\n    url: {0}/v0/fixture.git\n    directory: v0shallow\n",
        server.origin
    );
    let run = run_flow(data.path(), &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    assert_checkout(&bare, "dev", &run.workspace.join("v0"));
    assert_checkout(&bare, "main", &run.workspace.join("v0shallow"));
    assert_eq!(git(&run.workspace.join("v0"), &["rev-list", "--count", "HEAD"]).trim(), "3");
    assert_eq!(git(&run.workspace.join("v0shallow"), &["rev-list", "--count", "HEAD"]).trim(), "1");
}

#[test]
fn clone_over_protocol_v0() {
    protocol_v0(GitServer::start);
}

#[test]
fn clone_over_protocol_v0_from_a_server_that_refuses_chunked_bodies() {
    protocol_v0(GitServer::length_required);
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

fn basic_auth(start: Start<GitServer>) {
    let root = tempfile::tempdir().unwrap();
    let bare = fixture(root.path());
    let server = start(root.path());
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
fn basic_auth_with_right_and_wrong_credentials() {
    basic_auth(GitServer::start);
}

#[test]
fn basic_auth_with_a_server_that_refuses_chunked_bodies() {
    basic_auth(GitServer::length_required);
}

fn unknown_selectors<S: Serves>(start: Start<S>) {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let server = start(root.path());
    let data = tempfile::tempdir().unwrap();
    let url = server.url("fixture");
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let tasks = format!(
        "  - id: branch\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    branch: nope\n    directory: b\n\
         \x20 - id: tag\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    tag: v9\n    directory: t\n\
         \x20 - id: commit\n    allowFailure: true\n    type: git.clone\n    url: {url}\n    commit: {missing}\n    directory: c\n\
         \x20 - id: repo\n    allowFailure: true\n    type: git.clone\n    url: {}\n    directory: r\n",
        server.url("nothing-here")
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
fn unknown_branch_tag_and_commit_fail_clearly() {
    unknown_selectors(GitServer::start);
}

#[test]
fn unknown_branch_tag_and_commit_fail_clearly_on_apache() {
    unknown_selectors(Apache::start);
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
