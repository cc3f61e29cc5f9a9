//! Forwarding a component's request for the Docker origin to the daemon, both bodies streamed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::endpoint::DockerEndpoint;
use super::policy::{self, BodyCheck};
use crate::logs::{LogLevel, LogPipe};

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
        let check = match policy::classify(parts.method.as_str(), &path_and_query) {
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
                    Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync()
                }
            },
            check => {
                let bytes = read_limited(body).await?;
                let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
                    Ok(value) => value,
                    // Not JSON: the daemon answers with its own error; nothing to check.
                    Err(_) => serde_json::Value::Null,
                };
                if check == BodyCheck::ContainerCreate {
                    self.created.store(true, Ordering::SeqCst);
                }
                let bytes = if value.is_null() {
                    bytes
                } else {
                    if let Err(reason) = policy::check_body(check, &mut value, &self.run_id) {
                        let empty = Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync();
                        return Ok(self.refuse(parts.method.as_str(), &path_and_query, &reason, empty).await);
                    }
                    Bytes::from(serde_json::to_vec(&value).map_err(|e| internal(e.to_string()))?)
                };
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

/// Waits for the body's first frame: `None` when the body is empty (the component finished it
/// without data), else the whole body again. Waiting also keeps the component's end of an empty
/// body open until it finishes it; a body dropped early reads as "connection reset" there.
async fn first_frame(mut body: WasiBody) -> Result<Option<WasiBody>, HttpError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(err)) => return Err(err),
            Some(Ok(frame)) => {
                if frame.data_ref().is_some_and(|data| data.is_empty()) {
                    continue;
                }
                return Ok(Some(Prepended { first: Some(frame), rest: body }.boxed_unsync()));
            }
        }
    }
}

/// A body whose first frame was already read.
struct Prepended {
    first: Option<hyper::body::Frame<Bytes>>,
    rest: WasiBody,
}

impl hyper::body::Body for Prepended {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, HttpError>>> {
        if let Some(frame) = self.first.take() {
            return std::task::Poll::Ready(Some(Ok(frame)));
        }
        std::pin::Pin::new(&mut self.rest).poll_frame(cx)
    }
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
