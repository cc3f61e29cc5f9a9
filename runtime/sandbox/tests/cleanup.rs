//! The `cleanup` interface: requests a component registers are sent by the host, exactly as
//! registered, when the run ends without returning (timeout in wasm code or in a host call, a
//! trap, a dropped run), and never when it returns; cancelled ones are not sent; a non-granted
//! origin and requests past the bounds are refused when registered.

#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Call, sandbox, test_plugin};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use serde_json::{Value, json};
use sluice_sandbox::{CollectLogs, Grants, Limits, OriginPattern, RunError, RunRequest};

/// A request as the server received it: method, path with query, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// An HTTP server on 127.0.0.1 that answers 200 to everything and records what it got.
async fn recorder() -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let record = record.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        record.lock().unwrap().push(Received {
                            method: parts.method.to_string(),
                            path: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
                                .collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("stopped"))))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (addr, received)
}

fn granted(addr: SocketAddr) -> Grants {
    Grants { network: vec![format!("http://{addr}").parse::<OriginPattern>().unwrap()], ..Grants::default() }
}

const TOKEN: &str = "Basic Y2k6c2VjcmV0LXRva2Vu";

/// The stop request of a build, with credentials, a form body and a query.
fn stop_request(addr: SocketAddr) -> Value {
    json!({
        "method": "POST",
        "url": format!("http://{addr}/job/deploy/7/stop?reason=timeout"),
        "headers": [["authorization", TOKEN], ["content-type", "application/x-www-form-urlencoded"]],
        "body": "delay=0sec",
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_without_returning_sends_exactly_what_it_registered() {
    let plugin = test_plugin().await;
    for then in ["spin", "sleep", "trap"] {
        let (addr, received) = recorder().await;
        let config = json!({"requests": [stop_request(addr)], "then": then});
        let run = Call::new(&plugin, "cleanup-then", config)
            .grants(granted(addr))
            .timeout(Duration::from_millis(500))
            .run()
            .await;
        match then {
            "trap" => assert!(matches!(run.error(), RunError::Trap(_)), "{:?}", run.error()),
            _ => assert_eq!(run.error(), &RunError::Timeout(Duration::from_millis(500)), "{then}"),
        }
        let received = received.lock().unwrap().clone();
        assert_eq!(received.len(), 1, "{then}: {received:?}");
        let stop = &received[0];
        assert_eq!((stop.method.as_str(), stop.path.as_str()), ("POST", "/job/deploy/7/stop?reason=timeout"));
        assert_eq!(stop.header("authorization"), Some(TOKEN));
        assert_eq!(stop.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(stop.header("host"), Some(addr.to_string().as_str()));
        assert_eq!(stop.body, "delay=0sec");
        let messages = run.messages();
        let sent = format!("cleanup: POST http://{addr}/job/deploy/7/stop → 200");
        assert!(messages.contains(&sent.as_str()), "{then}: {messages:#?}");
        assert!(
            messages.iter().all(|m| !m.contains("Y2k6c2VjcmV0") && !m.contains("reason=")),
            "{messages:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_returns_sends_nothing_and_a_cancelled_request_is_never_sent() {
    let plugin = test_plugin().await;
    let (addr, received) = recorder().await;
    let run = Call::new(&plugin, "cleanup-then", json!({"requests": [stop_request(addr)]}))
        .grants(granted(addr))
        .run()
        .await;
    assert_eq!(run.output(), &json!({"registered": 1, "ok": true}));
    let run = Call::new(&plugin, "cleanup-then", json!({"requests": [stop_request(addr)], "then": "fail"}))
        .grants(granted(addr))
        .run()
        .await;
    assert_eq!(run.error(), &RunError::Failed("failed on purpose".into()));

    let mut cancelled = stop_request(addr);
    cancelled["cancel"] = json!(true);
    let kept = json!({"method": "DELETE", "url": format!("http://{addr}/queue/item/3")});
    let run = Call::new(&plugin, "cleanup-then", json!({"requests": [cancelled, kept], "then": "spin"}))
        .grants(granted(addr))
        .timeout(Duration::from_millis(300))
        .run()
        .await;
    assert_eq!(run.error(), &RunError::Timeout(Duration::from_millis(300)));
    let lines: Vec<String> =
        received.lock().unwrap().iter().map(|r| format!("{} {} {:?}", r.method, r.path, r.body)).collect();
    assert_eq!(lines, ["DELETE /queue/item/3 \"\""]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_run_sends_its_requests_in_the_background() {
    let plugin = test_plugin().await;
    let (addr, received) = recorder().await;
    let run = tokio::spawn(async move {
        let config = json!({"requests": [stop_request(addr)], "then": "sleep"});
        let grants = granted(addr);
        let workspace = tempfile::tempdir().unwrap();
        let request = RunRequest {
            task: "cleanup-then",
            config: &config,
            grants: &grants,
            limits: Limits { timeout: Duration::from_secs(120), ..Limits::default() },
            workspace: workspace.path(),
            logs: Arc::new(CollectLogs::default()),
            execution: None,
        };
        sandbox().run(&plugin, request).await
    });
    // Long enough for the component to have registered its request.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(received.lock().unwrap().is_empty());
    // What the engine does to kill an execution: abort the run's task.
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the cleanup request never came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(received.lock().unwrap()[0].path, "/job/deploy/7/stop?reason=timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_granted_origins_malformed_requests_and_requests_past_the_bounds_are_refused() {
    let plugin = test_plugin().await;
    let (addr, received) = recorder().await;
    let (elsewhere, elsewhere_received) = recorder().await;
    let register = |requests: Value| {
        let plugin = plugin.clone();
        async move {
            let run = Call::new(&plugin, "cleanup-then", json!({"requests": requests, "then": "trap"}))
                .grants(granted(addr))
                .run()
                .await;
            (run.output().clone(), run)
        }
    };

    let (output, run) =
        register(json!([{"method": "POST", "url": format!("http://{elsewhere}/stop")}])).await;
    assert_eq!(output["ok"], false);
    assert_eq!(
        output["message"],
        format!("http://{elsewhere} is not granted to this run: add it to the task's `allow.network`")
    );
    assert_eq!(run.report.denied, [format!("http://{elsewhere}")]);
    let denied = format!(
        "denied: cleanup request to http://{elsewhere} (not granted; add it to the task's `allow.network`)"
    );
    assert!(run.messages().contains(&denied.as_str()), "{:#?}", run.messages());

    let one = json!({"method": "POST", "url": format!("http://{addr}/stop")});
    let (output, _) = register(json!(vec![one.clone(); 9])).await;
    assert_eq!(output["registered"], 8);
    assert_eq!(
        output["message"],
        "this run already registered 8 cleanup requests, the most a run may hold at once; \
         cancel one before registering another"
    );

    let big = json!({"method": "POST", "url": format!("http://{addr}/stop"), "bodyBytes": 64 << 10});
    let (output, _) = register(json!([big])).await;
    let message = output["message"].as_str().unwrap();
    assert!(message.ends_with("the most for one cleanup request is 65536 bytes (64 KiB)"), "{message}");

    for (request, why) in [
        (json!({"method": "PO ST", "url": format!("http://{addr}/stop")}), "`PO ST` is not an HTTP method"),
        (json!({"method": "POST", "url": "/stop"}), "the URL must be absolute, `http://` or `https://`"),
        (
            json!({"method": "POST", "url": "ftp://127.0.0.1/x"}),
            "the URL must be absolute, `http://` or `https://`",
        ),
        (
            json!({"method": "POST", "url": format!("http://{addr}/stop"), "headers": [["bad name", "v"]]}),
            "`bad name` is not a header name",
        ),
        (
            json!({"method": "POST", "url": format!("http://{addr}/stop"), "headers": [["x-token", "a\nb"]]}),
            "the value of header `x-token` has characters a header cannot hold",
        ),
    ] {
        let (output, _) = register(json!([request])).await;
        assert_eq!(output, json!({"registered": 0, "ok": false, "message": why}));
    }
    // The refusals returned (no trap), so nothing registered before them was sent either.
    assert!(received.lock().unwrap().is_empty());
    assert!(elsewhere_received.lock().unwrap().is_empty());
}
