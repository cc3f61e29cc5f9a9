//! TLS trust per origin (`tls` interface): a component trusts its own CA and presents a client
//! certificate for HTTPS to one granted origin, for its run only. Each test runs the test
//! component's `tls-*` tasks against a real HTTPS server on 127.0.0.1 and asserts the exact
//! outcome.

#![allow(clippy::unwrap_used)]

mod common;
mod tls_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{Call, assert_host_unharmed, http_server, test_plugin};
use rcgen::SanType;
use serde_json::{Value, json};
use sluice_sandbox::{Grants, OriginPattern, RunError};
use tls_support::{Ca, HttpsServer, serve};

fn grant(origins: &[&str]) -> Grants {
    Grants {
        network: origins.iter().map(|o| o.parse::<OriginPattern>().unwrap()).collect(),
        ..Grants::default()
    }
}

/// `tls-fetch` of `server`'s `/` with `trust` entries, granted `server`'s origin.
async fn fetch(server: &HttpsServer, trust: Value) -> common::Run {
    let plugin = test_plugin().await;
    let config = json!({"trust": trust, "url": server.url("/")});
    Call::new(&plugin, "tls-fetch", config).grants(grant(&[&server.origin()])).run().await
}

/// The SDK's message for a TLS failure with `reason`.
fn tls_failure(server: &HttpsServer, reason: &str) -> RunError {
    RunError::Failed(format!("TLS handshake with {} failed: {reason}", server.origin()))
}

const UNKNOWN_ISSUER: &str = "invalid peer certificate: UnknownIssuer";

#[tokio::test]
async fn without_trust_of_its_own_a_private_ca_is_unknown() {
    let ca = Ca::new("cluster CA");
    let server = serve(&ca.localhost_server(), None).await;
    let run = fetch(&server, json!([])).await;
    assert_eq!(run.error(), &tls_failure(&server, UNKNOWN_ISSUER));
    assert_host_unharmed().await;
}

#[tokio::test]
async fn the_origins_own_ca_is_trusted() {
    let ca = Ca::new("cluster CA");
    let server = serve(&ca.localhost_server(), None).await;
    let run = fetch(&server, json!([{"origin": server.origin(), "ca": ca.pem}])).await;
    assert_eq!(run.output(), &json!({"status": 200, "body": "hello over TLS"}));
    let logged = format!(
        "TLS for {}: trusts its own CA certificates, presents no client certificate",
        server.origin()
    );
    assert!(run.messages().contains(&logged.as_str()), "{:?}", run.messages());
}

#[tokio::test]
async fn a_wrong_ca_is_not_trusted_and_neither_are_the_public_roots() {
    let (ca, other) = (Ca::new("cluster CA"), Ca::new("another CA"));
    let server = serve(&ca.localhost_server(), None).await;
    let run = fetch(&server, json!([{"origin": server.origin(), "ca": other.pem}])).await;
    assert_eq!(run.error(), &tls_failure(&server, UNKNOWN_ISSUER));
}

#[tokio::test]
async fn an_ip_address_is_checked_against_the_certificates_ip_sans() {
    let ca = Ca::new("cluster CA");
    let named = ca.server(vec![SanType::DnsName("kube.example".try_into().unwrap())]);
    let server = serve(&named, None).await;
    let run = fetch(&server, json!([{"origin": server.origin(), "ca": ca.pem}])).await;
    let RunError::Failed(message) = run.error() else { panic!("{:?}", run.error()) };
    let expected = format!(
        "TLS handshake with {} failed: invalid peer certificate: certificate not valid for name",
        server.origin()
    );
    assert!(message.starts_with(&expected), "{message}");
    // The same CA, the right IP SAN: trusted.
    let other_ip = ca.server(vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))]);
    let wrong_ip = serve(&other_ip, None).await;
    let run = fetch(&wrong_ip, json!([{"origin": wrong_ip.origin(), "ca": ca.pem}])).await;
    assert!(
        matches!(run.error(), RunError::Failed(m) if m.contains("certificate not valid for name")),
        "{:?}",
        run.error()
    );
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate_gets_the_one_presented() {
    let ca = Ca::new("cluster CA");
    let alice = ca.client("alice");
    let server = serve(&ca.localhost_server(), Some((&ca, &[&alice]))).await;

    let without = fetch(&server, json!([{"origin": server.origin(), "ca": ca.pem}])).await;
    assert_eq!(without.error(), &tls_failure(&server, "received fatal alert: CertificateRequired"));

    let trust =
        json!([{"origin": server.origin(), "ca": ca.pem, "cert": alice.cert_pem, "key": alice.key_pem}]);
    let with = fetch(&server, trust).await;
    assert_eq!(with.output(), &json!({"status": 200, "body": "hello over TLS, alice"}));

    // A certificate from a CA the server does not trust is refused by the server.
    let stranger = Ca::new("stranger CA").client("mallory");
    let trust = json!([{"origin": server.origin(), "ca": ca.pem, "cert": stranger.cert_pem, "key": stranger.key_pem}]);
    let refused = fetch(&server, trust).await;
    assert_eq!(refused.error(), &tls_failure(&server, "received fatal alert: UnknownCA"));
}

