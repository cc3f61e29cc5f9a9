//! One request/response exchange through `wstd`, with no redirect handling.

use std::io::Read;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use wstd::http::body::util::BodyExt;
use wstd::http::body::{Bytes, Frame, HttpBody};
use wstd::http::{Body, Client, HeaderName, HeaderValue, Method};

use super::error::{failed, from_wstd};
use super::url::Target;
use super::{Error, Response};

/// One request of a (possibly redirected) exchange.
#[derive(Debug, Clone)]
pub(super) struct Hop {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// A body streamed from a reader instead of `body`; it can be sent once.
    pub reader: Option<SharedReader>,
}

/// A streamed request body, shared so that [`Hop`] stays `Clone`; the first send takes it.
#[derive(Clone)]
pub(super) struct SharedReader(Arc<Mutex<Option<Box<dyn Read + Send>>>>);

impl SharedReader {
    pub fn new(reader: impl Read + Send + 'static) -> Self {
        SharedReader(Arc::new(Mutex::new(Some(Box::new(reader)))))
    }

    fn take(&self) -> Option<Box<dyn Read + Send>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl std::fmt::Debug for SharedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedReader")
    }
}

/// How much a streamed request body reads per chunk.
const CHUNK_BYTES: usize = 256 << 10;

/// An HTTP body read from a blocking reader chunk by chunk as it is sent (reads from files in
/// the workspace do not block in a way the event loop could use).
struct ReaderBody(Box<dyn Read + Send>);

impl HttpBody for ReaderBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        // Fill a whole chunk (readers often return a little at a time): one frame, one write to
        // the host, per chunk rather than per `read`.
        let mut chunk = Vec::with_capacity(CHUNK_BYTES);
        match (&mut self.0).take(CHUNK_BYTES as u64).read_to_end(&mut chunk) {
            Ok(0) => Poll::Ready(None),
            Ok(_) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk))))),
            Err(err) => Poll::Ready(Some(Err(err))),
        }
    }
}

/// Headers that must not follow a redirect to another origin.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];
/// Sent unless the request sets its own.
const USER_AGENT: &str = concat!("sluice-plugin/", env!("CARGO_PKG_VERSION"));
/// Headers that describe a body, dropped with it.
const BODY_HEADERS: [&str; 3] = ["content-type", "content-length", "content-encoding"];

impl Hop {
    /// The next hop after a redirect with `status` to `url`, as browsers and curl do it: 303
    /// (and 301/302 after a POST) turn into a GET without body, 307/308 repeat the request.
    /// Credentials are dropped when the origin changes.
    pub fn redirected(mut self, status: u16, url: String, origin: &str) -> Self {
        let to_get = match status {
            303 => self.method != "HEAD",
            301 | 302 => self.method == "POST",
            _ => false,
        };
        if to_get {
            self.method = "GET".to_string();
            self.body = None;
            self.reader = None;
            self.headers.retain(|(name, _)| !BODY_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)));
        }
        let same_origin = Target::parse(&url).is_ok_and(|next| next.origin == origin);
        if !same_origin {
            self.headers.retain(|(name, _)| !CREDENTIAL_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)));
        }
        self.url = url;
        self
    }
}

/// Send one hop and wait for the response head.
pub(super) async fn send_hop(
    hop: &Hop,
    target: &Target,
    timeout: Option<Duration>,
) -> Result<wstd::http::Response<Body>, Error> {
    let method = Method::from_bytes(hop.method.as_bytes())
        .map_err(|_| Error::InvalidRequest(format!("`{}` is not an HTTP method", hop.method)))?;
    let mut builder = wstd::http::Request::builder().method(method).uri(target.uri.clone());
    for (name, value) in &hop.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::InvalidRequest(format!("`{name}` is not a valid header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::InvalidRequest(format!("the value of header `{name}` is not valid")))?;
        builder = builder.header(name, value);
    }
    // Some APIs (GitHub's) refuse requests without a user agent.
    if !hop.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("user-agent")) {
        builder = builder.header("user-agent", USER_AGENT);
    }
    let body = match (&hop.reader, &hop.body) {
        (Some(reader), _) => match reader.take() {
            Some(reader) => Body::from_http_body(ReaderBody(reader)),
            None => {
                return Err(Error::InvalidRequest(format!(
                    "the streamed request body was already sent; it cannot be sent again to {}",
                    hop.url
                )));
            }
        },
        (None, Some(bytes)) => Body::from(bytes.clone()),
        (None, None) => Body::empty(),
    };
    if let Some(length) = content_length(hop) {
        builder = builder.header("content-length", length);
    }
    let request = builder.body(body).map_err(|err| Error::InvalidRequest(err.to_string()))?;
    let mut client = Client::new();
    if let Some(timeout) = timeout {
        client.set_connect_timeout(timeout);
        client.set_first_byte_timeout(timeout);
        client.set_between_bytes_timeout(timeout);
    }
    client.send(request).await.map_err(|err| from_wstd(&err, &target.origin))
}

