//! Ref discovery: protocol v2 (`ls-refs`) when the server speaks it, else the v0/v1 ref
//! advertisement of `info/refs` (v1 is v0 after a `version 1` line). Also what a valid ref
//! name is, since ref names become paths under `.git`.

use sluice_plugin::TaskError;

use crate::oid::Oid;
use crate::pktline::{Packet, Reader, Writer};
use crate::remote::{Remote, Service};

/// A ref on the remote.
#[derive(Debug, Clone)]
pub struct Ref {
    pub name: String,
    pub oid: Oid,
    /// For an annotated tag: the object it points at.
    pub peeled: Option<Oid>,
}

/// What the server said about itself and its refs.
pub struct Advertisement {
    /// Whether the server speaks protocol v2.
    pub v2: bool,
    /// v0 capabilities (from the first ref line) or v2 capability lines.
    pub capabilities: Vec<String>,
    pub refs: Vec<Ref>,
    /// What `HEAD` points at (`refs/heads/main`), when the server says.
    pub head_target: Option<String>,
}

impl Advertisement {
    pub fn find(&self, name: &str) -> Option<&Ref> {
        self.refs.iter().find(|r| r.name == name)
    }

    /// Whether a capability (or a v2 capability's value, e.g. `shallow` of `fetch=shallow`) is there.
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c == capability || c.split_once('=').is_some_and(|(k, _)| k == capability))
    }

    /// Whether a v2 command supports a feature (`fetch=shallow ...`).
    pub fn command_has(&self, command: &str, feature: &str) -> bool {
        self.capabilities.iter().any(|c| {
            c.split_once('=').is_some_and(|(k, v)| k == command && v.split(' ').any(|f| f == feature))
        })
    }
}

/// Discover the refs of `remote` for `service`; `try_v2` asks for protocol v2 (upload-pack).
pub fn discover(remote: &Remote, service: Service, try_v2: bool) -> Result<Advertisement, TaskError> {
    let body = remote.info_refs(service, try_v2)?;
    let from = format!("{}/info/refs", remote.url);
    let mut adv = parse(&body, &from)?;
    if adv.v2 {
        ls_refs(remote, &mut adv)?;
    }
    Ok(adv)
}

/// Read an `info/refs` answer: the refs (v0/v1), or the capabilities alone (v2, whose refs
/// come from `ls-refs`).
fn parse(body: &[u8], from: &str) -> Result<Advertisement, TaskError> {
    let mut reader = Reader::new(body, from);
    let (mut packet, mut line) = reader.next_line()?;
    // Smart HTTP's banner; git omits it in protocol v2.
    if line.starts_with("# service=") {
        if reader.next_packet()? != Packet::Flush {
            return Err(reader.garbage("no flush after the service banner"));
        }
        if reader.at_end() {
            return Err(reader.garbage("no ref advertisement"));
        }
        (packet, line) = reader.next_line()?;
    }
    // Protocol v1 is v0 with a version line first (a server configured for it sends one).
    if line == "version 1" {
        if reader.at_end() {
            return Err(reader.garbage("no ref advertisement after `version 1`"));
        }
        (packet, line) = reader.next_line()?;
    }
    if line == "version 2" {
        let mut capabilities = Vec::new();
        loop {
            match reader.next_line()? {
                (Packet::Data(_), cap) => capabilities.push(cap),
                (Packet::Flush, _) => break,
                _ => return Err(reader.garbage("unexpected packet in the capability advertisement")),
            }
        }
        return Ok(Advertisement { v2: true, capabilities, refs: Vec::new(), head_target: None });
    }
    parse_v0(&mut reader, packet, line)
}

fn parse_v0<'a>(
    reader: &mut Reader<'a>,
    mut packet: Packet<'a>,
    mut line: String,
) -> Result<Advertisement, TaskError> {
    let mut adv = Advertisement { v2: false, capabilities: Vec::new(), refs: Vec::new(), head_target: None };
    let mut first = true;
    loop {
        match packet {
            Packet::Flush => break,
            Packet::Data(_) => {}
            _ => return Err(reader.garbage("unexpected packet in the ref advertisement")),
        }
        let mut text = line.as_str();
        if first {
            if let Some((refline, caps)) = text.split_once('\0') {
                adv.capabilities = caps.split(' ').filter(|c| !c.is_empty()).map(str::to_string).collect();
                text = refline;
            }
            first = false;
        }
        let (hex, name) =
            text.split_once(' ').ok_or_else(|| reader.garbage(&format!("bad ref line `{text}`")))?;
        let oid = Oid::from_hex(hex).ok_or_else(|| reader.garbage(&format!("bad object id `{hex}`")))?;
        if let Some(base) = name.strip_suffix("^{}") {
            if let Some(r) = adv.refs.iter_mut().find(|r| r.name == base) {
                r.peeled = Some(oid);
            }
        } else if name != "capabilities^{}" {
            adv.refs.push(Ref { name: name.to_string(), oid, peeled: None });
        }
        if reader.at_end() {
            return Err(reader.garbage("the ref advertisement has no final flush"));
        }
        (packet, line) = reader.next_line()?;
    }
    adv.head_target =
        adv.capabilities.iter().find_map(|c| c.strip_prefix("symref=HEAD:")).map(str::to_string);
    Ok(adv)
}

