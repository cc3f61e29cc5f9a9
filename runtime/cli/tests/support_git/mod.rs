//! A real git server for the git plugin's tests and benchmark: `git http-backend` run as CGI
//! behind a small hyper server on 127.0.0.1, over repositories made with the real `git` CLI.
//!
//! Paths pick a behaviour: `/<repo>` is served as is; `/private/<repo>` needs basic auth
//! ([`USER`]:[`PASSWORD`]); `/v0/<repo>` ignores `Git-Protocol` (a server without protocol v2);
//! `/v1/<repo>` runs git with protocol v1 whatever the client asks (its ref advertisements
//! start with `version 1`); `/garbage/<repo>` answers HTML; `/junk/<repo>` answers junk with
//! the content-type of a ref advertisement; `/hang/<repo>` never answers;
//! `/redirect/<port>/<repo>` redirects to the same repository on `http://127.0.0.1:<port>`.
//! [`GitServer::length_required`] starts one that also answers `411 Length Required` to a
//! chunked request body, as CGI bridges without chunked support and some proxies do.
//!
//! [`apache`] is Debian's Apache serving the same repositories as git's documentation sets it
//! up; [`suite`] has what the clone and push suites share (running a flow, checking a clone).
//!
//! [`Hook`] is a second server, for a flow to call (`core.http`) when the test should act
//! between two of its tasks: it runs the test's closure, then answers.

#![allow(clippy::unwrap_used, dead_code)]

pub mod apache;
pub mod suite;

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

pub const USER: &str = "ci";
pub const PASSWORD: &str = "s3cret-token";

/// A server of the tests' bare repositories: ours ([`GitServer`], in either mode) or Apache.
pub trait Serves {
    /// The URL of the repository `<root>/<name>.git`.
    fn url(&self, name: &str) -> String;
}

/// What [`GitServer`] does with a request body sent chunked (without a `content-length`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunked {
    /// Hands it to `git http-backend`, as most web servers do.
    Accepted,
    /// Answers `411 Length Required`. Such a server works with the git CLI, which sends a
    /// `content-length` for every body it holds in memory (below `http.postBuffer`, 1 MiB); a
    /// client that sends small bodies chunked fails there.
    Refused,
}

/// A running server; stops with the test process.
pub struct GitServer {
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    /// Requests received so far.
    pub requests: Arc<AtomicUsize>,
}

impl Serves for GitServer {
    fn url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.origin)
    }
}

impl GitServer {
    /// Serve the bare repositories under `root` (`<root>/<name>.git`).
    pub fn start(root: &Path) -> GitServer {
        Self::start_with(root, Chunked::Accepted)
    }

    /// Like [`start`](GitServer::start), refusing chunked request bodies with 411.
    pub fn length_required(root: &Path) -> GitServer {
        Self::start_with(root, Chunked::Refused)
    }

