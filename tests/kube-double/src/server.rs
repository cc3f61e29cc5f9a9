//! The HTTPS listener: TLS with the double's certificate, authentication (the bearer token, or
//! a client certificate signed by the double's CA), then the API.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::api;
use crate::cluster::Cluster;
use crate::http::{self, Request};
use crate::status::ApiError;

/// Accepts connections until the task is aborted.
pub async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, cluster: Arc<Cluster>) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        // As kube-apiserver (Go sets TCP_NODELAY on every connection): a watch event is a few
        // small writes, and Nagle's algorithm would hold each behind the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let cluster = cluster.clone();
        tokio::spawn(async move {
            // A failed handshake (a client that does not trust the CA) ends only that connection.
            let Ok(stream) = acceptor.accept(tcp).await else { return };
            let by_certificate = stream.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let cluster = cluster.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&cluster, request, by_certificate).await) }
            });
            // Ignored: a client that goes away mid-response.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn respond(
    cluster: &Arc<Cluster>,
    request: hyper::Request<hyper::body::Incoming>,
    by_certificate: bool,
) -> hyper::Response<http::Body> {
    let (parts, body) = request.into_parts();
    let authorized = by_certificate
        || parts
            .headers
            .get(::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|token| token.trim() == cluster.token);
    if !authorized {
        return http::error(&ApiError::unauthorized());
    }
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return http::error(&ApiError::bad_request(format!("reading the request body: {e}"))),
    };
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: http::parse_query(parts.uri.query()),
        headers: parts.headers,
        body,
    };
    api::handle(cluster, request).await
}
