//! Forwarding a component's request for the Docker origin to the daemon, both bodies streamed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::endpoint::DockerEndpoint;
use super::policy::{self, BodyCheck};
use crate::capabilities::logs::{LogLevel, LogPipe};
use crate::capabilities::network::body::{empty_body, first_frame};

/// The header on a refusal that the host made up (a 403 that never reached the daemon).
pub const DOCKER_DENIED_HEADER: &str = "sluice-denied";

/// Largest JSON body the host reads to check it (container, exec and volume configs).
const MAX_CHECKED_BODY: usize = 4 << 20;

pub(crate) type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
pub(crate) type Exchange = Result<(http::Response<WasiBody>, IoFuture), HttpError>;

/// One run's access to the daemon: where it is, the label of the run's containers, and what
/// was refused.
pub(crate) struct DockerSession {
    pub(crate) endpoint: Arc<DockerEndpoint>,
    /// Value of the run label on every container this run creates.
    pub(crate) run_id: String,
    /// Whether the run asked to create a container (so the host looks for leftovers).
    pub(crate) created: AtomicBool,
    /// Creations sent to the daemon and not answered yet: the cleanup waits for them, since
    /// the daemon creates the container even if the run is stopped meanwhile.
    pub(crate) creating: Arc<AtomicUsize>,
    pub(crate) log: LogPipe,
    pub(crate) denied: Arc<Mutex<Vec<String>>>,
}

impl DockerSession {
    pub(crate) fn new(endpoint: Arc<DockerEndpoint>, log: LogPipe, denied: Arc<Mutex<Vec<String>>>) -> Self {
        DockerSession {
            endpoint,
            run_id: run_id(),
            created: AtomicBool::new(false),
            creating: Arc::default(),
            log,
            denied,
        }
    }

    /// Checks the request, then sends it to the daemon and hands back the streamed response.
    pub(crate) async fn forward(self: Arc<Self>, request: http::Request<WasiBody>) -> Exchange {
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let content_types: Vec<String> = parts
            .headers
            .get_all(http::header::CONTENT_TYPE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let content_types: Vec<&str> = content_types.iter().map(String::as_str).collect();
        let check = match policy::classify(parts.method.as_str(), &path_and_query, &content_types) {
            Ok(check) => check,
            Err(reason) => {
                return Ok(self.refuse(parts.method.as_str(), &path_and_query, &reason, body).await);
            }
        };
        let body = match check {
            BodyCheck::None => match first_frame(body).await? {
                Some(body) => body,
                None => {
                    // An empty body goes as `content-length: 0`: the daemon refuses a chunked
                    // one on some endpoints (`POST /containers/{id}/start`).
                    parts.headers.remove(http::header::TRANSFER_ENCODING);
                    if !matches!(parts.method, http::Method::GET | http::Method::HEAD) {
                        parts.headers.insert(http::header::CONTENT_LENGTH, 0.into());
                    }
                    empty_body()
                }
            },
            check => {
                let bytes = read_limited(body).await?;
                // Only one JSON object is checked, and only what was checked goes on: the
                // host's own serialization, never the component's bytes (a daemon's decoder
                // may read them differently, e.g. ignore trailing data).
                let checked = policy::parse_body(&bytes).and_then(|mut value| {
                    policy::check_body(check, &mut value, &self.run_id).map(|()| value)
                });
                let value = match checked {
                    Ok(value) => value,
                    Err(reason) => {
                        return Ok(self
                            .refuse(parts.method.as_str(), &path_and_query, &reason, empty_body())
                            .await);
                    }
                };
                if check == BodyCheck::ContainerCreate {
                    self.created.store(true, Ordering::SeqCst);
                }
                let bytes = Bytes::from(serde_json::to_vec(&value).map_err(|e| internal(e.to_string()))?);
                parts.headers.insert(http::header::CONTENT_LENGTH, bytes.len().into());
                parts.headers.remove(http::header::TRANSFER_ENCODING);
                Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
            }
        };
        parts.uri = path_and_query.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let request = http::Request::from_parts(parts, body);
        if check != BodyCheck::ContainerCreate {
            return send(&self.endpoint, &self.log, request).await;
        }
        // A creation runs to the daemon's answer even if the run is stopped meanwhile, so the
        // cleanup sees the container it made.
        self.creating.fetch_add(1, Ordering::SeqCst);
        let (endpoint, log, creating) = (self.endpoint.clone(), self.log.clone(), self.creating.clone());
        let (answer, answered) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let exchange = send(&endpoint, &log, request).await;
            creating.fetch_sub(1, Ordering::SeqCst);
            let _ = answer.send(exchange);
        });
        answered.await.map_err(|_| internal("the container creation was interrupted".into()))?
    }

    /// A made-up 403 with the daemon's error shape (`{"message": ...}`), so the component can
    /// show the reason; logged and recorded like any refusal.
    async fn refuse(
        &self,
        method: &str,
        path: &str,
        reason: &str,
        body: WasiBody,
    ) -> (http::Response<WasiBody>, IoFuture) {
        let path = path.split('?').next().unwrap_or(path);
        let message = format!("denied: Docker Engine API {method} {path}: {reason} is not allowed to tasks");
        self.log.host(LogLevel::Error, message.clone());
        self.denied.lock().unwrap_or_else(PoisonError::into_inner).push(format!("docker: {reason}"));
        // Drain the request body first (see `NetworkPolicy::send_request`).
        let mut body = body;
        while let Some(Ok(_)) = body.frame().await {}
        let json = serde_json::json!({ "message": message }).to_string();
        let response = http::Response::builder()
            .status(403)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(DOCKER_DENIED_HEADER, "1")
            .body(Full::new(Bytes::from(json)).map_err(|never| match never {}).boxed_unsync())
            .unwrap_or_else(|_| {
                http::Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync())
            });
        (response, Box::new(async { Ok(()) }))
    }
}