    pub fn start_with(root: &Path, chunked: Chunked) -> GitServer {
        let root = root.to_path_buf();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let root = root.clone();
                    let counter = counter.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            counter.fetch_add(1, Ordering::SeqCst);
                            handle(req, root.clone(), chunked)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        let addr: SocketAddr = rx.recv().unwrap();
        GitServer { origin: format!("http://{addr}"), requests }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn handle(
    req: Request<Incoming>,
    root: PathBuf,
    chunked: Chunked,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (mut protocol, content_type, authorization, encoding) =
        (header("git-protocol"), header("content-type"), header("authorization"), header("content-encoding"));
    let method = req.method().to_string();
    let sent_chunked = req
        .headers()
        .get_all(hyper::header::TRANSFER_ENCODING)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("chunked")));
    // The whole request is read before any answer, as a real server's lingering close does:
    // closing with unread bytes makes the kernel reset the connection, and the client could
    // see the reset instead of the answer (a 401 to a POST, say).
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if sent_chunked && chunked == Chunked::Refused {
        return Ok(reply(
            StatusCode::LENGTH_REQUIRED,
            "text/plain",
            b"chunked request bodies are not supported; send a content-length".to_vec(),
        ));
    }
    let mut path_info = path.clone();
    let mut remote_user = None;
    if let Some(rest) = path.strip_prefix("/garbage/") {
        let _ = rest;
        return Ok(reply(
            StatusCode::OK,
            "text/html",
            b"<html><body>Welcome to nginx!</body></html>".to_vec(),
        ));
    }
    if let Some(rest) = path.strip_prefix("/redirect/") {
        // `/redirect/<port>/<path>`: to the same path on another origin.
        let (port, rest) = rest.split_once('/').unwrap();
        let mut response = reply(StatusCode::FOUND, "text/plain", Vec::new());
        let location = format!("http://127.0.0.1:{port}/{rest}?{query}");
        response.headers_mut().insert("location", location.parse().unwrap());
        return Ok(response);
    }
    if let Some(rest) = path.strip_prefix("/junk/") {
        let _ = rest;
        let service = query.strip_prefix("service=").unwrap_or("git-upload-pack");
        return Ok(reply(
            StatusCode::OK,
            &format!("application/x-{service}-advertisement"),
            b"Welcome to nginx!".to_vec(),
        ));
    }
    if path.starts_with("/hang/") {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
    if let Some(rest) = path.strip_prefix("/v0/") {
        protocol = None;
        path_info = format!("/{rest}");
    }
    if let Some(rest) = path.strip_prefix("/v1/") {
        protocol = Some("version=1".to_string());
        path_info = format!("/{rest}");
    }
    if let Some(rest) = path.strip_prefix("/private/") {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        if authorization.as_deref() != Some(expected.as_str()) {
            let mut response = reply(StatusCode::UNAUTHORIZED, "text/plain", b"auth required".to_vec());
            response.headers_mut().insert("www-authenticate", "Basic realm=\"git\"".parse().unwrap());
            return Ok(response);
        }
        remote_user = Some(USER.to_string());
        path_info = format!("/{rest}");
    }
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("git");
        cmd.arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", &root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("PATH_INFO", &path_info)
            .env("QUERY_STRING", &query)
            .env("REQUEST_METHOD", &method)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = &content_type {
            cmd.env("CONTENT_TYPE", t);
        }
        if let Some(p) = &protocol {
            cmd.env("GIT_PROTOCOL", p);
        }
        if let Some(e) = &encoding {
            cmd.env("HTTP_CONTENT_ENCODING", e);
        }
        if let Some(u) = &remote_user {
            cmd.env("REMOTE_USER", u);
        }
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output
    })
    .await
    .unwrap();
    Ok(cgi_response(&output.stdout))
}

/// A server that runs a closure for each request and answers `200` with what it returns: a
/// flow calls it (`core.http`) where the test acts between two tasks, so the flow waits for
/// the test, with no sleep and no race.
pub struct Hook {
    /// `http://127.0.0.1:<port>/`
    pub url: String,
}

impl Hook {
    pub fn start(mut act: impl FnMut() -> String + Send + 'static) -> Hook {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                // The request head (a GET has no body), then the answer.
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    line.clear();
                }
                let body = act();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(body.as_bytes()).unwrap();
            }
        });
        Hook { url }
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert("content-type", content_type.parse().unwrap());
    response
}

/// A CGI answer (headers, a blank line, the body) as an HTTP response.
fn cgi_response(out: &[u8]) -> Response<Full<Bytes>> {
    let (head_end, body_start) = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (i, i + 4),
        None => match out.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (i, i + 2),
            None => (out.len(), out.len()),
        },
    };
    let head = String::from_utf8_lossy(&out[..head_end]).into_owned();
    let mut response = Response::new(Full::new(Bytes::copy_from_slice(&out[body_start..])));
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value.split(' ').next().unwrap().parse().unwrap();
            *response.status_mut() = StatusCode::from_u16(code).unwrap();
        } else {
            response.headers_mut().append(
                hyper::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
    }
    response
}

/// Run the real `git` in `dir` with fixed identities and dates; panics with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git_bytes(dir, args)).unwrap()
}

pub fn git_bytes(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Fixture Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Fixture Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Make the bare repository `<root>/<name>.git` from a work tree that `fill` prepares (it
/// commits what it wants; `git init -b main` is done here). Returns the bare repository's path.
pub fn make_repo(root: &Path, name: &str, fill: impl FnOnce(&Path)) -> PathBuf {
    let work = root.join(format!("{name}.work"));
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    fill(&work);
    let bare = root.join(format!("{name}.git"));
    git(root, &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    git(&bare, &["config", "http.receivepack", "true"]);
    git(&bare, &["config", "uploadpack.allowAnySHA1InWant", "false"]);
    bare
}

/// Write a repository of `count` small files in nested directories and commit it.
pub fn fill_many_files(work: &Path, count: usize) {
    for i in 0..count {
        let dir = work.join(format!("src/mod{:02}/sub{:02}", i % 50, (i / 50) % 10));
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!("// file {i}\npub fn f{i}() -> usize {{\n    {i} * 7 + {}\n}}\n", i % 13);
        std::fs::write(dir.join(format!("file{i:05}.rs")), text.repeat(1 + i % 5)).unwrap();
    }
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", "many files"]);
}
