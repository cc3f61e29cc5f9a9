//! Whatever a client sends, the API answers 2xx or a 4xx problem document, never a 5xx: bad
//! ids, bad query values, unknown enum values, invalid UTF-8, garbage and deep bodies, wrong
//! content types, bodies over their limit. Every route of [`sluice_server::routes`] is tried,
//! so a new route is covered as soon as it is listed.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, Request};
use serde_json::json;
use sluice_server::{AppState, BodyLimits, FLOW_BODY_LIMIT, INPUTS_BODY_LIMIT, WEBHOOK_BODY_LIMIT, router};
use support::{Answer, Api, HELLO, api_with, problem};

const HOOKED: &str = r#"id: hooked
namespace: t
triggers:
  - id: open
    type: webhook
    key: open
  - id: signed
    type: webhook
    key: signed
    signature: {type: github, secret: GH}
  - id: unset
    type: webhook
    key: unset
    signature: {type: github, secret: NOT_SET}
tasks:
  - id: log
    type: core.log
    message: hook
"#;

/// A request the test sends, and how it names it in a failure.
struct Try {
    what: String,
    method: Method,
    uri: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, &'static str)>,
    body: BodyOf,
}

#[derive(Clone)]
enum BodyOf {
    Bytes(Bytes),
    /// Sent in 1 MiB chunks with no length announced, `n` of them.
    Streamed(usize),
}

impl Try {
    fn new(method: &Method, uri: String) -> Try {
        Try {
            what: format!("{method} {uri}"),
            method: method.clone(),
            uri,
            content_type: None,
            headers: Vec::new(),
            body: BodyOf::Bytes(Bytes::new()),
        }
    }

    fn request(&self) -> Request<Body> {
        let mut request = Request::builder().method(self.method.clone()).uri(&self.uri);
        if let Some(content_type) = self.content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in &self.headers {
            request = request.header(*name, *value);
        }
        let body = match &self.body {
            BodyOf::Bytes(bytes) => Body::from(bytes.clone()),
            BodyOf::Streamed(n) => Body::from_stream(tokio_stream::iter(
                (0..*n).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1 << 20]))),
            )),
        };
        request.body(body).unwrap()
    }
}

/// No 5xx; a 4xx is a problem document with the same status.
fn check(answer: &Answer, what: &str) {
    let status = answer.status.as_u16();
    assert!(status < 500, "{what}: {status} {}", answer.body);
    if answer.status.is_client_error() {
        assert_eq!(answer.content_type, "application/problem+json", "{what}: {}", answer.body);
        let doc = answer.json();
        assert_eq!(doc["status"], status, "{what}: {doc}");
        assert!(doc["type"].as_str().unwrap().starts_with("https://sluice.dev/problems/"), "{what}: {doc}");
        assert!(doc["title"].is_string() && doc["detail"].is_string(), "{what}: {doc}");
    }
}

async fn send(api: &Api, attempt: &Try) -> Answer {
    // Not a timing assertion: a guard so that a request that never ends fails by name.
    tokio::time::timeout(Duration::from_secs(120), api.send(attempt.request()))
        .await
        .unwrap_or_else(|_| panic!("{}: no answer", attempt.what))
}

/// The route's path with real ids: the flows and the ended execution deployed and run below.
fn valid_path(path: &str, execution: &str) -> String {
    path.replace("/webhooks/{namespace}/{flowId}/{key}", "/webhooks/t/hooked/open")
        .replace("{namespace}", "examples")
        .replace("{flowId}", "hello")
        .replace("{name}", "core")
        .replace("/flows/examples/{id}", "/flows/examples/hello")
        .replace("{id}", execution)
}

