//! A real SMTP server for `notify.email`'s tests: Debian's aiosmtpd, run by `smtp_server.py`
//! beside this file (STARTTLS, implicit TLS and plain ports on 127.0.0.1, AUTH PLAIN and LOGIN
//! with a fixed user), with a certificate from a test CA made here with rcgen. What it received
//! is read back as the stdlib's email parser saw it ([`Received`]), beside the raw bytes.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use serde_json::Value;

/// Debian's Python, which has `python3-aiosmtpd` (another `python3` on PATH may not).
const PYTHON: &str = "/usr/bin/python3";
pub const USER: &str = "sluice-bot";
pub const PASSWORD: &str = "s3cr3t-smtp-pässword";

/// The running server.
pub struct SmtpServer {
    child: Child,
    dir: tempfile::TempDir,
    pub starttls: u16,
    pub tls: u16,
    pub plain: u16,
    /// The test CA's certificate (PEM), what a flow trusts.
    pub ca_pem: String,
    /// A CA that did not sign the server's certificate.
    pub other_ca_pem: String,
}

/// One received message.
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub tls: bool,
    /// The bytes as received.
    pub raw: Vec<u8>,
    /// `{headers, structure, parts: [{contentType, charset, filename, disposition, base64}]}`.
    pub message: Value,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.message["headers"][name].as_str().unwrap_or_else(|| panic!("no {name} in {}", self.message))
    }

    /// The decoded bytes of the first part with this content type (or file name).
    pub fn part(&self, content_type_or_filename: &str) -> Vec<u8> {
        let parts = self.message["parts"].as_array().unwrap();
        let part = parts
            .iter()
            .find(|p| {
                p["contentType"] == content_type_or_filename || p["filename"] == content_type_or_filename
            })
            .unwrap_or_else(|| panic!("no part {content_type_or_filename} in {}", self.message));
        base64::engine::general_purpose::STANDARD.decode(part["base64"].as_str().unwrap()).unwrap()
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let (ca_params, ca_key, ca_pem) = ca("sluice test mail CA");
        let (_, _, other_ca_pem) = ca("another CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "mail.test");
        params.subject_alt_names = vec![
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::DnsName("localhost".try_into().unwrap()),
        ];
        let cert = params.signed_by(&key, &issuer).unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let out = dir.path().join("received");
        std::fs::create_dir(&out).unwrap();

        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support_smtp/smtp_server.py");
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .args([out.as_os_str(), cert_path.as_os_str(), key_path.as_os_str()])
            .args([USER, PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {PYTHON} ({e}): apt-get install -y python3 python3-aiosmtpd")
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(ports) = line.strip_prefix("READY ") else {
            let _ = child.kill();
            panic!(
                "the SMTP server did not start (got {line:?}); is aiosmtpd installed? apt-get install -y python3-aiosmtpd"
            );
        };
        let ports: Value = serde_json::from_str(ports).unwrap();
        let port = |name: &str| u16::try_from(ports[name].as_u64().unwrap()).unwrap();
        SmtpServer {
            starttls: port("starttls"),
            tls: port("tls"),
            plain: port("plain"),
            child,
            dir,
            ca_pem,
            other_ca_pem,
        }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("received")
    }

    /// The messages received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mut messages = Vec::new();
        for n in 1.. {
            let Ok(json) = std::fs::read_to_string(self.out().join(format!("{n}.json"))) else { break };
            let record: Value = serde_json::from_str(&json).unwrap();
            messages.push(Received {
                mail_from: record["mailFrom"].as_str().unwrap().to_string(),
                rcpt_tos: record["rcptTos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().into())
                    .collect(),
                tls: record["tls"].as_bool().unwrap(),
                raw: std::fs::read(self.out().join(format!("{n}.eml"))).unwrap(),
                message: record["message"].clone(),
            });
        }
        messages
    }

    /// Waits up to 10 s for `n` messages.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connections each port accepted, by server name (`starttls.test`, `tls.test`, `plain.test`).
    pub fn connections(&self, name: &str) -> usize {
        let log = std::fs::read_to_string(self.out().join("connections.log")).unwrap_or_default();
        log.lines().filter(|line| line.starts_with(&format!("{name} "))).count()
    }

    /// The AUTH attempts: `PLAIN sluice-bot ok`, `LOGIN sluice-bot failed`, ...
    pub fn auth_log(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.out().join("auth.log")).unwrap_or_default();
        log.lines().map(str::to_string).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Closing its stdin ends the script; kill it in case it hangs.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