#[tokio::test]
async fn trust_for_an_origin_that_is_not_granted_is_refused_and_nothing_is_sent() {
    let ca = Ca::new("cluster CA");
    let server = serve(&ca.localhost_server(), None).await;
    let plugin = test_plugin().await;
    let origin = server.origin();
    let config = json!({"trust": [{"origin": origin, "ca": ca.pem}], "url": server.url("/")});
    let run =
        Call::new(&plugin, "tls-fetch", config.clone()).grants(grant(&["https://127.0.0.1:1"])).run().await;
    assert_eq!(
        run.error(),
        &RunError::Denied(format!(
            "{origin} is not granted to this run, so it cannot have TLS trust of its own: add `{origin}` to the task's `allow.network`"
        ))
    );
    let logged =
        format!("denied: TLS trust for {origin} (not granted; add it to the task's `allow.network`)");
    assert!(run.messages().contains(&logged.as_str()), "{:?}", run.messages());
    assert_eq!(run.report.denied, vec![origin.clone()]);
    assert_eq!(server.accepted(), 0);

    // A wildcard grant covers the origin.
    let run = Call::new(&plugin, "tls-fetch", config).grants(grant(&["https://127.0.0.1:*"])).run().await;
    assert_eq!(run.output(), &json!({"status": 200, "body": "hello over TLS"}));
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn trust_belongs_to_its_run_not_to_concurrent_or_later_runs_of_the_plugin() {
    let ca = Ca::new("cluster CA");
    let server = serve(&ca.localhost_server(), None).await;
    let plugin = test_plugin().await;
    let grants = grant(&[&server.origin()]);
    // The first run sets trust, then waits while the second run (no trust) fetches.
    let trusting = json!({"trust": [{"origin": server.origin(), "ca": ca.pem}], "sleepMs": 1500, "url": server.url("/")});
    let untrusting = json!({"sleepMs": 300, "url": server.url("/")});
    let (first, second) = tokio::join!(
        Call::new(&plugin, "tls-fetch", trusting).grants(grants.clone()).run(),
        Call::new(&plugin, "tls-fetch", untrusting).grants(grants.clone()).run(),
    );
    assert_eq!(first.output(), &json!({"status": 200, "body": "hello over TLS"}));
    assert_eq!(second.error(), &tls_failure(&server, UNKNOWN_ISSUER));
    assert!(second.report.duration < first.report.duration, "the runs overlapped");

    let later = Call::new(&plugin, "tls-fetch", json!({"url": server.url("/")})).grants(grants).run().await;
    assert_eq!(later.error(), &tls_failure(&server, UNKNOWN_ISSUER));
}

#[tokio::test]
async fn trust_for_one_origin_leaves_another_with_the_defaults() {
    let ca = Ca::new("cluster CA");
    let (a, b) = (serve(&ca.localhost_server(), None).await, serve(&ca.localhost_server(), None).await);
    let plugin = test_plugin().await;
    let config = json!({"trust": [{"origin": a.origin(), "ca": ca.pem}], "url": b.url("/")});
    let run = Call::new(&plugin, "tls-fetch", config).grants(grant(&[&a.origin(), &b.origin()])).run().await;
    assert_eq!(run.error(), &tls_failure(&b, UNKNOWN_ISSUER));
    // Restoring the defaults (none/none) takes the trust away again.
    let trust = json!([{"origin": a.origin(), "ca": ca.pem}, {"origin": a.origin()}]);
    let run = fetch(&a, trust).await;
    assert_eq!(run.error(), &tls_failure(&a, UNKNOWN_ISSUER));
}

async fn trust_call(config: Value) -> Value {
    let plugin = test_plugin().await;
    let run = Call::new(&plugin, "tls-trust", config).grants(grant(&["https://127.0.0.1:*"])).run().await;
    run.output().clone()
}

fn refused(kind: &str, message: &str) -> Value {
    json!({"ok": false, "kind": kind, "message": message})
}

#[tokio::test]
async fn bad_pem_and_bad_origins_are_refused_with_the_part_named() {
    let ca = Ca::new("cluster CA");
    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    let origin = "https://127.0.0.1:6443";
    let cases = [
        (json!({"origin": origin, "ca": "junk"}), "ca-certificates: no CERTIFICATE block"),
        (json!({"origin": origin, "ca": alice.key_pem}), "ca-certificates: no CERTIFICATE block"),
        (
            json!({"origin": origin, "ca": "-----BEGIN CERTIFICATE-----\nAAAA\n"}),
            "ca-certificates: a block has no end line (`-----END CERTIFICATE-----`)",
        ),
        (
            json!({"origin": origin, "cert": "junk", "key": alice.key_pem}),
            "client certificate-chain: no CERTIFICATE block",
        ),
        (
            json!({"origin": origin, "cert": alice.cert_pem, "key": alice.cert_pem}),
            "client private-key: no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block",
        ),
        (
            json!({"origin": origin, "cert": alice.cert_pem, "key": bob.key_pem}),
            "client private-key: does not match the first (leaf) certificate of certificate-chain",
        ),
        (
            json!({"origin": "https://127.0.0.1:6443/api", "ca": ca.pem}),
            "invalid origin \"https://127.0.0.1:6443/api\": an origin has no path, query, fragment or user info (expected `https://host[:port]`, e.g. `https://10.0.0.1:6443`)",
        ),
        (
            json!({"origin": "http://127.0.0.1:6443", "ca": ca.pem}),
            "invalid origin \"http://127.0.0.1:6443\": the origin must start with `https://` (or `smtp://`, `smtps://`, `tcp://` for TCP) (expected `https://host[:port]`, e.g. `https://10.0.0.1:6443`)",
        ),
    ];
    for (config, message) in cases {
        assert_eq!(trust_call(config.clone()).await, refused("invalid", message), "{config}");
    }
    assert_eq!(trust_call(json!({"origin": origin, "ca": ca.pem})).await, json!({"ok": true}));
    // Through `?` in a task: invalid config, with the reason.
    let plugin = test_plugin().await;
    let config = json!({"trust": [{"origin": origin, "ca": "junk"}]});
    let run = Call::new(&plugin, "tls-fetch", config).grants(grant(&[origin])).run().await;
    assert_eq!(
        run.error(),
        &RunError::InvalidConfig("TLS settings refused: ca-certificates: no CERTIFICATE block".into())
    );
    let logged = format!("refused: TLS trust for \"{origin}\": ca-certificates: no CERTIFICATE block");
    assert!(run.messages().contains(&logged.as_str()), "{:?}", run.messages());
}

#[tokio::test]
async fn what_a_run_can_make_the_host_hold_is_bounded() {
    let origin = "https://127.0.0.1:6443";
    let over = (1 << 20) + 1;
    assert_eq!(
        trust_call(json!({"origin": origin, "caBytes": over})).await,
        refused("limit", "1048577 bytes of PEM in one call; the most is 1048576 bytes (1 MiB)")
    );
    let ca = Ca::new("cluster CA");
    let plugin = test_plugin().await;
    let config = json!({"prefix": "https://127.0.0.1:", "count": 65, "ca": ca.pem});
    let run =
        Call::new(&plugin, "tls-trust-many", config).grants(grant(&["https://127.0.0.1:*"])).run().await;
    let mut expected = refused(
        "limit",
        "this run already set TLS trust for 64 origins, the most a run may; clear one (none/none) before adding https://127.0.0.1:65",
    );
    expected["set"] = json!(64);
    assert_eq!(run.output(), &expected);
    assert_host_unharmed().await;
}

#[tokio::test]
async fn plain_http_grants_go_out_as_before() {
    let server = http_server().await;
    let plugin = test_plugin().await;
    let origin = format!("http://{server}");
    let config = json!({"url": format!("{origin}/hello")});
    let run = Call::new(&plugin, "tls-fetch", config)
        .grants(grant(&[&origin]))
        .timeout(Duration::from_secs(30))
        .run()
        .await;
    assert_eq!(run.output(), &json!({"status": 200, "body": format!("hello from {}", server.port())}));
}
