//! The cleanup capability: HTTP requests a component registers while it runs, for the host to
//! send if the run ends without returning (its timeout, a kill, a trap, the memory limit). After
//! such an end no guest code runs any more, so a task that started something elsewhere (a
//! Jenkins build) registers beforehand what stops it, and cancels it once that is no longer
//! needed. A run that returns sends nothing.
//!
//! The table belongs to the run ([`AbortRequests`], built in `for_task`); `run.rs` arms an
//! [`OnAbort`] before the run starts, as it does for the docker capability's leftover
//! containers, so the requests go out also when the run's future is dropped (the execution was
//! killed). A URL must be granted to the run when it is registered and is checked again when it
//! is sent, by the run's own network policy and TLS trust ([`NetworkPolicy::send_for_run`]).
//! What a guest can make the host hold is bounded: [`MAX_REQUESTS`] of at most
//! [`MAX_REQUEST_BYTES`] each. The log names method, origin and path, never a header value.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::sluice::plugin::cleanup;
use crate::capabilities::logs::{LogLevel, LogPipe};
use crate::capabilities::network::NetworkPolicy;
use crate::state::RunState;

/// The most requests registered at once.
pub(crate) const MAX_REQUESTS: usize = 8;
/// The most bytes of one request: URL, header names and values, and body together.
pub(crate) const MAX_REQUEST_BYTES: usize = 64 << 10;
/// How long the host waits for each request's answer.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Links the `cleanup` interface.
pub(crate) fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    cleanup::add_to_linker::<RunState, HasSelf<RunState>>(linker, |s| s)
}

/// One registered request, checked and ready to send.
#[derive(Clone)]
struct Registered {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Registered {
    /// `METHOD scheme://host[:port]/path`: no query (it may hold a token), no header.
    fn label(&self) -> String {
        let origin = match (self.uri.scheme_str(), self.uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{}", authority.as_str()),
            _ => String::new(),
        };
        format!("{} {origin}{}", self.method, self.uri.path())
    }

    fn request(&self) -> Option<http::Request<Bytes>> {
        let mut request = http::Request::builder().method(self.method.clone()).uri(self.uri.clone());
        let headers = request.headers_mut()?;
        headers.extend(self.headers.clone());
        if !headers.contains_key(http::header::HOST) {
            let host = http::HeaderValue::from_str(self.uri.authority()?.as_str()).ok()?;
            headers.insert(http::header::HOST, host);
        }
        request.body(self.body.clone()).ok()
    }
}

#[derive(Default)]
struct Table {
    next_id: u32,
    pending: BTreeMap<u32, Registered>,
}

/// A run's registered requests, shared by the `cleanup` interface (which fills it) and the
/// run's [`OnAbort`] (which sends or drops them).
#[derive(Clone, Default)]
pub(crate) struct AbortRequests(Arc<Mutex<Table>>);

impl AbortRequests {
    fn insert(&self, request: Registered) -> Result<u32, String> {
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if table.pending.len() >= MAX_REQUESTS {
            return Err(format!(
                "this run already registered {MAX_REQUESTS} cleanup requests, the most a run may hold at once; \
                 cancel one before registering another"
            ));
        }
        table.next_id = table.next_id.wrapping_add(1);
        let id = table.next_id;
        table.pending.insert(id, request);
        Ok(id)
    }

    fn remove(&self, id: u32) -> Option<Registered> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pending.remove(&id)
    }

    /// Everything registered, oldest first, leaving the table empty.
    fn take(&self) -> Vec<Registered> {
        let table = &mut *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut table.pending).into_values().collect()
    }
}

