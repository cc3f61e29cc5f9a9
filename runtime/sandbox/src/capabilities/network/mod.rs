//! Outbound HTTP: the wasi-http send hook that lets a request through only to granted origins.
//!
//! Every request the component sends passes here, including each hop of a redirect that the
//! component follows (wasi-http never follows redirects by itself), so a granted origin cannot
//! bounce the component to a non-granted one. What is let through goes out by the run's own
//! client (`send`), with the TLS trust the run set for the origin (`capabilities::tls`).

pub(crate) mod body;
mod origin;
mod pool;
mod send;

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

pub(crate) use origin::default_port;
pub use origin::{OriginPattern, OriginPatternError};

use super::docker::{DockerSession, is_docker};
use super::logs::{LogLevel, LogPipe};
use super::tls::OriginTrust;
use crate::state::RunState;

/// Links wasi-http's outgoing handler; every request it sends passes [`NetworkPolicy`].
pub(crate) fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>),
                HttpError,
            >,
        > + Send,
>;

/// The per-run HTTP policy.
pub(crate) struct NetworkPolicy {
    allowed: Vec<OriginPattern>,
    log: LogPipe,
    /// What was refused during the run, for the run report.
    pub(crate) denied: Arc<Mutex<Vec<String>>>,
    /// The route to the Docker Engine, when the run was granted `docker`.
    pub(crate) docker: Option<Arc<DockerSession>>,
    /// The run's TLS trust per origin, read for every HTTPS request.
    tls: OriginTrust,
    /// The run's connections, reused by its later requests to the same origin.
    pool: Arc<pool::ConnectionPool>,
}

impl NetworkPolicy {
    pub(crate) fn new(allowed: Vec<OriginPattern>, log: LogPipe, tls: OriginTrust) -> Self {
        NetworkPolicy { allowed, log, denied: Arc::default(), docker: None, tls, pool: Arc::default() }
    }

    /// Also routes requests for the Docker origin to `endpoint`.
    pub(crate) fn with_docker(mut self, endpoint: Arc<crate::DockerEndpoint>) -> Self {
        self.docker = Some(Arc::new(DockerSession::new(endpoint, self.log.clone(), self.denied.clone())));
        self
    }

    /// `Ok(())` when the request's origin is granted, else the origin as text. The `tls`
    /// interface asks the same question of an origin before it takes trust for it.
    pub(crate) fn check(&self, uri: &http::Uri) -> Result<(), String> {
        let scheme = uri.scheme_str().unwrap_or("https");
        // Only HTTP goes this way: a TCP grant (`smtp://h:587`) must not let a request with
        // scheme `smtp` through to that port.
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return Err(format!("{scheme}://{}", uri.authority().map_or("(no host)", |a| a.as_str())));
        }
        let Some(authority) = uri.authority() else {
            return Err(format!("{scheme}://(no host)"));
        };
        let host = authority.host();
        let port = authority.port_u16().or_else(|| default_port(scheme));
        let origin = match authority.port_u16() {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        };
        match port {
            Some(port) if self.allowed.iter().any(|p| p.allows(scheme, host, port)) => Ok(()),
            _ => Err(origin),
        }
    }
}

impl NetworkPolicy {
    /// The same grants, TLS trust, log and refusals, with a pool of its own and no Docker
    /// route: what sends a run's `cleanup` requests after its instance is gone.
    pub(crate) fn detached(&self) -> NetworkPolicy {
        NetworkPolicy::new(self.allowed.clone(), self.log.clone(), self.tls.clone())
            .with_denied(self.denied.clone())
    }

    fn with_denied(mut self, denied: Arc<Mutex<Vec<String>>>) -> Self {
        self.denied = denied;
        self
    }

    /// Sends a request the host itself makes for the run (a `cleanup` request), through the
    /// same grant check and TLS trust as the component's own, within `timeout`; the status.
    pub(crate) async fn send_for_run(
        &self,
        request: http::Request<bytes::Bytes>,
        timeout: std::time::Duration,
    ) -> Result<u16, String> {
        use http_body_util::BodyExt;
        if let Err(origin) = self.check(request.uri()) {
            self.denied.lock().unwrap_or_else(PoisonError::into_inner).push(origin.clone());
            return Err(format!("denied: {origin} is not granted"));
        }
        let tls = match request.uri().scheme_str() {
            Some("https") => request
                .uri()
                .authority()
                .map(|authority| self.tls.config_for(authority.host(), authority.port_u16().unwrap_or(443))),
            _ => None,
        };
        let request =
            request.map(|b| http_body_util::Full::new(b).map_err(|never| match never {}).boxed_unsync());
        let options = RequestOptions {
            connect_timeout: Some(timeout),
            first_byte_timeout: Some(timeout),
            between_bytes_timeout: Some(timeout),
        };
        let exchange = async {
            let (response, _io) = send::send(request, Some(options), tls, self.pool.clone()).await?;
            let status = response.status().as_u16();
            // Read to its end so the server sees the exchange finish; its content is not kept.
            let mut body = response.into_body();
            while let Some(Ok(_)) = body.frame().await {}
            Ok::<u16, HttpError>(status)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_elapsed) => Err(format!("no answer within {}s", timeout.as_secs())),
        }
    }
}

impl WasiHttpHooks for NetworkPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        if is_docker(request.uri()) {
            if let Some(session) = &self.docker {
                return Box::new(session.clone().forward(request));
            }
            self.log.host(
                LogLevel::Error,
                "denied: Docker Engine API (not granted; add `docker: true` to the task's `allow`)".into(),
            );
            self.denied.lock().unwrap_or_else(PoisonError::into_inner).push("docker".into());
            return refuse(request);
        }
        if let Err(origin) = self.check(request.uri()) {
            let message = format!(
                "denied: outbound HTTP {} to {origin} (not granted; add it to the task's `allow.network`)",
                request.method()
            );
            self.log.host(LogLevel::Error, message);
            self.denied.lock().unwrap_or_else(PoisonError::into_inner).push(origin);
            return refuse(request);
        }
        let tls = match request.uri().scheme_str() {
            Some("https") => request
                .uri()
                .authority()
                .map(|authority| self.tls.config_for(authority.host(), authority.port_u16().unwrap_or(443))),
            _ => None,
        };
        let pool = self.pool.clone();
        Box::new(async move {
            // hyper sends a GET (HEAD, ...) whose body length it does not know without a body
            // and drops that body at once; a guest that writes and finishes its empty body
            // after that (wstd does) finds the stream closed and reports "connection reset".
            // So the host waits for the guest to finish an empty body and sends a known-empty
            // one; a body with data goes on as it streams.
            let (parts, body) = request.into_parts();
            let body = body::first_frame(body).await?.unwrap_or_else(body::empty_body);
            let request = http::Request::from_parts(parts, body);
            send::send(request, options, tls, pool).await
        })
    }
}

/// Refuses a request with `HttpRequestDenied`. Takes the request body first: a guest that writes
/// its body before reading the response (wstd does) would otherwise see a closed stream
/// ("connection reset") instead of the refusal. Nothing reaches the network either way.
fn refuse(request: http::Request<WasiBody>) -> ResponseFuture {
    Box::new(async move {
        use http_body_util::BodyExt;
        let mut body = request.into_body();
        while let Some(Ok(_)) = body.frame().await {}
        Err(HttpError::HttpRequestDenied)
    })
}