/// Every `{param}` of the path replaced by `value`.
fn with_params(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

const BAD_IDS: &[&str] = &[
    "nope",
    "%FF%FE",
    "%00",
    "a%2Fb",
    "..",
    "%2E%2E",
    "%E2%82%AC",
    "%20",
    "%7B%7Bx%7D%7D",
    "[1]",
    "-1",
    "99999999999999999999999",
];

const BAD_QUERIES: &[&str] = &[
    "?%",
    "?%%%=%%",
    "?%FF=%FE",
    "?wait=maybe",
    "?wait=true&wait=false",
    "?limit=-1",
    "?limit=0",
    "?limit=1001",
    "?limit=18446744073709551616",
    "?offset=-5",
    "?offset=x",
    "?state=DONE",
    "?state=,",
    "?state=%FF",
    "?level=LOUD",
    "?level=",
    "?revision=x",
    "?revision=-1",
    "?revision=0",
    "?after=yesterday",
    "?after=2026-01-01T00:00:00+02:00",
    "?before=%FF",
    "?before=2026-13-45T99:99:99Z",
    "?label=x",
    "?label=:,:",
    "?label=%00:%00",
    "?taskRun=[",
    "?taskRun=a[x]",
    "?taskRun=a[1",
    "?task=%00",
    "?fromTask=%FF",
    "?fromTask=",
    "?namespace=%FF%FE&flowId=%00",
];

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/yaml"),
    Some("text/plain; charset=utf-8"),
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data"),
    Some("multipart/form-data; boundary=zz"),
    Some("application/octet-stream"),
    Some("garbage/;;;"),
];

