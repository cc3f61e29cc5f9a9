//! Auth and the audit log through the real binary: a server bound beyond loopback makes the
//! first admin token and prints it once; `sluice token create|list|revoke` and `sluice audit
//! verify|export` work on the server's database while it runs; the audit chain shows an entry
//! changed behind its back.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::server::Server;

const HELLO: &str = include_str!("../../../examples/flows/hello.yaml");

fn sluice(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice")).arg("--data-dir").arg(data_dir).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn status(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> u16 {
    let mut request = server.http.request(method, server.url(path)).body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_server_beyond_loopback_makes_its_first_admin_token_and_the_cli_manages_tokens_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_bound(dir.path(), "0.0.0.0:0", &[], &[]);
    assert!(server.preamble.iter().any(|l| l.starts_with("auth is on: made the first admin token `admin`")));
    let admin =
        server.preamble.iter().find(|l| l.starts_with("sluice_")).expect("the token, printed").clone();
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    assert_eq!(status(&server, get.clone(), "/api/v1/flows", None, "").await, 401);
    assert_eq!(status(&server, post.clone(), "/api/v1/flows", Some(&admin), HELLO).await, 201);

    // A token made with the CLI, on the database the server runs on.
    let made = sluice(
        dir.path(),
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "runner",
            "--namespace",
            "examples.*",
            "--expires",
            "1h",
        ],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(stderr(&made).starts_with("made token `ci` (runner:examples.*); it is shown this once"));
    let ci = stdout(&made).trim().to_owned();
    assert!(ci.starts_with("sluice_") && ci.len() == 50, "{ci}");
    assert_eq!(status(&server, post.clone(), "/api/v1/executions/examples/hello", Some(&ci), "").await, 202);
    assert_eq!(status(&server, post.clone(), "/api/v1/flows", Some(&ci), HELLO).await, 403);

    let listed = sluice(dir.path(), &["token", "list"]);
    let table = stdout(&listed);
    let rows: Vec<Vec<&str>> = table.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!((rows[0][0], rows[0][1], rows[0][3], rows[0][4]), ("admin", "live", "never", "admin:*"));
    assert_eq!((rows[1][0], rows[1][1], rows[1][4]), ("ci", "live", "runner:examples.*"));
    let bad = sluice(dir.path(), &["token", "create", "--name", "x", "--role", "boss"]);
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(
        stderr(&bad).contains("unknown role `boss`: use one of viewer, runner, editor, admin"),
        "{}",
        stderr(&bad)
    );

    let revoked = sluice(dir.path(), &["token", "revoke", "ci"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    // The server trusts a token it looked up for 5 s at most.
    let mut refused = false;
    for _ in 0..80 {
        if status(&server, get.clone(), "/api/v1/flows", Some(&ci), "").await == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "a revoked token still works after 8 s");
    assert_eq!(sluice(dir.path(), &["token", "revoke", "ci"]).status.code(), Some(1));

    let verified = sluice(dir.path(), &["audit", "verify"]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(
        stdout(&verified).starts_with("the audit log holds: 5 entries, head 5 "),
        "{}",
        stdout(&verified)
    );
    let export = dir.path().join("audit.jsonl");
    let exported = sluice(dir.path(), &["audit", "export", "--output", export.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&export).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["actor"].as_str().unwrap(), l["action"].as_str().unwrap())).collect();
    let user = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    assert_eq!(
        actions,
        [
            ("server", "token.create"),
            ("token:admin", "flow.create"),
            (user.as_str(), "token.create"),
            ("token:ci", "execution.start"),
            (user.as_str(), "token.revoke"),
        ]
    );
    assert!(lines[1]["source"].as_str().unwrap().starts_with("127.0.0.1:"), "{}", lines[1]);
    server.terminate();

    // An entry changed behind the store's back breaks the chain where it is.
    let db = rusqlite::Connection::open(dir.path().join("sluice.db")).unwrap();
    db.execute("UPDATE audit_log SET actor = 'token:nobody' WHERE seq = 4", []).unwrap();
    drop(db);
    let broken = sluice(dir.path(), &["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1));
    assert_eq!(
        stderr(&broken).trim(),
        "error: the audit log is broken at audit entry 4: its content does not match its hash: it was \
         altered, or moved from another place"
    );
}

#[tokio::test]
async fn on_loopback_a_server_runs_open_until_a_token_exists_and_takes_a_given_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let open = Server::start(dir.path());
    assert!(
        open.preamble.iter().any(|l| l.starts_with("auth is off: bound to loopback")),
        "{:?}",
        open.preamble
    );
    assert_eq!(status(&open, reqwest::Method::GET, "/api/v1/flows", None, "").await, 200);
    open.terminate();

    let given = "sluice_given-by-the-operator-0123456789abcdef";
    let server = Server::start_with(dir.path(), &["--metrics-need-token"], &[("SLUICE_ADMIN_TOKEN", given)]);
    assert!(server.preamble.iter().any(|l| l.starts_with("auth is on: requests need a token")));
    assert_eq!(status(&server, reqwest::Method::GET, "/api/v1/flows", None, "").await, 401);
    assert_eq!(status(&server, reqwest::Method::GET, "/api/v1/tokens", Some(given), "").await, 200);
    assert_eq!(status(&server, reqwest::Method::GET, "/metrics", None, "").await, 401);
    assert_eq!(status(&server, reqwest::Method::GET, "/metrics", Some(given), "").await, 200);
    assert_eq!(status(&server, reqwest::Method::GET, "/healthz", None, "").await, 200);
    server.terminate();

    // A new token given replaces the one before.
    let rotated = "sluice_rotated-by-the-operator-0123456789abcdef";
    let server = Server::start_with(dir.path(), &[], &[("SLUICE_ADMIN_TOKEN", rotated)]);
    assert_eq!(status(&server, reqwest::Method::GET, "/api/v1/tokens", Some(rotated), "").await, 200);
    assert_eq!(status(&server, reqwest::Method::GET, "/api/v1/tokens", Some(given), "").await, 401);
    server.terminate();
}