fn internal(message: String) -> HttpError {
    HttpError::InternalError(Some(message))
}

/// A label value unique to this run in this process and across processes.
fn run_id() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn read_limited(mut body: WasiBody) -> Result<Bytes, HttpError> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if bytes.len() + data.len() > MAX_CHECKED_BODY {
                return Err(HttpError::HttpRequestBodySize(Some(MAX_CHECKED_BODY as u64)));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}

/// Sends one request (origin-form URI) on a new connection to the daemon; the response body
/// streams as the daemon writes it, driven by the returned I/O future.
pub(crate) async fn send(
    endpoint: &DockerEndpoint,
    log: &LogPipe,
    mut request: http::Request<WasiBody>,
) -> Exchange {
    request.headers_mut().insert(http::header::HOST, http::HeaderValue::from_static("docker"));
    let stream = endpoint.connect().await.map_err(|err| {
        // The endpoint goes to the operator's log, never to the component.
        log.host(LogLevel::Error, format!("cannot reach the Docker Engine at {endpoint}: {err}"));
        internal("the host cannot reach the Docker Engine (see the task log)".into())
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let mut conn = Box::pin(conn);
    let mut conn_done = false;
    let response = {
        let send = sender.send_request(request);
        tokio::pin!(send);
        loop {
            tokio::select! {
                response = &mut send => break response?,
                finished = &mut conn, if !conn_done => {
                    conn_done = true;
                    finished?;
                }
            }
        }
    };
    let io = async move {
        if !conn_done {
            conn.await?;
        }
        Ok(())
    };
    Ok((response.map(|body| body.map_err(HttpError::from).boxed_unsync()), Box::new(io)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::capabilities::logs::CollectLogs;

    /// What the fake daemon received: each request's head and body.
    type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    /// A fake daemon on a unix socket: records each request (head and body) and answers 201.
    struct FakeDaemon {
        _dir: tempfile::TempDir,
        endpoint: DockerEndpoint,
        received: Received,
        task: tokio::task::JoinHandle<()>,
    }

    impl FakeDaemon {
        fn start() -> FakeDaemon {
            let dir = tempfile::tempdir().unwrap();
            let socket = dir.path().join("docker.sock");
            let listener = tokio::net::UnixListener::bind(&socket).unwrap();
            let received: Received = Arc::default();
            let record = received.clone();
            let task = tokio::spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    let mut data = Vec::new();
                    let mut buf = [0u8; 4096];
                    let (head, length) = loop {
                        let n = stream.read(&mut buf).await.unwrap();
                        assert!(n > 0, "the request ended early");
                        data.extend_from_slice(&buf[..n]);
                        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&data[..end]).into_owned();
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length: ")
                                        .map(str::to_string)
                                })
                                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                            data.drain(..end + 4);
                            break (head, length);
                        }
                    };
                    while data.len() < length {
                        let n = stream.read(&mut buf).await.unwrap();
                        assert!(n > 0, "the body ended early");
                        data.extend_from_slice(&buf[..n]);
                    }
                    record.lock().unwrap().push((head, data));
                    let answer = "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    stream.write_all(answer.as_bytes()).await.unwrap();
                }
            });
            FakeDaemon { endpoint: DockerEndpoint::Unix(socket), _dir: dir, received, task }
        }
    }

    impl Drop for FakeDaemon {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    struct Sent {
        status: u16,
        body: String,
        logs: Vec<String>,
        denied: Vec<String>,
    }

    async fn send_through(daemon: &FakeDaemon, path: &str, content_type: &str, body: &[u8]) -> Sent {
        let logs = Arc::new(CollectLogs::default());
        let denied: Arc<Mutex<Vec<String>>> = Arc::default();
        let session = Arc::new(DockerSession::new(
            Arc::new(daemon.endpoint.clone()),
            LogPipe::new(logs.clone(), &[], 1 << 20),
            denied.clone(),
        ));
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://docker.sluice.internal{path}"))
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::copy_from_slice(body)).map_err(|never| match never {}).boxed_unsync())
            .unwrap();
        let (response, io) = session.forward(request).await.unwrap();
        let io = tokio::spawn(Box::into_pin(io));
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        io.abort();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Sent {
            status,
            body: message,
            logs: logs.lines().into_iter().map(|l| l.message).collect(),
            denied: denied.lock().unwrap().clone(),
        }
    }

    const CREATE: &str = "/v1.41/containers/create";

    #[tokio::test]
    async fn a_body_with_trailing_data_is_refused_and_never_reaches_the_daemon() {
        let daemon = FakeDaemon::start();
        let body = br#"{"Image": "busybox", "HostConfig": {"NetworkMode": "none"}} {"HostConfig": {"Privileged": true}}"#;
        let sent = send_through(&daemon, CREATE, "application/json", body).await;
        let reason = "a body that is not one JSON object (trailing characters at line 1 column 61)";
        let message = format!("denied: Docker Engine API POST {CREATE}: {reason} is not allowed to tasks");
        assert_eq!((sent.status, sent.body.as_str()), (403, message.as_str()));
        assert_eq!(sent.logs, vec![message.clone()]);
        assert_eq!(sent.denied, vec![format!("docker: {reason}")]);
        assert_eq!(daemon.received.lock().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn bodies_that_are_not_one_json_object_are_refused() {
        let daemon = FakeDaemon::start();
        for (path, body, reason) in [
            (
                CREATE,
                &b"not json"[..],
                "a body that is not one JSON object (expected ident at line 1 column 2)",
            ),
            (
                CREATE,
                b"",
                "a body that is not one JSON object (EOF while parsing a value at line 1 column 0)",
            ),
            (
                "/v1.41/containers/abc/exec",
                b"[\"sh\"]",
                "a body that is not one JSON object (it is another JSON value)",
            ),
            (
                "/v1.41/volumes/create",
                b"{\"Name\": \"v\"}\n{}",
                "a body that is not one JSON object (trailing characters at line 2 column 1)",
            ),
            (
                CREATE,
                b"{\"Image\": \"x\", \"HostConfig\": {}, \"HostConfig\": {\"Privileged\": true}}",
                "a body with a repeated key (`HostConfig` at line 1 column 45)",
            ),
        ] {
            let sent = send_through(&daemon, path, "application/json", body).await;
            let message = format!("denied: Docker Engine API POST {path}: {reason} is not allowed to tasks");
            assert_eq!((sent.status, sent.body.as_str()), (403, message.as_str()));
        }
        assert_eq!(daemon.received.lock().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn keys_in_another_case_are_checked_and_refused() {
        let daemon = FakeDaemon::start();
        let sent = send_through(
            &daemon,
            CREATE,
            "application/json",
            br#"{"Image": "busybox", "hostconfig": {"privileged": true}}"#,
        )
        .await;
        assert_eq!(
            (sent.status, sent.body.as_str()),
            (
                403,
                "denied: Docker Engine API POST /v1.41/containers/create: `HostConfig.Privileged` (a privileged \
                 container) is not allowed to tasks"
            )
        );
        let sent = send_through(
            &daemon,
            "/v1.41/containers/%63reate",
            "application/json",
            br#"{"Privileged": true}"#,
        )
        .await;
        assert_eq!(
            (sent.status, sent.body.as_str()),
            (
                403,
                "denied: Docker Engine API POST /v1.41/containers/%63reate: `Privileged` outside `HostConfig` \
                 (daemons read it as `HostConfig.Privileged`; put it in `HostConfig`) is not allowed to tasks"
            )
        );
        assert_eq!(daemon.received.lock().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn what_is_forwarded_is_the_hosts_serialization_of_what_it_checked() {
        let daemon = FakeDaemon::start();
        let body = b"  {\"image\": \"busybox\", \"CMD\": [\"true\"], \"hostConfig\": {\"networkmode\": \"none\"}, \"labels\": {\"a\": \"b\"}}\n";
        let sent = send_through(&daemon, CREATE, "application/json", body).await;
        assert_eq!((sent.status, sent.body.as_str()), (201, "{}"));
        let received = daemon.received.lock().unwrap().clone();
        assert_eq!(received.len(), 1);
        let (head, forwarded) = &received[0];
        assert!(head.starts_with("POST /v1.41/containers/create HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains(&format!("content-length: {}", forwarded.len())),
            "{head}"
        );
        let value = crate::capabilities::docker::wire::parse_object(forwarded).unwrap();
        let run = value["Labels"]["sluice.run"].as_str().unwrap().to_string();
        assert_eq!(
            serde_json::Value::Object(value),
            serde_json::json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"},
                "Labels": {"a": "b", "sluice.run": run}})
        );
    }

    #[tokio::test]
    async fn a_form_body_and_urls_for_the_daemon_to_fetch_are_refused() {
        let daemon = FakeDaemon::start();
        let sent = send_through(
            &daemon,
            "/v1.41/images/create?fromSrc=-&repo=x",
            "application/x-www-form-urlencoded",
            b"fromSrc=http%3A%2F%2F127.0.0.1%3A9%2Fsecret",
        )
        .await;
        assert_eq!(
            (sent.status, sent.body.as_str()),
            (
                403,
                "denied: Docker Engine API POST /v1.41/images/create: a form body (`Content-Type: \
                 application/x-www-form-urlencoded`; the daemon reads its fields as query parameters) is not \
                 allowed to tasks"
            )
        );
        let sent = send_through(
            &daemon,
            "/v1.41/build?remote=http%3A%2F%2F127.0.0.1%3A9%2F",
            "application/x-tar",
            b"",
        )
        .await;
        assert_eq!(
            (sent.status, sent.body.as_str()),
            (
                403,
                "denied: Docker Engine API POST /v1.41/build: a build context that the daemon fetches itself \
                 (`remote=http://127.0.0.1:9/`) is not allowed to tasks"
            )
        );
        assert_eq!(daemon.received.lock().unwrap().len(), 0);
    }
}