/// The `content-length` to send, when the request does not set its own: the length of a body
/// held in full (`0` for a bodiless POST, PUT or PATCH), as curl and the git CLI send it.
/// Without it the host sends the body chunked, which some servers refuse (411 Length Required)
/// or read as empty (CGI bridges, some proxies). A body streamed from a reader stays chunked:
/// its length is not known.
pub(super) fn content_length(hop: &Hop) -> Option<usize> {
    if hop.reader.is_some() || hop.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        return None;
    }
    match &hop.body {
        Some(bytes) => Some(bytes.len()),
        None => matches!(hop.method.as_str(), "POST" | "PUT" | "PATCH").then_some(0),
    }
}

/// Hand a response body to `sink` chunk by chunk as it arrives; the returned response has an
/// empty body.
pub(super) async fn stream_response(
    response: wstd::http::Response<Body>,
    url: &str,
    target: &Target,
    sink: &mut (dyn FnMut(&[u8]) -> Result<(), Error> + '_),
) -> Result<Response, Error> {
    let (parts, body) = response.into_parts();
    let mut body = body.into_boxed_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            let origin = &target.origin;
            failed(origin, format!("reading the response body from {origin} failed: {err:#}"))
        })?;
        if let Ok(data) = frame.into_data() {
            sink(&data)?;
        }
    }
    Ok(Response {
        status: parts.status.as_u16(),
        headers: headers_of(&parts.headers),
        body: Vec::new(),
        url: url.to_string(),
    })
}

fn headers_of(headers: &wstd::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}

/// Read the rest of a response, failing once the body passes `max` bytes.
pub(super) async fn read_response(
    response: wstd::http::Response<Body>,
    url: &str,
    target: &Target,
    max: u64,
) -> Result<Response, Error> {
    let too_large = || Error::BodyTooLarge { url: url.to_string(), max };
    let (parts, body) = response.into_parts();
    if body.content_length().is_some_and(|len| len > max) {
        return Err(too_large());
    }
    let mut body = body.into_boxed_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            let origin = &target.origin;
            failed(origin, format!("reading the response body from {origin} failed: {err:#}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if (bytes.len() + data.len()) as u64 > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Response {
        status: parts.status.as_u16(),
        headers: headers_of(&parts.headers),
        body: bytes,
        url: url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::{Hop, SharedReader, content_length};

    fn post() -> Hop {
        Hop {
            method: "POST".to_string(),
            url: "https://a.example/form".to_string(),
            headers: vec![
                ("Authorization".to_string(), "token".to_string()),
                ("content-type".to_string(), "text/plain".to_string()),
                ("accept".to_string(), "*/*".to_string()),
            ],
            body: Some(b"data".to_vec()),
            reader: None,
        }
    }

    fn names(hop: &Hop) -> Vec<&str> {
        hop.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn see_other_turns_into_a_get_without_body() {
        let hop = post().redirected(303, "https://a.example/done".into(), "https://a.example");
        assert_eq!(hop.method, "GET");
        assert_eq!(hop.body, None);
        assert_eq!(names(&hop), ["Authorization", "accept"]);
    }

    #[test]
    fn temporary_redirect_repeats_the_request() {
        let hop = post().redirected(307, "https://a.example/v2".into(), "https://a.example");
        assert_eq!(hop.method, "POST");
        assert_eq!(hop.body.as_deref(), Some(&b"data"[..]));
        assert_eq!(hop.url, "https://a.example/v2");
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let hop = post().redirected(308, "https://b.example/".into(), "https://a.example");
        assert_eq!(names(&hop), ["content-type", "accept"]);
    }

    #[test]
    fn a_body_held_in_full_goes_with_its_length() {
        assert_eq!(content_length(&post()), Some(4));
        let empty = Hop { body: Some(Vec::new()), ..post() };
        assert_eq!(content_length(&empty), Some(0));
        // A POST without a body says so; a GET without one sends no header at all.
        let bodiless = Hop { body: None, ..post() };
        assert_eq!(content_length(&bodiless), Some(0));
        assert_eq!(content_length(&Hop { method: "GET".to_string(), ..bodiless }), None);
    }

    #[test]
    fn a_streamed_body_stays_chunked_and_a_set_length_is_kept() {
        let streamed = Hop { body: None, reader: Some(SharedReader::new(&b"data"[..])), ..post() };
        assert_eq!(content_length(&streamed), None);
        let mut own = post();
        own.headers.push(("Content-Length".to_string(), "4".to_string()));
        assert_eq!(content_length(&own), None);
    }

    #[test]
    fn a_redirect_to_a_get_drops_the_length() {
        let hop = post().redirected(303, "https://a.example/done".into(), "https://a.example");
        assert_eq!(content_length(&hop), None);
    }
}
