//! [`Request`]: what to send, and the redirect loop.

use std::time::Duration;

use super::send::{Hop, SharedReader, send_hop};
use super::url::{Target, resolve};
use super::{DEFAULT_MAX_BODY_BYTES, Error, MAX_REDIRECTS, Response};

/// Where [`Request::send_streaming`] hands the response body.
type BodySink<'a> = dyn FnMut(&[u8]) -> Result<(), Error> + 'a;

/// An HTTP request, built up and then [sent](Request::send).
#[derive(Debug, Clone)]
pub struct Request {
    hop: Hop,
    follow_redirects: bool,
    max_body_bytes: u64,
    timeout: Option<Duration>,
}

impl Request {
    /// A request with `method` (`GET`, `POST`, ..., any case) to an absolute http(s) `url`.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            hop: Hop {
                method: method.into().to_ascii_uppercase(),
                url: url.into(),
                headers: Vec::new(),
                body: None,
                reader: None,
            },
            follow_redirects: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            timeout: None,
        }
    }

    /// Add a header (repeat the call for several values). A `user-agent` replaces the default
    /// `sluice-plugin/<version>`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.hop.headers.push((name.into(), value.into()));
        self
    }

    /// Set the request body. It is sent with a `content-length` (unless the request sets one),
    /// never chunked: servers that refuse chunked request bodies take it.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.hop.body = Some(body.into());
        self.hop.reader = None;
        self
    }

    /// Stream the request body from `reader` as it is sent, in chunks, instead of holding it in
    /// memory (a large upload, a tar archive written on the fly). Sent without a
    /// `content-length` (chunked) unless the request sets one. A streamed body can be sent
    /// once: a redirect that repeats the request (307, 308) fails with
    /// [`Error::InvalidRequest`].
    pub fn body_reader(mut self, reader: impl std::io::Read + Send + 'static) -> Self {
        self.hop.reader = Some(SharedReader::new(reader));
        self.hop.body = None;
        self
    }

    /// Set a JSON body and `content-type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value)
            .map_err(|err| Error::InvalidRequest(format!("body is not serializable: {err}")))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Follow 301/302/303/307/308 redirects (the default), up to [`MAX_REDIRECTS`].
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// Fail with [`Error::BodyTooLarge`] past this many response body bytes (default 16 MiB).
    pub fn max_body_bytes(mut self, max: u64) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Time limit for connecting, for the first response byte and between body chunks. Without
    /// it only the host's limit on the whole task applies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether the body is streamed from a reader (and so can be sent once).
    pub(super) fn has_streamed_body(&self) -> bool {
        self.hop.reader.is_some()
    }

    /// Send the request, following redirects if asked, and read the whole response.
    ///
    /// Blocks: it runs its own `wstd` event loop, so do not call it from inside
    /// `wstd::runtime::block_on`.
    pub fn send(self) -> Result<Response, Error> {
        wstd::runtime::block_on(self.send_async(None))
    }

    /// Send the request like [`send`](Request::send), but hand a 2xx response's body to
    /// `on_chunk` piece by piece as it arrives instead of reading it into memory (live logs,
    /// progress streams, large downloads). The returned [`Response`] then has an empty body.
    /// A response with any other status is read whole into [`Response::body`] as usual (up to
    /// [`max_body_bytes`](Request::max_body_bytes)), since error bodies are short and wanted
    /// whole. An error from `on_chunk` stops the exchange and is returned.
    pub fn send_streaming(
        self,
        mut on_chunk: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<Response, Error> {
        wstd::runtime::block_on(self.send_async(Some(&mut on_chunk)))
    }

    async fn send_async(self, sink: Option<&mut BodySink<'_>>) -> Result<Response, Error> {
        let mut hop = self.hop;
        let mut redirects = 0;
        loop {
            let target = Target::parse(&hop.url)?;
            let response = send_hop(&hop, &target, self.timeout).await?;
            let status = response.status().as_u16();
            let location = response.headers().get("location").and_then(|value| value.to_str().ok());
            if let (true, true, Some(location)) = (self.follow_redirects, is_redirect(status), location) {
                let next = resolve(&target.uri, location);
                if redirects == MAX_REDIRECTS {
                    return Err(Error::TooManyRedirects { url: next });
                }
                redirects += 1;
                hop = hop.redirected(status, next, &target.origin);
                continue;
            }
            return match sink {
                Some(sink) if (200..300).contains(&status) => {
                    super::send::stream_response(response, &hop.url, &target, sink).await
                }
                _ => super::send::read_response(response, &hop.url, &target, self.max_body_bytes).await,
            };
        }
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}
