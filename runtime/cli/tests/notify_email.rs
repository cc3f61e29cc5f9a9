//! `notify.email` end to end: the real `sluice` binary sends mail through the sandbox's `tcp`
//! interface to a real SMTP server (Debian's aiosmtpd, support_smtp/) on 127.0.0.1: STARTTLS
//! with AUTH PLAIN, implicit TLS with AUTH LOGIN, a plain relay. Each test reads the received
//! message back as Python's email parser sees it (headers, both parts, attachment bytes), and
//! checks that refusals (a wrong password, a rejected recipient, a wrong CA, a destination not
//! granted) carry the server's or the host's own words, and that the password is nowhere.

#![allow(clippy::unwrap_used)]

mod support_smtp;
mod support_tickets;

use std::path::Path;

use serde_json::{Value, json};
use support_smtp::{PASSWORD, SmtpServer, USER};
use support_tickets::flows::{Env, run_of, task_lines};

const SECRET_ENV: [(&str, &str); 1] = [("SLUICE_SECRET_SMTP_PASSWORD", PASSWORD)];
const WRONG_PASSWORD: &str = "not-the-pässword-0451";

/// A flow whose task `mail` is `notify.email` with `config` (YAML lines at the task's level),
/// granted `grants`; with `auth`, the user and the password from the secret `SMTP_PASSWORD`.
/// It takes two file inputs, `log` and `report`, for attachments.
fn flow(config: &str, grants: &[String], auth: bool) -> String {
    let mut task = String::from("  - id: mail\n    type: notify.email\n");
    if auth {
        task += &format!("    username: {USER}\n    password: \"{{{{ secret('SMTP_PASSWORD') }}}}\"\n");
    }
    for line in config.lines() {
        task += &format!("    {line}\n");
    }
    task += &format!("    allow:\n      network: [{}]\n", grants.join(", "));
    if auth {
        task += "      secrets: [SMTP_PASSWORD]\n";
    }
    format!(
        "id: mail\nnamespace: t\ninputs:\n  - id: log\n    type: file\n    required: false\n  - id: report\n    type: file\n    required: false\ntasks:\n{task}"
    )
}

fn ca(pem: &str) -> String {
    format!("caCertificates: {}", serde_json::to_string(pem).unwrap())
}

fn grant(scheme: &str, port: u16) -> Vec<String> {
    vec![format!("{scheme}://127.0.0.1:{port}")]
}

fn message(subject: &str) -> String {
    format!("from: ci@sluice.test\nto: [ops@sluice.test]\nsubject: {subject}\ntext: hello")
}

