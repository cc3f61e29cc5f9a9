//! Raw TCP to a granted destination (`tcp` interface): each test runs the test component's
//! `tcp-*` tasks against a real server on 127.0.0.1 (plain, implicit TLS, STARTTLS, with an
//! rcgen CA) and asserts the exact outcome, including what the server saw.

#![allow(clippy::unwrap_used)]

mod common;
mod tcp_support;
mod tls_support;

use common::{Call, assert_host_unharmed, http_server, test_plugin};
use serde_json::{Value, json};
use sluice_sandbox::{Grants, Limits, OriginPattern, RunError};
use tcp_support::{EchoServer, Mode, serve};
use tls_support::Ca;

fn grant(origins: &[String]) -> Grants {
    Grants {
        network: origins.iter().map(|o| o.parse::<OriginPattern>().unwrap()).collect(),
        ..Grants::default()
    }
}

/// `tcp-talk` to 127.0.0.1:`port` with `extra` config, granted `origins`.
async fn talk(port: u16, origins: &[String], extra: Value) -> common::Run {
    let plugin = test_plugin().await;
    let mut config = json!({"host": "127.0.0.1", "port": port});
    config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    Call::new(&plugin, "tcp-talk", config).grants(grant(origins)).run().await
}

fn hello_echo() -> Value {
    json!([{"readLine": null}, {"write": "hi there\r\n"}, {"readLine": null}])
}

fn denied_line(port: u16) -> String {
    format!(
        "denied: TCP to 127.0.0.1:{port} (not granted; add smtp://127.0.0.1:{port} to the task's allow.network)"
    )
}

#[tokio::test]
async fn a_granted_destination_connects_and_echoes() {
    let server = serve(Mode::Plain).await;
    for origin in
        [format!("tcp://127.0.0.1:{}", server.port()), format!("smtp://127.0.0.1:{}", server.port())]
    {
        let run = talk(server.port(), &[origin], json!({"steps": hello_echo()})).await;
        assert_eq!(run.output(), &json!({"ok": true, "received": ["hello\r\n", "echo: hi there\r\n"]}));
        assert!(run.report.denied.is_empty());
    }
    assert_eq!(server.accepted_at_least(2).await, 2);
    // A wildcard port covers it too, and writes past the host's 64 KiB per call are split.
    let steps = json!([{"readLine": null}, {"writeBytes": 200_000}, {"write": "\n"}, {"readLine": null}]);
    let run = talk(server.port(), &["tcp://127.0.0.1:*".into()], json!({"steps": steps})).await;
    let line = run.output()["received"][1].as_str().unwrap();
    assert_eq!(line.len(), "echo: ".len() + 200_001);
    // A name is resolved by the host once its grant (by that name) allows it.
    let plugin = test_plugin().await;
    let config = json!({"host": "localhost", "port": server.port(), "steps": hello_echo()});
    let grants = grant(&[format!("smtp://localhost:{}", server.port())]);
    let run = Call::new(&plugin, "tcp-talk", config).grants(grants).run().await;
    assert_eq!(run.output()["received"], json!(["hello\r\n", "echo: hi there\r\n"]));
}

#[tokio::test]
async fn an_ipv6_address_is_granted_in_brackets_and_asked_for_without() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(b"hello over IPv6\r\n").await;
        }
    });
    let plugin = test_plugin().await;
    let config = json!({"host": "::1", "port": port, "steps": [{"readLine": null}]});
    let run = Call::new(&plugin, "tcp-talk", config.clone())
        .grants(grant(&[format!("tcp://[::1]:{port}")]))
        .run()
        .await;
    assert_eq!(run.output(), &json!({"ok": true, "received": ["hello over IPv6\r\n"]}));
    let run = Call::new(&plugin, "tcp-talk", config)
        .grants(grant(&[format!("tcp://127.0.0.1:{port}")]))
        .run()
        .await;
    assert_eq!(run.output()["kind"], "denied");
    assert_eq!(run.report.denied, vec![format!("tcp://[::1]:{port}")]);
}

#[tokio::test]
async fn a_destination_not_granted_is_denied_before_any_connection() {
    let server = serve(Mode::Plain).await;
    let port = server.port();
    let others = [
        format!("tcp://127.0.0.1:{}", port + 1),
        format!("tcp://127.0.0.2:{port}"),
        format!("smtp://localhost:{port}"),
    ];
    let run = talk(port, &others, json!({"steps": hello_echo()})).await;
    let message = format!(
        "TCP to 127.0.0.1:{port} is not granted: add `smtp://127.0.0.1:{port}` (or `tcp://127.0.0.1:{port}`) to the task's `allow.network`"
    );
    assert_eq!(run.output(), &json!({"ok": false, "kind": "denied", "message": message, "received": []}));
    assert!(run.messages().contains(&denied_line(port).as_str()), "{:?}", run.messages());
    assert_eq!(run.report.denied, vec![format!("tcp://127.0.0.1:{port}")]);
    // The grant is by name: `localhost` is granted, 127.0.0.1 is not, and the other way round.
    let plugin = test_plugin().await;
    let config = json!({"host": "localhost", "port": port, "steps": []});
    let granted_ip = grant(&[format!("tcp://127.0.0.1:{port}")]);
    let run = Call::new(&plugin, "tcp-talk", config).grants(granted_ip).run().await;
    assert_eq!(run.output()["kind"], "denied");
    assert_eq!(server.accepted(), 0);
    assert_host_unharmed().await;
}

