//! The TLS capability: which CA certificates outbound HTTPS to one origin trusts and which
//! client certificate it presents, set by the component through the `tls` interface for the
//! rest of its run (a cluster's API server has its own CA and wants a client certificate).
//! TLS over the `tcp` interface (SMTP) reads the same table, for a destination granted and
//! named as `smtp://`, `smtps://` or `tcp://host:port`.
//!
//! The trust table belongs to the run ([`OriginTrust`], built in `for_task` and shared with
//! the run's send path), so nothing set by one run reaches another run of the same plugin. An
//! origin without an entry gets the process-wide default (public webpki roots, no client
//! certificate). Only origins the run's network grants allow can get an entry, and what a
//! guest can make the host hold is bounded ([`MAX_PEM_PER_CALL`], [`MAX_ORIGINS`]).

mod config;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::ClientConfig;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::sluice::plugin::tls::{self, ClientIdentity, TrustError};
use crate::capabilities::logs::LogLevel;
use crate::state::RunState;

pub(crate) use config::default_config;

/// The most PEM (CA certificates, chain and key together) one call may pass.
pub(crate) const MAX_PEM_PER_CALL: usize = 1 << 20;
/// The most origins with trust of their own in one run.
pub(crate) const MAX_ORIGINS: usize = 64;

/// Links the `tls` interface.
pub(crate) fn link(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    tls::add_to_linker::<RunState, HasSelf<RunState>>(linker, |s| s)
}

/// A destination as the table keys it: the host in lower case (IPv6 in brackets, as
/// `http::uri::Authority::host` gives it) and the port, the default one filled in. HTTPS and
/// TCP (`capabilities::tcp`) to the same host and port share the entry: it is one server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TrustKey {
    host: String,
    port: u16,
}

/// An origin given trust: `https://host[:port]`, or a TCP destination granted as
/// `smtp://`, `smtps://` or `tcp://` (the `tcp` interface's TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
struct TlsOrigin {
    scheme: &'static str,
    host: String,
    port: u16,
}

impl TlsOrigin {
    /// Parses exactly `https://host[:port]` (or `smtp`, `smtps`, `tcp`); the error says what is
    /// wrong.
    fn parse(origin: &str) -> Result<TlsOrigin, String> {
        let (scheme, rest) = origin
            .split_once("://")
            .and_then(|(scheme, rest)| {
                let scheme =
                    ["https", "smtp", "smtps", "tcp"].into_iter().find(|s| s.eq_ignore_ascii_case(scheme))?;
                Some((scheme, rest))
            })
            .ok_or("the origin must start with `https://` (or `smtp://`, `smtps://`, `tcp://` for TCP)")?;
        if rest.contains(['/', '?', '#', '@']) {
            return Err("an origin has no path, query, fragment or user info".into());
        }
        if rest.contains('*') {
            return Err("an origin with trust of its own names one host: no `*` wildcard".into());
        }
        let authority: http::uri::Authority =
            rest.parse().map_err(|_| "malformed host or port".to_string())?;
        // `Authority` reads `h:99999` as host `h` without a port: anything after the host must
        // be a port that fits.
        let has_port = authority.as_str().len() > authority.host().len();
        let port = match authority.port_u16() {
            _ if authority.host().is_empty() => return Err("malformed host or port".into()),
            Some(0) => return Err("the port must be a number from 1 to 65535".into()),
            Some(port) => port,
            None if has_port => return Err("the port must be a number from 1 to 65535".into()),
            None => match crate::capabilities::network::default_port(scheme) {
                Some(port) => port,
                None => return Err("a tcp:// origin names its port".into()),
            },
        };
        Ok(TlsOrigin { scheme, host: authority.host().to_ascii_lowercase(), port })
    }

    fn uri(&self) -> Option<http::Uri> {
        format!("https://{}:{}/", self.host, self.port).parse().ok()
    }

    fn key(&self) -> TrustKey {
        TrustKey { host: self.host.clone(), port: self.port }
    }
}

impl std::fmt::Display for TlsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.port, crate::capabilities::network::default_port(self.scheme)) {
            (port, Some(default)) if port == default => write!(f, "{}://{}", self.scheme, self.host),
            (port, _) => write!(f, "{}://{}:{port}", self.scheme, self.host),
        }
    }
}

/// A run's per-origin TLS configs, shared by the `tls` interface (which writes it) and the
/// run's send path (which reads it for every HTTPS request).
#[derive(Clone, Default)]
pub(crate) struct OriginTrust(Arc<Mutex<HashMap<TrustKey, Arc<ClientConfig>>>>);

impl OriginTrust {
    /// The config for HTTPS to `host:port`: the origin's own, else the default.
    pub(crate) fn config_for(&self, host: &str, port: u16) -> Arc<ClientConfig> {
        let key = TrustKey { host: host.to_ascii_lowercase(), port };
        let table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        table.get(&key).cloned().unwrap_or_else(default_config)
    }

    /// Sets (`Some`) or clears (`None`) the origin's config. Refused past [`MAX_ORIGINS`]; a
    /// replacement or a removal is always allowed.
    fn set(&self, origin: TlsOrigin, config: Option<Arc<ClientConfig>>) -> Result<(), TrustError> {
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = origin.key();
        match config {
            None => {
                table.remove(&key);
            }
            Some(_) if table.len() >= MAX_ORIGINS && !table.contains_key(&key) => {
                return Err(TrustError::Limit(format!(
                    "this run already set TLS trust for {MAX_ORIGINS} origins, the most a run may; \
                     clear one (none/none) before adding {origin}"
                )));
            }
            Some(config) => {
                table.insert(key, config);
            }
        }
        Ok(())
    }
}