/// Protocol v2 `ls-refs` for HEAD, branches and tags, with symrefs and peeled tags.
fn ls_refs(remote: &Remote, adv: &mut Advertisement) -> Result<(), TaskError> {
    let mut w = Writer::default();
    w.line("command=ls-refs");
    w.line(&format!("agent={}", crate::AGENT));
    w.delim();
    w.line("peel");
    w.line("symrefs");
    for prefix in ["HEAD", "refs/heads/", "refs/tags/"] {
        w.line(&format!("ref-prefix {prefix}"));
    }
    w.flush();
    let body = remote.post(Service::UploadPack, w.buf, true)?;
    let from = format!("{}/git-upload-pack", remote.url);
    let mut reader = Reader::new(&body, &from);
    loop {
        let line = match reader.next_line()? {
            (Packet::Data(_), line) => line,
            (Packet::Flush, _) => break,
            _ => return Err(reader.garbage("unexpected packet in the ls-refs answer")),
        };
        let mut parts = line.split(' ');
        let (Some(hex), Some(name)) = (parts.next(), parts.next()) else {
            return Err(reader.garbage(&format!("bad ls-refs line `{line}`")));
        };
        if hex == "unborn" {
            continue;
        }
        let oid = Oid::from_hex(hex).ok_or_else(|| reader.garbage(&format!("bad object id `{hex}`")))?;
        let mut r = Ref { name: name.to_string(), oid, peeled: None };
        for attribute in parts {
            if let Some(target) = attribute.strip_prefix("symref-target:") {
                if name == "HEAD" {
                    adv.head_target = Some(target.to_string());
                }
            } else if let Some(peeled) = attribute.strip_prefix("peeled:") {
                r.peeled = Oid::from_hex(peeled);
            }
        }
        adv.refs.push(r);
    }
    Ok(())
}

/// Whether `name` (a full name, `refs/heads/feature/x`) is a ref name git accepts
/// (git-check-ref-format): it becomes a path under `.git`, so nothing in it may climb out
/// (`..`, a leading `/`, an empty or dot-led component) or be special to git.
pub fn valid_name(name: &str) -> bool {
    let bad_char = |c: char| c.is_ascii_control() || " ~^:?*[\\".contains(c);
    !name.is_empty()
        && name != "@"
        && !name.contains("..")
        && !name.contains("@{")
        && !name.ends_with('.')
        && !name.chars().any(bad_char)
        && name.split('/').all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pktline::Writer;

    #[test]
    fn ref_names_are_checked_like_git() {
        for good in ["refs/heads/main", "refs/heads/feature/x", "refs/tags/release/1.0", "refs/tags/v1.2-rc"]
        {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "refs/heads/../../config",
            "refs/heads//x",
            "refs/heads/x/",
            "/refs/heads/x",
            "refs/heads/.hidden",
            "refs/heads/x.lock",
            "refs/heads/a b",
            "refs/heads/a\\b",
            "refs/heads/x.",
            "refs/heads/a@{1}",
            "refs/heads/a:b",
            "refs/heads/a\nb",
            "",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn junk_in_an_advertisement_is_a_clear_error() {
        let error =
            |body: &[u8]| parse(body, "http://h/r.git/info/refs").err().map(|e| e.message().to_string());
        assert_eq!(
            error(b"Welcome to nginx!"),
            Some(
                "http://h/r.git/info/refs did not answer as a git smart-HTTP server (`Welc` is not a pkt-line \
                 length); check that the URL is a git repository served over smart HTTP"
                    .to_string()
            )
        );
        let mut w = Writer::default();
        w.line("hello world");
        w.flush();
        assert!(error(&w.buf).is_some_and(|e| e.contains("(bad object id `hello`)")));
        assert!(error(b"").is_some_and(|e| e.contains("(the response ended early)")));
    }

    #[test]
    fn a_v1_advertisement_is_read_as_v0() {
        let a = "1".repeat(40);
        let mut w = Writer::default();
        w.line("# service=git-upload-pack");
        w.flush();
        w.line("version 1");
        w.data(format!("{a} HEAD\0shallow symref=HEAD:refs/heads/main\n").as_bytes());
        w.line(&format!("{a} refs/heads/main"));
        w.flush();
        let adv = parse(&w.buf, "test").unwrap_or_else(|e| panic!("{e}"));
        assert!(!adv.v2);
        assert_eq!(adv.head_target.as_deref(), Some("refs/heads/main"));
        assert!(adv.has("shallow"));
        let names: Vec<&str> = adv.refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["HEAD", "refs/heads/main"]);
    }

    #[test]
    fn parses_a_v0_advertisement() {
        let a = "1".repeat(40);
        let b = "2".repeat(40);
        let mut w = Writer::default();
        w.data(format!("{a} HEAD\0multi_ack symref=HEAD:refs/heads/main side-band-64k\n").as_bytes());
        w.line(&format!("{a} refs/heads/main"));
        w.line(&format!("{b} refs/tags/v1"));
        w.line(&format!("{a} refs/tags/v1^{{}}"));
        w.flush();
        let mut reader = Reader::new(&w.buf, "test");
        let (packet, line) = reader.next_line().unwrap_or_else(|e| panic!("{e}"));
        let adv = parse_v0(&mut reader, packet, line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(adv.head_target.as_deref(), Some("refs/heads/main"));
        assert!(adv.has("side-band-64k"));
        let tag = adv.find("refs/tags/v1").map(|r| (r.oid.to_hex(), r.peeled.map(Oid::to_hex)));
        assert_eq!(tag, Some((b.clone(), Some(a.clone()))));
        assert_eq!(adv.refs.len(), 3);
    }
}
