//! Request bodies a component streams to the host, read the way the host needs them.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// An empty body, known to be empty (`is_end_stream`), so hyper sends no body bytes at all.
pub(crate) fn empty_body() -> WasiBody {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync()
}

/// Waits for the body's first frame: `None` when the body is empty (the component finished it
/// without data), else the whole body again. Waiting also keeps the component's end of an empty
/// body open until it finishes it; a body dropped early reads as "connection reset" there.
pub(crate) async fn first_frame(mut body: WasiBody) -> Result<Option<WasiBody>, HttpError> {
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