#[test]
fn starttls_with_auth_plain_delivers_text_html_and_attachments_byte_for_byte() {
    let server = SmtpServer::start();
    let env = Env::new();
    let files = tempfile::tempdir().unwrap();
    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let (log, report) = (files.path().join("build.log"), files.path().join("report.bin"));
    std::fs::write(&log, b"line 1\r\nline 2\n.dot line\n").unwrap();
    std::fs::write(&report, &binary).unwrap();
    let port = server.starttls;
    let config = format!(
        "host: 127.0.0.1\nport: {port}\n{}\nfrom: \"Sluice CI <ci@sluice.test>\"\n\
         to: [\"Zoë Ops <ops@sluice.test>\", dev@sluice.test]\ncc: [lead@sluice.test]\nbcc: [audit@sluice.test]\n\
         subject: \"Déploiement réussi ✓\"\ntext: \"Build 42 passed.\\n.a line starting with a dot\\nbye\"\n\
         html: \"<p>Build <b>42</b> passed.</p>\"\nattachments:\n  - \"{{{{ inputs.log }}}}\"\n\
         \x20 - {{path: \"{{{{ inputs.report }}}}\", filename: rapport-été.bin, contentType: application/x-report}}",
        ca(&server.ca_pem)
    );
    let yaml = flow(&config, &grant("smtp", port), true);
    let inputs = [format!("log={}", log.display()), format!("report={}", report.display())];
    let args = ["--input", &inputs[0], "--input", &inputs[1]];
    let (code, doc) = env.run_json_args(&yaml, &args, &SECRET_ENV);
    assert_eq!(code, 0, "{doc:#}");
    let outputs = &doc["outputs"]["mail"];
    assert!(outputs.is_object(), "{doc:#}");
    let message_id = outputs["messageId"].as_str().unwrap();
    assert!(message_id.ends_with("@sluice.test"), "{outputs}");
    let everyone = ["ops@sluice.test", "dev@sluice.test", "lead@sluice.test", "audit@sluice.test"];
    assert_eq!(outputs["accepted"], json!(everyone));
    assert_eq!(outputs["response"], "250 2.0.0 Ok: queued as Q1");

    let received = server.wait_for(1);
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert!(mail.tls, "the message came over TLS");
    assert_eq!(
        (mail.mail_from.as_str(), mail.rcpt_tos.as_slice()),
        ("ci@sluice.test", everyone.map(String::from).as_slice())
    );
    assert_eq!(mail.header("Subject"), "Déploiement réussi ✓");
    assert_eq!(mail.header("From"), "Sluice CI <ci@sluice.test>");
    assert_eq!(mail.header("To"), "Zoë Ops <ops@sluice.test>, dev@sluice.test");
    assert_eq!(mail.header("Cc"), "lead@sluice.test");
    assert_eq!(mail.header("Message-ID"), format!("<{message_id}>"));
    assert!(mail.header("Date").ends_with(" +0000"), "{}", mail.header("Date"));
    assert!(mail.message["headers"].get("Bcc").is_none(), "Bcc is in no header: {}", mail.message);
    let types: Vec<&str> = mail.message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["contentType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "text/plain",
            "application/x-report"
        ]
    );
    assert_eq!(mail.part("text/plain"), b"Build 42 passed.\r\n.a line starting with a dot\r\nbye");
    assert_eq!(mail.part("text/html"), b"<p>Build <b>42</b> passed.</p>");
    assert_eq!(mail.part("build.log"), b"line 1\r\nline 2\n.dot line\n");
    assert_eq!(mail.part("rapport-été.bin"), binary);
    assert_eq!(server.auth_log(), [format!("PLAIN {USER} ok")]);
    env.assert_secret_nowhere(PASSWORD);
}

#[test]
fn implicit_tls_with_auth_login_sends_an_html_only_message() {
    let server = SmtpServer::start();
    let env = Env::new();
    let port = server.tls;
    let config = format!(
        "host: 127.0.0.1\nport: {port}\nsecurity: tls\n{}\nfrom: ci@sluice.test\nto: [ops@sluice.test]\n\
         subject: Released\nhtml: \"<h1>v1.2.3</h1>\"",
        ca(&server.ca_pem)
    );
    let (code, doc) = env.run_json(&flow(&config, &grant("smtps", port), true), &SECRET_ENV);
    assert_eq!(doc["outputs"]["mail"]["accepted"], json!(["ops@sluice.test"]), "{doc:#}");
    assert_eq!(code, 0);
    let mail = &server.wait_for(1)[0];
    assert!(mail.tls);
    assert_eq!(mail.message["structure"], "text/html");
    assert_eq!(mail.part("text/html"), b"<h1>v1.2.3</h1>\r\n");
    // The server offers only LOGIN: the client picked it.
    assert_eq!(server.auth_log(), [format!("LOGIN {USER} ok")]);
    env.assert_secret_nowhere(PASSWORD);
}

#[test]
fn a_plain_local_relay_takes_mail_without_tls_or_auth() {
    let server = SmtpServer::start();
    let env = Env::new();
    let port = server.plain;
    let config = format!("host: 127.0.0.1\nport: {port}\nsecurity: none\n{}", message("Nightly"));
    let (code, doc) = env.run_json(&flow(&config, &grant("smtp", port), false), &[]);
    assert_eq!(code, 0, "{doc:#}");
    let mail = &server.wait_for(1)[0];
    assert!(!mail.tls);
    assert_eq!(mail.header("Subject"), "Nightly");
    // The message ends with its line break, as SMTP wants it.
    assert_eq!(mail.part("text/plain"), b"hello\r\n");
    // AUTH over a plain connection is refused before connecting: the password would go in clear.
    let (code, doc) = env.run_json(&flow(&config, &grant("smtp", port), true), &SECRET_ENV);
    assert_eq!(code, 1);
    let error = run_of(&doc, "mail")["error"].as_str().unwrap();
    assert!(error.starts_with("invalid config: `security: none` sends everything in clear"), "{error}");
    assert_eq!(server.connections("plain.test"), 2, "the trigger's and the first run's");
    env.assert_secret_nowhere(PASSWORD);
}