fn bodies() -> Vec<(&'static str, BodyOf)> {
    // Deep enough for every parser's recursion limit (128 or so); the YAML parser takes its
    // time over deeper ones (a debug build, 40,000 levels: half a minute).
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let deep_template = format!(
        "id: deep\nnamespace: t\ntasks:\n  - id: a\n    type: core.log\n    message: \"{{{{ {}1{} }}}}\"\n",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let deep_yaml = format!(
        "id: deep\nnamespace: t\ntasks:\n  - id: a\n    type: core.log\n    message: {}\n",
        "{a: ".repeat(1_000) + &"}".repeat(1_000)
    );
    let mut laughs =
        String::from("id: lol\nnamespace: t\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        laughs.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    laughs.push_str("tasks:\n  - id: a\n    type: core.log\n    message: hi\n");
    let multipart_garbage = "--zz\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--zz\r\nContent-Disposition: form-data\r\n\r\n\r\n--zz";
    vec![
        ("empty", BodyOf::Bytes(Bytes::new())),
        ("invalid UTF-8", BodyOf::Bytes(Bytes::from_static(b"\xff\xfe\x00garbage\xc3\x28"))),
        ("unclosed JSON", BodyOf::Bytes(Bytes::from_static(b"{"))),
        ("a JSON array", BodyOf::Bytes(Bytes::from_static(b"[1]"))),
        (
            "JSON of the wrong shape",
            BodyOf::Bytes(Bytes::from_static(br#"{"name": {"deep": [[[]]]}, "x": null}"#)),
        ),
        ("deep JSON array", BodyOf::Bytes(Bytes::from(deep_array))),
        ("deep JSON object", BodyOf::Bytes(Bytes::from(deep_object))),
        ("deep YAML", BodyOf::Bytes(Bytes::from(deep_yaml))),
        ("deep template", BodyOf::Bytes(Bytes::from(deep_template))),
        ("YAML alias bomb", BodyOf::Bytes(Bytes::from(laughs))),
        ("broken multipart", BodyOf::Bytes(Bytes::from_static(multipart_garbage.as_bytes()))),
        ("26 MiB", BodyOf::Bytes(Bytes::from(vec![b'{'; 26 << 20]))),
        ("27 MiB streamed", BodyOf::Streamed(27)),
    ]
}

async fn deployed() -> (Api, String) {
    let api = api_with(&[("GH", "s3cret")]).await;
    for flow in [HELLO, HOOKED] {
        assert_eq!(api.post("/api/v1/flows", flow).await.status.as_u16(), 201);
    }
    let done = api.post("/api/v1/executions/examples/hello?wait=true", "").await.json();
    assert_eq!(done["state"], "SUCCESS");
    (api, done["executionId"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_request_gets_a_5xx_and_every_4xx_is_a_problem_document() {
    let (api, execution) = deployed().await;
    let bodies = bodies();
    let mut tries = Vec::new();
    for route in sluice_server::routes() {
        let valid = valid_path(route.path, &execution);
        // Deleting the deployed flow would leave nothing for the rest to reach.
        if route.method != Method::DELETE {
            tries.push(Try::new(&route.method, valid.clone()));
        }
        for id in BAD_IDS {
            tries.push(Try::new(&route.method, with_params(route.path, id)));
            tries.push(Try::new(&route.method, with_params(route.path, &id.repeat(400))));
        }
        tries.push(Try::new(&Method::PATCH, valid.clone()));
        tries.push(Try::new(&Method::OPTIONS, valid.clone()));
        if route.method == Method::DELETE {
            continue;
        }
        for query in BAD_QUERIES {
            tries.push(Try::new(&route.method, format!("{valid}{query}")));
        }
        for (name, value) in [
            ("accept", "application/yaml"),
            ("accept", "*/*;q=garbage, text/yaml;;"),
            ("last-event-id", "x"),
            ("last-event-id", "-1"),
            ("last-event-id", "99999999999999999999"),
            ("x-hub-signature-256", "sha256=zz"),
            (
                "x-hub-signature-256",
                "sha256=0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ] {
            let mut attempt = Try::new(&route.method, valid.clone());
            attempt.what = format!("{} with {name}: {value}", attempt.what);
            attempt.headers.push((name, value));
            tries.push(attempt);
        }
        if !matches!(route.method, Method::POST | Method::PUT) && !route.path.contains("/webhooks/") {
            continue;
        }
        let signed = valid.replace("/hooked/open", "/hooked/signed");
        let unset = valid.replace("/hooked/open", "/hooked/unset");
        for uri in [valid.clone(), signed, unset].into_iter().collect::<std::collections::BTreeSet<_>>() {
            // Every body as it comes (no content type), and a few of them as each content type.
            let typed = bodies
                .iter()
                .take(3)
                .chain(bodies.iter().filter(|(name, _)| name.contains("multipart") || name.contains("MiB")));
            let plain = bodies.iter().map(|body| (&None, body));
            for (content_type, (name, body)) in
                plain.chain(CONTENT_TYPES.iter().flat_map(|c| typed.clone().map(move |b| (c, b))))
            {
                let mut attempt = Try::new(&route.method, uri.clone());
                attempt.what = format!("{} with {name} as {content_type:?}", attempt.what);
                attempt.content_type = *content_type;
                attempt.body = body.clone();
                tries.push(attempt);
            }
        }
    }
    let mut statuses = std::collections::BTreeSet::new();
    for attempt in &tries {
        let answer = send(&api, attempt).await;
        check(&answer, &attempt.what);
        statuses.insert(answer.status.as_u16());
    }
    // What the requests above met, so that a change that makes them all 404 is noticed.
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        // (204: logging out of the session, which always works.)
        [200, 202, 204, 400, 401, 403, 404, 405, 409, 413, 422],
        "over {} requests",
        tries.len()
    );
}

fn too_large(detail: &str) -> serde_json::Value {
    problem("payload-too-large", "Payload too large", 413, detail)
}

/// Each body's limit, announced (Content-Length) or found while reading (streamed), with what
/// it is; one byte under the limit is read.
#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_their_limit_are_413_problems_that_say_the_limit() {
    let (api, execution) = deployed().await;
    let flow = too_large("the body is too large: a flow may be at most 1 MiB");
    let inputs = too_large("the body is too large: a JSON object of inputs may be at most 1 MiB");
    let resume = too_large("the body is too large: the inputs of a resume may be at most 1 MiB");
    let hook = too_large("the body is too large: a webhook request may be at most 25 MiB");
    let cases = [
        (Method::POST, "/api/v1/flows".to_owned(), FLOW_BODY_LIMIT, &flow),
        (Method::PUT, "/api/v1/flows/examples/hello".to_owned(), FLOW_BODY_LIMIT, &flow),
        (Method::POST, "/api/v1/flows/validate".to_owned(), FLOW_BODY_LIMIT, &flow),
        (Method::POST, "/api/v1/executions/examples/hello".to_owned(), INPUTS_BODY_LIMIT, &inputs),
        (Method::POST, format!("/api/v1/executions/{execution}/resume"), INPUTS_BODY_LIMIT, &resume),
        (Method::POST, "/api/v1/webhooks/t/hooked/open".to_owned(), WEBHOOK_BODY_LIMIT, &hook),
        (Method::GET, "/api/v1/webhooks/t/hooked/open".to_owned(), WEBHOOK_BODY_LIMIT, &hook),
    ];
    for (method, uri, limit, expected) in cases {
        let mut over = Try::new(&method, uri.clone());
        over.body = BodyOf::Bytes(Bytes::from(vec![b' '; limit + 1]));
        assert_eq!(&send(&api, &over).await.problem(413), expected, "{}", over.what);
        let mut streamed = Try::new(&method, uri.clone());
        streamed.body = BodyOf::Streamed(limit / (1 << 20) + 1);
        assert_eq!(&send(&api, &streamed).await.problem(413), expected, "{} streamed", streamed.what);
        // At the limit the body is read: whitespace is no flow (422), no inputs (so a start or a
        // resume goes on) and an empty webhook body.
        let mut at = Try::new(&method, uri);
        at.body = BodyOf::Bytes(Bytes::from(vec![b' '; limit]));
        let answer = send(&api, &at).await;
        assert_ne!(answer.status.as_u16(), 413, "{}: {}", at.what, answer.body);
        check(&answer, &at.what);
    }
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--zz\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(file_name) = file_name {
            body.extend_from_slice(format!("; filename=\"{file_name}\"").as_bytes());
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--zz--\r\n");
    body
}

const UPLOAD: &str = "id: upload\nnamespace: t\ninputs:\n  - id: report\n    type: file\n  - id: note\n    type: string\n    default: none\ntasks:\n  - id: log\n    type: core.log\n    message: \"{{ inputs.note }}\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_start_is_capped_by_the_upload_limit_and_its_text_parts_by_1_mib() {
    let dir = tempfile::tempdir().unwrap();
    let state =
        AppState::new(support::engine(dir.path(), &[]).await).with_limits(BodyLimits { upload: 4096 });
    let api = Api { app: router(state.clone()), state, _dir: dir };
    let deployed = api.post("/api/v1/flows", UPLOAD).await;
    assert_eq!(deployed.status.as_u16(), 201, "{}", deployed.body);
    let start = |body: Body| {
        Request::post("/api/v1/executions/t/upload?wait=true")
            .header("content-type", "multipart/form-data; boundary=zz")
            .body(body)
            .unwrap()
    };
    let expected = too_large(
        "the upload is too large: this server takes multipart starts of at most 4 KiB (`sluice server --max-upload-size`)",
    );
    let big = multipart(&[("note", None, b"hi"), ("report", Some("r.txt"), &[b'x'; 5000])]);
    assert_eq!(api.send(start(Body::from(big.clone()))).await.problem(413), expected);
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        big.chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    assert_eq!(api.send(start(Body::from_stream(tokio_stream::iter(chunks)))).await.problem(413), expected);

    let small = multipart(&[("note", None, b"hi"), ("report", Some("r.txt"), &[b'x'; 3000])]);
    let done = api.send(start(Body::from(small))).await;
    assert_eq!((done.status.as_u16(), &done.json()["state"]), (200, &json!("SUCCESS")), "{}", done.body);

    // A text part is held in memory: at most 1 MiB, whatever the upload limit.
    let state = api.state.clone().with_limits(BodyLimits { upload: 8 << 20 });
    let roomy = Api { app: router(state.clone()), state, _dir: tempfile::tempdir().unwrap() };
    let long_text = multipart(&[("note", None, &vec![b'x'; INPUTS_BODY_LIMIT + 1])]);
    assert_eq!(
        roomy.send(start(Body::from(long_text))).await.problem(413),
        too_large(
            "input `note` is too large: a text part may be at most 1 MiB; send large content as a file"
        )
    );
}