#[tokio::test]
async fn http_grants_open_no_tcp_and_tcp_grants_allow_no_http() {
    let server = serve(Mode::Plain).await;
    let port = server.port();
    for http in
        [format!("http://127.0.0.1:{port}"), format!("https://127.0.0.1:{port}"), "*://*:*".to_string()]
    {
        let run = talk(port, std::slice::from_ref(&http), json!({"steps": hello_echo()})).await;
        assert_eq!(run.output()["kind"], "denied", "{http}");
    }
    assert_eq!(server.accepted(), 0);
    // And an HTTP server granted as a TCP destination gets no request.
    let addr = http_server().await;
    let plugin = test_plugin().await;
    let grants = grant(&[format!("tcp://{addr}"), format!("smtp://{addr}")]);
    let config = json!({"url": format!("http://{addr}/hello")});
    let run = Call::new(&plugin, "fetch", config).grants(grants).run().await;
    assert!(matches!(run.error(), RunError::Denied(_)), "{:?}", run.error());
    assert_eq!(run.report.denied, vec![format!("http://{addr}")]);
}

#[tokio::test]
async fn implicit_tls_trusts_the_destinations_own_ca() {
    let ca = Ca::new("mail CA");
    let identity = ca.localhost_server();
    let server = serve(Mode::Implicit(&identity)).await;
    let port = server.port();
    let origin = format!("smtps://127.0.0.1:{port}");
    let config = json!({"implicitTls": true, "trustOrigin": origin, "ca": ca.pem, "steps": hello_echo()});
    let run = talk(port, std::slice::from_ref(&origin), config).await;
    assert_eq!(run.output(), &json!({"ok": true, "received": ["hello\r\n", "echo: hi there\r\n"]}));
    let logged = format!("TLS for {origin}: trusts its own CA certificates, presents no client certificate");
    assert!(run.messages().contains(&logged.as_str()), "{:?}", run.messages());

    // smtps:// is TLS from the first byte only: a plain connect is refused before connecting.
    let run = talk(port, std::slice::from_ref(&origin), json!({"steps": []})).await;
    assert_eq!(run.output()["kind"], "denied");
    assert!(run.output()["message"].as_str().unwrap().contains("TLS from the first byte only"));
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn starttls_upgrades_the_connection_in_place() {
    let ca = Ca::new("mail CA");
    let identity = ca.localhost_server();
    let server = serve(Mode::StartTls(&identity)).await;
    let port = server.port();
    let origin = format!("smtp://127.0.0.1:{port}");
    let steps = json!([
        {"readLine": null}, {"write": "STARTTLS\r\n"}, {"readLine": null}, {"startTls": null},
        {"readLine": null}, {"write": "secret\r\n"}, {"readLine": null}, {"startTls": null},
    ]);
    let run = talk(
        port,
        std::slice::from_ref(&origin),
        json!({"trustOrigin": origin, "ca": ca.pem, "steps": steps}),
    )
    .await;
    let message = format!("start-tls: TCP to 127.0.0.1:{port} is already TLS");
    let received = ["hello\r\n", "220 go ahead\r\n", "hello\r\n", "echo: secret\r\n"];
    assert_eq!(
        run.output(),
        &json!({"ok": false, "kind": "invalid", "message": message, "received": received})
    );
}

#[tokio::test]
async fn a_wrong_ca_or_the_public_roots_refuse_a_private_server() {
    let (ca, other) = (Ca::new("mail CA"), Ca::new("another CA"));
    let identity = ca.localhost_server();
    let implicit = serve(Mode::Implicit(&identity)).await;
    let starttls = serve(Mode::StartTls(&identity)).await;
    let unknown = |port: u16| {
        format!("TLS handshake with 127.0.0.1:{port} failed: invalid peer certificate: UnknownIssuer")
    };
    let origin = format!("smtps://127.0.0.1:{}", implicit.port());
    for extra in [json!({}), json!({"trustOrigin": origin, "ca": other.pem})] {
        let mut config = json!({"implicitTls": true, "steps": hello_echo()});
        config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let run = talk(implicit.port(), std::slice::from_ref(&origin), config).await;
        assert_eq!(
            run.output(),
            &json!({"ok": false, "kind": "tls", "message": unknown(implicit.port()), "received": []})
        );
    }
    let origin = format!("smtp://127.0.0.1:{}", starttls.port());
    let steps =
        json!([{"readLine": null}, {"write": "STARTTLS\r\n"}, {"readLine": null}, {"startTls": null}]);
    let config = json!({"trustOrigin": origin, "ca": other.pem, "steps": steps});
    let run = talk(starttls.port(), std::slice::from_ref(&origin), config).await;
    assert_eq!(run.output()["message"], unknown(starttls.port()));
    // A name the certificate does not carry fails too (its SAN is 127.0.0.1 only).
    let origin = format!("smtps://localhost:{}", implicit.port());
    let plugin = test_plugin().await;
    let config = json!({"host": "localhost", "port": implicit.port(), "implicitTls": true,
        "trustOrigin": origin, "ca": ca.pem, "steps": []});
    let run = Call::new(&plugin, "tcp-talk", config).grants(grant(std::slice::from_ref(&origin))).run().await;
    let message = run.output()["message"].as_str().unwrap().to_string();
    assert!(message.contains("invalid peer certificate: certificate not valid for name"), "{message}");
}

#[tokio::test]
async fn trust_for_a_tcp_destination_needs_its_grant() {
    let plugin = test_plugin().await;
    let ca = Ca::new("mail CA");
    let config = json!({"origin": "smtps://127.0.0.1:4650", "ca": ca.pem});
    let grants = grant(&["https://127.0.0.1:4650".into()]);
    let run = Call::new(&plugin, "tls-trust", config).grants(grants).run().await;
    assert_eq!(run.output()["kind"], "denied");
    assert_eq!(run.report.denied, vec!["smtps://127.0.0.1:4650".to_string()]);
}

/// `tcp-hold` of `count` connections to `server`.
async fn hold(server: &EchoServer, count: usize, close: bool, limits: Limits) -> common::Run {
    let plugin = test_plugin().await;
    let config = json!({"host": "127.0.0.1", "port": server.port(), "count": count, "close": close});
    let grants = grant(&[format!("tcp://127.0.0.1:{}", server.port())]);
    Call::new(&plugin, "tcp-hold", config).grants(grants).limits(limits).run().await
}

#[tokio::test]
async fn a_run_holds_at_most_8_connections_and_opens_at_most_64() {
    let server = serve(Mode::Plain).await;
    let run = hold(&server, 20, false, Limits::default()).await;
    let message = format!(
        "TCP to 127.0.0.1:{}: this run already holds 8 connections open, the most a run may; close one first",
        server.port()
    );
    assert_eq!(run.output(), &json!({"ok": false, "kind": "limit", "message": message, "opened": 8}));
    let run = hold(&server, 100, true, Limits::default()).await;
    assert_eq!(run.output()["opened"], 64);
    assert!(run.output()["message"].as_str().unwrap().contains("already opened 64 connections"));
    assert_eq!(server.accepted_at_least(8 + 64).await, 8 + 64);
    assert_host_unharmed().await;
}

#[tokio::test]
async fn connections_count_against_the_runs_handle_limit() {
    let server = serve(Mode::Plain).await;
    // The smallest handle limit under which 8 connections fit, found from below.
    let mut fits = None;
    for limit in 1..64 {
        let run = hold(&server, 8, false, Limits { open_handles: limit, ..Limits::default() }).await;
        if run.report.outcome.as_ref().is_ok_and(|o| o["opened"] == 8) {
            fits = Some(limit);
            break;
        }
    }
    let fits = fits.expect("8 connections fit under some small handle limit");
    let limits = Limits { open_handles: fits - 1, ..Limits::default() };
    let run = hold(&server, 8, false, limits).await;
    assert_eq!(run.error(), &RunError::HandleLimit { limit: fits - 1 });
    let run = hold(&server, 7, false, limits).await;
    assert_eq!(run.output()["opened"], 7);
}

#[tokio::test]
async fn a_silent_server_times_out_and_a_closed_port_fails_to_connect() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let origin = format!("tcp://127.0.0.1:{port}");
    let run =
        talk(port, std::slice::from_ref(&origin), json!({"timeoutMs": 200, "steps": [{"readLine": null}]}))
            .await;
    let message = format!("read on TCP to 127.0.0.1:{port}: nothing within 200ms");
    assert_eq!(run.output(), &json!({"ok": false, "kind": "timeout", "message": message, "received": []}));
    drop(listener);
    let run = talk(port, &[origin], json!({"steps": []})).await;
    assert_eq!(run.output()["kind"], "connect");
}