impl tls::Host for RunState {
    fn set_origin_trust(
        &mut self,
        origin: String,
        ca_certificates: Option<String>,
        client: Option<ClientIdentity>,
    ) -> Result<(), TrustError> {
        let result = self.set_origin_trust_checked(&origin, ca_certificates.as_deref(), client.as_ref());
        match &result {
            Ok(()) => {
                let trusts =
                    if ca_certificates.is_some() { "its own CA certificates" } else { "the public roots" };
                let presents =
                    if client.is_some() { "a client certificate" } else { "no client certificate" };
                self.log
                    .host(LogLevel::Info, format!("TLS for {origin}: trusts {trusts}, presents {presents}"));
            }
            // Denials are logged where they are decided, with what to grant.
            Err(TrustError::Denied(_)) => {}
            Err(TrustError::Invalid(reason) | TrustError::Limit(reason)) => {
                self.log.host(LogLevel::Error, format!("refused: TLS trust for {origin:?}: {reason}"));
            }
        }
        result
    }
}

impl RunState {
    fn set_origin_trust_checked(
        &mut self,
        origin: &str,
        ca_certificates: Option<&str>,
        client: Option<&ClientIdentity>,
    ) -> Result<(), TrustError> {
        let pem = ca_certificates.map_or(0, str::len)
            + client.map_or(0, |c| c.certificate_chain.len() + c.private_key.len());
        if pem > MAX_PEM_PER_CALL {
            return Err(TrustError::Limit(format!(
                "{pem} bytes of PEM in one call; the most is {MAX_PEM_PER_CALL} bytes (1 MiB)"
            )));
        }
        let parsed = TlsOrigin::parse(origin).map_err(|reason| {
            TrustError::Invalid(format!(
                "invalid origin {origin:?}: {reason} (expected `https://host[:port]`, e.g. `https://10.0.0.1:6443`)"
            ))
        })?;
        let granted = match parsed.scheme {
            "https" => parsed.uri().is_some_and(|uri| self.network.check(&uri).is_ok()),
            _ => self.tcp.grants(&parsed.host, parsed.port),
        };
        if !granted {
            self.log.host(
                LogLevel::Error,
                format!("denied: TLS trust for {parsed} (not granted; add it to the task's `allow.network`)"),
            );
            self.network.denied.lock().unwrap_or_else(PoisonError::into_inner).push(parsed.to_string());
            return Err(TrustError::Denied(format!(
                "{parsed} is not granted to this run, so it cannot have TLS trust of its own: \
                 add `{parsed}` to the task's `allow.network`"
            )));
        }
        let config = match (ca_certificates, client) {
            (None, None) => None,
            (ca, client) => {
                let client = client.map(|c| config::ClientPem {
                    certificate_chain: &c.certificate_chain,
                    private_key: &c.private_key,
                });
                Some(config::origin_config(ca, client).map_err(TrustError::Invalid)?)
            }
        };
        self.tls.set(parsed, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(origin: &str) -> Result<String, String> {
        TlsOrigin::parse(origin).map(|o| format!("{}|{}|{o}", o.host, o.port))
    }

    #[test]
    fn origins_are_exactly_https_host_and_port() {
        assert_eq!(
            parse("https://Kube.Example:6443"),
            Ok("kube.example|6443|https://kube.example:6443".into())
        );
        assert_eq!(parse("HTTPS://10.0.0.1"), Ok("10.0.0.1|443|https://10.0.0.1".into()));
        assert_eq!(parse("https://[::1]:8443"), Ok("[::1]|8443|https://[::1]:8443".into()));
        assert_eq!(parse("https://h:443"), Ok("h|443|https://h".into()));
        assert_eq!(parse("smtps://Mail.Example"), Ok("mail.example|465|smtps://mail.example".into()));
        assert_eq!(parse("smtp://mail.example:25"), Ok("mail.example|25|smtp://mail.example:25".into()));
        assert_eq!(parse("tcp://10.0.0.1:6379"), Ok("10.0.0.1|6379|tcp://10.0.0.1:6379".into()));
        for (bad, reason) in [
            (
                "http://h",
                "the origin must start with `https://` (or `smtp://`, `smtps://`, `tcp://` for TCP)",
            ),
            ("h:443", "the origin must start with `https://` (or `smtp://`, `smtps://`, `tcp://` for TCP)"),
            ("tcp://h", "a tcp:// origin names its port"),
            ("https://h/", "an origin has no path, query, fragment or user info"),
            ("https://u@h", "an origin has no path, query, fragment or user info"),
            ("https://*.example.com", "an origin with trust of its own names one host: no `*` wildcard"),
            ("https://", "malformed host or port"),
            ("https://h:", "the port must be a number from 1 to 65535"),
            ("https://h:99999", "the port must be a number from 1 to 65535"),
            ("https://h:0", "the port must be a number from 1 to 65535"),
            ("https://h x", "malformed host or port"),
        ] {
            assert_eq!(parse(bad), Err(reason.to_string()), "{bad}");
        }
    }

    #[test]
    fn the_table_is_bounded_but_replacing_and_clearing_always_work() {
        let trust = OriginTrust::default();
        let origin = |i: u16| TlsOrigin { scheme: "https", host: "h".into(), port: i };
        for i in 0..MAX_ORIGINS as u16 {
            trust.set(origin(i), Some(default_config())).expect("within the bound");
        }
        let Err(TrustError::Limit(message)) = trust.set(origin(999), Some(default_config())) else {
            panic!("expected the limit");
        };
        assert!(message.contains("64 origins"), "{message}");
        trust.set(origin(3), Some(default_config())).expect("a replacement");
        trust.set(origin(3), None).expect("a removal");
        trust.set(origin(999), Some(default_config())).expect("room again");
    }
}
