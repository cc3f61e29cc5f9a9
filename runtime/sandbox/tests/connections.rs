//! The run's HTTP connections are reused for its later requests to the same origin (one TCP
//! connection for many sequential requests), never by another run, and a server that closes
//! its connections after each answer is still answered every time.

#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::{Call, test_plugin};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use serde_json::json;
use sluice_sandbox::Grants;

/// A server that counts the connections it accepts; `close` answers with `connection: close`.
async fn counting_server(close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| async move {
                    let mut response = Response::new(Full::new(Bytes::from(format!("connection {n}"))));
                    if close {
                        response.headers_mut().insert("connection", "close".parse().unwrap());
                    }
                    Ok::<_, Infallible>(response)
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (addr, accepted)
}

fn grants(addr: SocketAddr) -> Grants {
    Grants { network: vec![format!("http://{addr}").parse().unwrap()], ..Grants::default() }
}

#[tokio::test]
async fn sequential_requests_of_a_run_share_one_connection_and_runs_share_none() {
    let (addr, accepted) = counting_server(false).await;
    let plugin = test_plugin().await;
    let config = json!({"url": format!("http://{addr}/"), "times": 5});
    let run = Call::new(&plugin, "fetch-many", config.clone()).grants(grants(addr)).run().await;
    assert_eq!(run.output(), &json!({"bodies": vec!["connection 1"; 5]}));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // The next run opens its own.
    let run = Call::new(&plugin, "fetch-many", config).grants(grants(addr)).run().await;
    assert_eq!(run.output(), &json!({"bodies": vec!["connection 2"; 5]}));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_server_that_closes_each_connection_is_answered_every_time() {
    let (addr, accepted) = counting_server(true).await;
    let plugin = test_plugin().await;
    let config = json!({"url": format!("http://{addr}/"), "times": 4});
    let run = Call::new(&plugin, "fetch-many", config).grants(grants(addr)).run().await;
    assert_eq!(
        run.output(),
        &json!({"bodies": ["connection 1", "connection 2", "connection 3", "connection 4"]})
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}
