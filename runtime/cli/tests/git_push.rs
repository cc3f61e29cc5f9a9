//! The git plugin's push suite end to end: the real `sluice` binary clones with `git.clone`,
//! changes files, and runs `git.push` against a real `git http-backend` (tests/support_git);
//! the real `git` then reads what the server has. The main pushes run against our server
//! answering 411 to a chunked request body too, as the clones do (`git_clone.rs`).

#![allow(clippy::unwrap_used)]

mod support_git;

use std::path::{Path, PathBuf};

use support_git::suite::{assert_checkout, error_of, fixture, flow, incompressible, rev, run_flow, run_of};
use support_git::{GitServer, Hook, PASSWORD, USER, git, git_bytes, make_repo};

/// Starts the server a scenario pushes to, over the repositories under a root.
type Start = fn(&Path) -> GitServer;

/// A push with basic auth (refused first with wrong and no credentials) of selected paths.
fn push_with_auth(start: Start) {
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
    let server = start(root.path());
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

#[test]
fn push_commits_the_change_and_the_server_has_it() {
    push_with_auth(GitServer::start);
}

#[test]
fn push_to_a_server_that_refuses_chunked_bodies() {
    push_with_auth(GitServer::length_required);
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
fn create_then_fast_forward(start: Start) {
    let root = tempfile::tempdir().unwrap();
    let bare = manifests(root.path());
    let server = start(root.path());
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

#[test]
fn push_creates_a_branch_only_when_asked_and_a_push_to_main_after_it_fast_forwards() {
    create_then_fast_forward(GitServer::start);
}

#[test]
fn push_creates_a_branch_and_fast_forwards_on_a_server_that_refuses_chunked_bodies() {
    create_then_fast_forward(GitServer::length_required);
}

/// A pack above the git CLI's `http.postBuffer` (1 MiB) goes with a `content-length` too. git
/// streams such a pack chunked only because it does not hold it whole (and the usual advice
/// for a server that refuses that is to raise `http.postBuffer` so that git sends a length);
/// the plugin builds the pack before sending it, so it sends a length at any size.
#[test]
fn a_pack_above_git_s_post_buffer_is_pushed_to_a_server_that_refuses_chunked_bodies() {
    let root = tempfile::tempdir().unwrap();
    let bare = manifests(root.path());
    let server = GitServer::length_required(root.path());
    let url = format!("{}/manifests.git", server.origin);
    let data = root.path().join("data");
    let hook_data = data.clone();
    let write = Hook::start(move || {
        // Incompressible bytes, so that the pack is larger than 1 MiB too.
        std::fs::write(workspace_of(&hook_data).join("large.bin"), incompressible(0x9e37_79b9, 1_500_000))
            .unwrap();
        "written".to_string()
    });
    let tasks = [
        format!("  - id: clone\n    type: git.clone\n    url: {url}\n"),
        format!("  - id: write\n    type: core.http\n    url: {}\n", write.url),
        push_task(&url, "push", "    branch: main\n"),
    ]
    .concat();
    let run = run_flow(&data, &flow(&tasks), &[]);
    assert_eq!(run.code, 0, "{:#}", run.doc);
    assert_eq!(git(&bare, &["show", "--name-status", "--format=", "main"]), "A\tlarge.bin\n");
    let pushed = git_bytes(&bare, &["cat-file", "blob", "main:large.bin"]);
    assert!(pushed == std::fs::read(run.workspace.join("large.bin")).unwrap(), "large.bin differs");
    git(&bare, &["fsck", "--full", "--no-dangling"]);
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