#[test]
fn without_subject_or_text_the_message_is_made_from_the_execution() {
    let server = SmtpServer::start();
    let env = Env::new();
    let port = server.plain;
    let config =
        format!("host: 127.0.0.1\nport: {port}\nsecurity: none\nfrom: ci@sluice.test\nto: [ops@sluice.test]");
    let (code, doc) = env.run_json(&flow(&config, &grant("smtp", port), false), &[]);
    assert_eq!(code, 0, "{doc:#}");
    let mail = &server.wait_for(1)[0];
    assert_eq!(mail.header("Subject"), "✅ t.mail SUCCESS");
    let text = String::from_utf8(mail.part("text/plain")).unwrap();
    let execution = doc["executionId"].as_str().unwrap();
    assert!(text.starts_with("✅ t.mail SUCCESS\r\n") && text.contains(execution), "{text}");
}

#[test]
fn a_wrong_password_fails_with_the_servers_535_and_stays_secret() {
    let server = SmtpServer::start();
    let env = Env::new();
    let port = server.starttls;
    let config = format!("host: 127.0.0.1\nport: {port}\n{}\n{}", ca(&server.ca_pem), message("x"));
    let yaml = flow(&config, &grant("smtp", port), true);
    let (code, doc) = env.run_json(&yaml, &[("SLUICE_SECRET_SMTP_PASSWORD", WRONG_PASSWORD)]);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "mail")["error"],
        format!(
            "failed: SMTP 127.0.0.1:{port} refused AUTH PLAIN: 535 5.7.8 Authentication credentials invalid"
        )
    );
    assert!(server.received().is_empty());
    assert_eq!(server.auth_log(), [format!("PLAIN {USER} failed")]);
    env.assert_secret_nowhere(WRONG_PASSWORD);
}

#[test]
fn a_rejected_recipient_fails_with_the_servers_reply_and_nothing_is_sent() {
    let server = SmtpServer::start();
    let env = Env::new();
    let port = server.starttls;
    let config = format!(
        "host: 127.0.0.1\nport: {port}\n{}\nfrom: ci@sluice.test\nto: [ops@sluice.test, reject-me@sluice.test]\nsubject: s\ntext: t",
        ca(&server.ca_pem)
    );
    let (code, doc) = env.run_json(&flow(&config, &grant("smtp", port), true), &SECRET_ENV);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "mail")["error"],
        format!(
            "failed: SMTP 127.0.0.1:{port} refused RCPT TO:<reject-me@sluice.test>: 550 5.1.1 <reject-me@sluice.test>: \
             Recipient address rejected: User unknown in local recipient table"
        )
    );
    assert!(server.received().is_empty());
    env.assert_secret_nowhere(PASSWORD);
}

#[test]
fn a_greylisting_451_is_sent_again_and_delivered_once() {
    let server = SmtpServer::start();
    let env = Env::new();
    let port = server.starttls;
    let config = format!(
        "host: 127.0.0.1\nport: {port}\n{}\nfrom: ci@sluice.test\nto: [greylist-me@sluice.test]\nsubject: s\ntext: t",
        ca(&server.ca_pem)
    );
    let (code, stdout) = env.run_text(&flow(&config, &grant("smtp", port), true), &SECRET_ENV);
    assert_eq!(code, 0, "{stdout}");
    let warning = format!(
        "SMTP 127.0.0.1:{port} refused RCPT TO:<greylist-me@sluice.test>: 451 4.7.1 <greylist-me@sluice.test>: \
         Recipient address rejected: Greylisted, try again later; sending again in 1 s (attempt 2 of 5)"
    );
    assert!(task_lines(&stdout, "mail").contains(&warning), "{stdout}");
    let received = server.wait_for(1);
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_tos, ["greylist-me@sluice.test"]);
    // A 5xx is final: no second attempt.
    let config = config.replace("greylist-me", "reject-me");
    let (code, stdout) = env.run_text(&flow(&config, &grant("smtp", port), true), &SECRET_ENV);
    assert_eq!(code, 1);
    assert!(!stdout.contains("sending again"), "{stdout}");
    assert_eq!(server.auth_log().len(), 3, "two attempts, then one: {:?}", server.auth_log());
    env.assert_secret_nowhere(PASSWORD);
}

