//! The pod runtime against the test's real dockerd: web containers, their probes, states and
//! logs, and Service proxies spreading real requests over them.
//!
//! Needs dockerd (`(setsid dockerd >/tmp/dockerd.log 2>&1 &)`) and busybox-static; without
//! them the tests fail saying so, they never skip.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use kube_double::runtime::images::{self, WEB_PORT};
use kube_double::runtime::{
    Container, ContainerSpec, ContainerState, LogOptions, PodRuntime, Probe, ServiceProxy, StartError,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A runtime whose containers go when the test ends, passed or not.
struct Runtime(PodRuntime);

impl Drop for Runtime {
    fn drop(&mut self) {
        self.0.remove_all_blocking();
    }
}

impl std::ops::Deref for Runtime {
    type Target = PodRuntime;
    fn deref(&self) -> &PodRuntime {
        &self.0
    }
}

async fn runtime() -> Runtime {
    Runtime(PodRuntime::connect().await.expect("the test's dockerd"))
}

fn web_spec(env: &[(&str, &str)]) -> ContainerSpec {
    ContainerSpec {
        name: "web".into(),
        image: images::web_image().expect("the web image"),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        port: Some(WEB_PORT),
        ..ContainerSpec::default()
    }
}

fn healthz() -> Probe {
    Probe::Http { path: "/healthz".into(), port: WEB_PORT }
}

/// Polls `probe` until it passes; panics after 30 s.
async fn wait_for(runtime: &PodRuntime, container: &Container, probe: &Probe) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !runtime.probe(container, probe).await {
        assert!(Instant::now() < deadline, "{probe:?} did not pass within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_state(runtime: &PodRuntime, container: &Container, expected: &ContainerState) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = runtime.state(container).await;
        if &state == expected {
            return;
        }
        assert!(Instant::now() < deadline, "state {state:?}, not {expected:?}, after 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// GET `path` on a fresh connection; the status and the body.
async fn get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address).await?;
    send_get(&mut stream, path).await
}

async fn send_get(stream: &mut TcpStream, path: &str) -> std::io::Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await??;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_container_serves_passes_its_probes_logs_and_is_missing_once_removed() {
    let runtime = runtime().await;
    let before = SystemTime::now() - Duration::from_secs(5);
    let web = runtime.start("web-6d4f-x1", &web_spec(&[])).await.expect("started");
    let host_port = web.host_port.expect("port 8080 published");
    wait_for(&runtime, &web, &healthz()).await;

    assert!(runtime.probe(&web, &Probe::Tcp { port: WEB_PORT }).await);
    assert!(!runtime.probe(&web, &Probe::Tcp { port: 9 }).await, "nothing listens on 9");
    let exec = |command: &[&str]| Probe::Exec { command: command.iter().map(|s| s.to_string()).collect() };
    assert!(runtime.probe(&web, &exec(&["test", "-f", "/www/healthz"])).await);
    assert!(!runtime.probe(&web, &exec(&["false"])).await);
    assert!(!runtime.probe(&web, &Probe::Http { path: "/missing".into(), port: WEB_PORT }).await);

    assert_eq!(get(local(host_port), "/").await.expect("GET /"), (200, "v1\n".to_string()));
    assert_eq!(get(local(host_port), "/pod").await.expect("GET /pod"), (200, "web-6d4f-x1\n".into()));
    match runtime.state(&web).await {
        ContainerState::Running { started_at } => {
            assert!(started_at > before && started_at < SystemTime::now(), "{started_at:?}")
        }
        other => panic!("not running: {other:?}"),
    }

    let logs = runtime.logs(&web, None, None).await.expect("logs");
    assert!(logs.starts_with("web v1 starting on :8080 in web-6d4f-x1"), "{logs}");
    assert!(logs.contains("response:200"), "httpd logs requests: {logs}");
    let last = runtime.logs(&web, None, Some(1)).await.expect("tail");
    assert_eq!(last.lines().count(), 1, "{last}");
    let recent = runtime.logs(&web, Some(Duration::from_secs(3600)), None).await.expect("since");
    assert!(recent.starts_with("web v1 starting"), "{recent}");

    runtime.remove(&web).await;
    assert_eq!(runtime.state(&web).await, ContainerState::Missing);
    assert!(!runtime.probe(&web, &healthz()).await);
    assert!(runtime.logs(&web, None, None).await.is_err());
    runtime.remove(&web).await; // gone already is fine
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_readiness_keeps_the_readiness_probe_failing_while_the_server_serves() {
    let runtime = runtime().await;
    let web = runtime.start("broken", &web_spec(&[("FAIL_READINESS", "1"), ("VERSION", "v9")])).await;
    let web = web.expect("started");
    wait_for(&runtime, &web, &Probe::Http { path: "/".into(), port: WEB_PORT }).await;
    let host_port = web.host_port.expect("published");
    assert_eq!(get(local(host_port), "/").await.expect("GET /"), (200, "v9\n".to_string()));
    for _ in 0..5 {
        assert!(!runtime.probe(&web, &healthz()).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(local(host_port), "/healthz").await.expect("GET").0, 404);
    let logs = runtime.logs(&web, None, None).await.expect("logs");
    assert!(logs.contains("FAIL_READINESS=1"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_is_not_pulled_and_says_so() {
    let runtime = runtime().await;
    let spec = ContainerSpec { image: "kube-double/absent:never".into(), ..web_spec(&[]) };
    let started = Instant::now();
    let error = runtime.start("absent", &spec).await.expect_err("no such image");
    assert!(started.elapsed() < Duration::from_secs(10), "no pull was tried");
    assert!(
        matches!(&error, StartError::ImageNotPresent { image } if image == "kube-double/absent:never"),
        "{error:?}"
    );
    assert_eq!(error.reason(), "ErrImagePull");
    let message = error.to_string();
    assert!(
        message.contains("\"kube-double/absent:never\" is not present")
            && message.contains("cannot be pulled")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_and_args_run_and_their_ends_read_as_the_kubelet_words_them() {
    let runtime = runtime().await;
    let command = |command: &[&str], args: &[&str]| ContainerSpec {
        command: command.iter().map(|s| s.to_string()).collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        port: None,
        ..web_spec(&[])
    };

    let failing = command(&["sh", "-c"], &["echo out; echo err >&2; exit 3"]);
    let failing = runtime.start("job", &failing).await.expect("started");
    assert_eq!(failing.host_port, None);
    wait_for_state(&runtime, &failing, &ContainerState::Exited { code: 3, reason: "Error".into() }).await;
    // Both streams, in the order dockerd stored them (its stdout and stderr copiers run apart,
    // so two lines written a microsecond apart may come either way round).
    let logs = runtime.logs(&failing, None, None).await.expect("logs");
    let mut lines: Vec<&str> = logs.lines().collect();
    lines.sort();
    assert_eq!(lines, ["err", "out"], "{logs}");

    // args alone replace the image's default command (the web server) and keep no entrypoint.
    let done = runtime.start("job", &command(&[], &["sh", "-c", "exit 0"])).await.expect("started");
    wait_for_state(&runtime, &done, &ContainerState::Exited { code: 0, reason: "Completed".into() }).await;

    let unrunnable = runtime.start("job", &command(&["/no/such/binary"], &[])).await;
    let unrunnable = unrunnable.expect("the container exists, failed");
    let start_error = ContainerState::Exited { code: 128, reason: "StartError".into() };
    assert_eq!(runtime.state(&unrunnable).await, start_error);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_proxy_spreads_real_requests_by_weight() {
    let runtime = runtime().await;
    let v1 = runtime.start("web-v1", &web_spec(&[("VERSION", "v1")])).await.expect("v1");
    let v2 = runtime.start("web-v2", &web_spec(&[("VERSION", "v2")])).await.expect("v2");
    wait_for(&runtime, &v1, &healthz()).await;
    wait_for(&runtime, &v2, &healthz()).await;
    let (v1, v2) = (local(v1.host_port.expect("v1 port")), local(v2.host_port.expect("v2 port")));

    let proxy = ServiceProxy::bind().await.expect("bound");
    let service = local(proxy.port());
    let count = |n: usize| async move {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..n {
            let (status, body) = get(service, "/").await.expect("a response through the proxy");
            assert_eq!(status, 200);
            *counts.entry(body.trim().to_string()).or_default() += 1;
        }
        counts
    };

    // Smooth weighted round-robin is exact over every 100 picks at 80/20 and each request is
    // a connection of its own, so the split is exact: no tolerance is needed.
    proxy.set_backends(vec![(v1, 80), (v2, 20)]);
    assert_eq!(count(200).await, [("v1".to_string(), 160), ("v2".to_string(), 40)].into());

    proxy.set_backends(vec![(v1, 1), (v2, 0)]);
    assert_eq!(count(20).await, [("v1".to_string(), 20)].into());

    // A connection keeps its backend when the backends change under it.
    let mut open = TcpStream::connect(service).await.expect("connected");
    tokio::time::sleep(Duration::from_millis(200)).await; // accepted and forwarded to v1
    proxy.set_backends(vec![(v2, 1)]);
    assert_eq!(send_get(&mut open, "/").await.expect("on the open connection").1, "v1\n");
    assert_eq!(count(3).await, [("v2".to_string(), 3)].into());

    proxy.set_backends(vec![]);
    assert!(get(service, "/").await.is_err(), "no backends: the connection is reset");
    assert_eq!(proxy.backends(), vec![]);

    // A backend that refuses is passed over for one that answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port");
    proxy.set_backends(vec![(closed, 1), (v2, 1)]);
    assert_eq!(count(4).await, [("v2".to_string(), 4)].into());

    drop(proxy);
    // The serving task is aborted, and gone at its next turn.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(service).await.is_ok() {
        assert!(Instant::now() < deadline, "the port stays open after the proxy's drop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_is_quick_for_the_web_server_and_logs_can_be_followed() {
    let runtime = runtime().await;
    let web = runtime.start("web-stop", &web_spec(&[("VERSION", "v3")])).await.expect("started");
    wait_for(&runtime, &web, &healthz()).await;
    let mut follow = runtime.follow_logs(&web, &LogOptions::default()).await.expect("following");

    let stopping = Instant::now();
    runtime.stop(&web, Duration::from_secs(30)).await;
    assert!(stopping.elapsed() < Duration::from_secs(10), "SIGTERM ends the web server at once");
    assert_eq!(runtime.state(&web).await, ContainerState::Exited { code: 0, reason: "Completed".into() });

    // The follow ends with the container, holding what it wrote before and after it began.
    let mut followed = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), follow.read_to_string(&mut followed));
    read.await.expect("the follow ends with the container").expect("read");
    assert!(followed.starts_with("web v3 starting"), "{followed}");
    assert!(followed.contains("web v3 stopping (SIGTERM)"), "{followed}");

    let stamped = LogOptions { timestamps: true, tail: Some(1), ..LogOptions::default() };
    let last = runtime.logs_with(&web, &stamped).await.expect("logs");
    let (stamp, line) = last.trim_end().split_once(' ').expect("a timestamp, a space, the line");
    assert!(stamp.starts_with("20") && stamp.ends_with('Z'), "{last}");
    assert_eq!(line, "web v3 stopping (SIGTERM)");

    runtime.remove(&web).await;
    assert!(runtime.follow_logs(&web, &LogOptions::default()).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_followed_log_brings_lines_as_they_are_written() {
    let runtime = runtime().await;
    let spec = ContainerSpec {
        command: ["sh", "-c", "echo one; sleep 1; echo two; sleep 1; echo three"].map(String::from).into(),
        port: None,
        ..web_spec(&[])
    };
    let job = runtime.start("ticker", &spec).await.expect("started");
    let follow = runtime.follow_logs(&job, &LogOptions::default()).await.expect("following");
    let mut lines = tokio::io::BufReader::new(follow).lines();
    let mut seen = Vec::new();
    let started = Instant::now();
    while let Some(line) = lines.next_line().await.expect("a line") {
        seen.push((line, started.elapsed()));
    }
    let texts: Vec<&str> = seen.iter().map(|(line, _)| line.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert!(seen[2].1 - seen[0].1 > Duration::from_millis(1500), "lines came as written: {seen:?}");
}