impl cleanup::Host for RunState {
    fn register_request(
        &mut self,
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<u32, String> {
        let result = self.checked_request(&method, &url, headers, body).and_then(|request| {
            let label = request.label();
            self.cleanup.insert(request).map(|id| (id, label))
        });
        match result {
            Ok((id, label)) => {
                self.log.host(
                    LogLevel::Debug,
                    format!("cleanup: registered {label} (sent if the run is stopped)"),
                );
                Ok(id)
            }
            Err(reason) => {
                self.log
                    .host(LogLevel::Error, format!("refused: cleanup request {method} {url:?}: {reason}"));
                Err(reason)
            }
        }
    }

    fn cancel(&mut self, id: u32) {
        if let Some(request) = self.cleanup.remove(id) {
            self.log.host(LogLevel::Debug, format!("cleanup: cancelled {}", request.label()));
        }
    }
}

impl RunState {
    fn checked_request(
        &self,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Registered, String> {
        let size = url.len() + body.len() + headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
        if size > MAX_REQUEST_BYTES {
            return Err(format!(
                "{size} bytes of URL, headers and body; the most for one cleanup request is {MAX_REQUEST_BYTES} bytes (64 KiB)"
            ));
        }
        let method = http::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("`{method}` is not an HTTP method"))?;
        let uri: http::Uri = url.parse().map_err(|_| "the URL is malformed".to_string())?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err("the URL must be absolute, `http://` or `https://`".into());
        }
        if let Err(origin) = self.network.check(&uri) {
            self.log.host(
                LogLevel::Error,
                format!(
                    "denied: cleanup request to {origin} (not granted; add it to the task's `allow.network`)"
                ),
            );
            self.network.denied.lock().unwrap_or_else(PoisonError::into_inner).push(origin.clone());
            return Err(format!("{origin} is not granted to this run: add it to the task's `allow.network`"));
        }
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            let header = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a header name"))?;
            // The value is not quoted back: it may be a credential.
            let value = http::HeaderValue::from_str(&value)
                .map_err(|_| format!("the value of header `{name}` has characters a header cannot hold"))?;
            map.append(header, value);
        }
        Ok(Registered { method, uri, headers: map, body: Bytes::from(body) })
    }
}

/// Armed before a run starts: sends the run's registered requests if it ends without
/// returning (or, from `Drop`, in the background if the run's future is dropped), and drops
/// them if it returned.
pub(crate) struct OnAbort {
    requests: Option<AbortRequests>,
    network: NetworkPolicy,
    log: LogPipe,
}

impl OnAbort {
    pub(crate) fn arm(state: &RunState) -> OnAbort {
        OnAbort {
            requests: Some(state.cleanup.clone()),
            network: state.network.detached(),
            log: state.log.clone(),
        }
    }

    /// The component returned: nothing is sent.
    pub(crate) fn disarm(&mut self) {
        if let Some(requests) = self.requests.take() {
            requests.take();
        }
    }

    /// The run ended without returning: sends what is registered, in order, each within
    /// [`SEND_TIMEOUT`], logging each.
    pub(crate) async fn fire(mut self) {
        if let Some(requests) = self.requests.take() {
            send_all(requests.take(), &self.network, &self.log).await;
        }
    }
}

impl Drop for OnAbort {
    fn drop(&mut self) {
        let Some(requests) = self.requests.take() else { return };
        let pending = requests.take();
        if pending.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let network = self.network.detached();
            let log = self.log.clone();
            runtime.spawn(async move { send_all(pending, &network, &log).await });
        }
    }
}

async fn send_all(pending: Vec<Registered>, network: &NetworkPolicy, log: &LogPipe) {
    for registered in pending {
        let label = registered.label();
        let Some(request) = registered.request() else {
            log.host(LogLevel::Error, format!("cleanup: {label} failed: the request could not be built"));
            continue;
        };
        match network.send_for_run(request, SEND_TIMEOUT).await {
            Ok(status) if status < 400 => log.host(LogLevel::Info, format!("cleanup: {label} → {status}")),
            Ok(status) => log.host(LogLevel::Warn, format!("cleanup: {label} → {status}")),
            Err(reason) => log.host(LogLevel::Error, format!("cleanup: {label} failed: {reason}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(path: &str) -> Registered {
        Registered {
            method: http::Method::POST,
            uri: format!("https://ci.example:8443{path}").parse().expect("uri"),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn labels_name_method_origin_and_path_but_no_query() {
        assert_eq!(
            registered("/job/x/7/stop?token=s3cret").label(),
            "POST https://ci.example:8443/job/x/7/stop"
        );
    }

    #[test]
    fn the_table_is_bounded_and_taking_empties_it() {
        let table = AbortRequests::default();
        let ids: Vec<u32> =
            (0..MAX_REQUESTS).map(|_| table.insert(registered("/a")).expect("room")).collect();
        let refused = table.insert(registered("/b")).expect_err("full");
        assert!(refused.contains("8 cleanup requests"), "{refused}");
        assert!(table.remove(ids[0]).is_some());
        assert!(table.remove(ids[0]).is_none());
        table.insert(registered("/c")).expect("room again");
        assert_eq!(table.take().len(), MAX_REQUESTS);
        assert!(table.take().is_empty());
    }

    #[test]
    fn requests_carry_a_host_header() {
        let request = registered("/stop").request().expect("request");
        assert_eq!(request.headers()[http::header::HOST], "ci.example:8443");
    }
}