#[test]
fn a_server_the_ca_did_not_sign_is_refused_before_auth() {
    let server = SmtpServer::start();
    let env = Env::new();
    let port = server.starttls;
    for trust in [ca(&server.other_ca_pem), String::new()] {
        let config = format!("host: 127.0.0.1\nport: {port}\n{trust}\n{}", message("x"));
        let (code, doc) = env.run_json(&flow(&config, &grant("smtp", port), true), &SECRET_ENV);
        assert_eq!(code, 1);
        assert_eq!(
            run_of(&doc, "mail")["error"],
            format!(
                "failed: SMTP 127.0.0.1:{port}: TLS handshake with 127.0.0.1:{port} failed: invalid peer certificate: UnknownIssuer"
            )
        );
    }
    let port = server.tls;
    let config = format!(
        "host: 127.0.0.1\nport: {port}\nsecurity: tls\n{}\n{}",
        ca(&server.other_ca_pem),
        message("x")
    );
    let (_, doc) = env.run_json(&flow(&config, &grant("smtps", port), true), &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "mail")["error"],
        format!(
            "failed: TLS handshake with 127.0.0.1:{port} failed: invalid peer certificate: UnknownIssuer"
        )
    );
    assert!(server.auth_log().is_empty(), "no password was sent: {:?}", server.auth_log());
    assert!(server.received().is_empty());
    env.assert_secret_nowhere(PASSWORD);
}

#[test]
fn a_destination_not_granted_is_denied_before_any_byte() {
    let server = SmtpServer::start();
    let env = Env::new();
    let port = server.starttls;
    let before = server.connections("starttls.test");
    let config = format!("host: 127.0.0.1\nport: {port}\n{}", message("x"));
    // Another port, another host, and HTTP to the very port: none of them opens TCP.
    let wrong = [
        format!("smtp://127.0.0.1:{}", port.wrapping_add(1)),
        format!("smtp://localhost:{port}"),
        format!("https://127.0.0.1:{port}"),
        "\"*://*:*\"".to_string(),
    ];
    let (code, stdout) = env.run_text(&flow(&config, &wrong, true), &SECRET_ENV);
    assert_eq!(code, 1, "{stdout}");
    let denied_line = format!(
        "denied: TCP to 127.0.0.1:{port} (not granted; add smtp://127.0.0.1:{port} to the task's allow.network)"
    );
    assert!(task_lines(&stdout, "mail").contains(&denied_line), "{stdout}");
    let (_, doc) = env.run_json(&flow(&config, &wrong, true), &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "mail")["error"],
        format!(
            "denied: TCP to 127.0.0.1:{port} is not granted: add `smtp://127.0.0.1:{port}` (or `tcp://127.0.0.1:{port}`) to the task's `allow.network`"
        )
    );
    // With a CA of its own, the trust for the destination is refused first, for the same reason.
    let config = format!("host: 127.0.0.1\nport: {port}\n{}\n{}", ca(&server.ca_pem), message("x"));
    let (_, doc) = env.run_json(&flow(&config, &wrong, true), &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "mail")["error"],
        format!(
            "denied: smtp://127.0.0.1:{port} is not granted to this run, so it cannot have TLS trust of its own: add `smtp://127.0.0.1:{port}` to the task's `allow.network`"
        )
    );
    assert_eq!(server.connections("starttls.test"), before, "no connection reached the server");
    assert!(server.auth_log().is_empty() && server.received().is_empty());
    env.assert_secret_nowhere(PASSWORD);
}

/// The workspace path of an input file, for tests that read what a run left.
#[allow(dead_code)]
fn workspace_of(env: &Env, doc: &Value) -> std::path::PathBuf {
    Path::new(env.data.path()).join("workspaces").join(doc["executionId"].as_str().unwrap())
}
