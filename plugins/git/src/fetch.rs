//! Negotiation and packfile receive (`upload-pack`): we have nothing, so we send our wants
//! (and a depth), then `done`, and get one pack back.

use sluice_plugin::TaskError;

use crate::oid::Oid;
use crate::pktline::{Packet, Reader, Writer, read_sideband};
use crate::refs::Advertisement;
use crate::remote::{Remote, Service};

/// What a fetch brought back.
pub struct Fetched {
    pub pack: Vec<u8>,
    /// Commits whose parents were not sent (the `.git/shallow` file).
    pub shallow: Vec<Oid>,
}

/// Fetch `wants` with history cut at `depth` commits (0: everything).
pub fn fetch(remote: &Remote, adv: &Advertisement, wants: &[Oid], depth: u32) -> Result<Fetched, TaskError> {
    if adv.v2 { fetch_v2(remote, adv, wants, depth) } else { fetch_v0(remote, adv, wants, depth) }
}

fn fetch_v2(remote: &Remote, adv: &Advertisement, wants: &[Oid], depth: u32) -> Result<Fetched, TaskError> {
    let mut w = Writer::default();
    w.line("command=fetch");
    w.line(&format!("agent={}", crate::AGENT));
    w.delim();
    w.line("no-progress");
    w.line("ofs-delta");
    if depth > 0 {
        if !adv.command_has("fetch", "shallow") {
            return Err(TaskError::failed(format!(
                "{} does not support shallow clones; set `depth: 0`",
                remote.url
            )));
        }
        w.line(&format!("deepen {depth}"));
    }
    for want in wants {
        w.line(&format!("want {want}"));
    }
    w.line("done");
    w.flush();
    let body = remote.post(Service::UploadPack, w.buf, true)?;
    let from = format!("{}/git-upload-pack", remote.url);
    let mut reader = Reader::new(&body, &from);
    let mut fetched = Fetched { pack: Vec::new(), shallow: Vec::new() };
    loop {
        if reader.at_end() {
            return Err(reader.garbage("the fetch answer has no packfile"));
        }
        let (packet, section) = reader.next_line()?;
        if !matches!(packet, Packet::Data(_)) {
            return Err(reader.garbage("expected a section header"));
        }
        check_err(&section)?;
        match section.as_str() {
            "packfile" => {
                read_sideband(&mut reader, &mut fetched.pack)?;
                return Ok(fetched);
            }
            "shallow-info" => loop {
                match reader.next_line()? {
                    (Packet::Data(_), line) => {
                        if let Some(hex) = line.strip_prefix("shallow ") {
                            fetched.shallow.extend(Oid::from_hex(hex));
                        }
                    }
                    (Packet::Delim, _) => break,
                    _ => return Err(reader.garbage("shallow-info ended early")),
                }
            },
            _ => loop {
                // A section we do not use (acknowledgments, wanted-refs): skip it.
                match reader.next_line()? {
                    (Packet::Data(_), line) => check_err(&line)?,
                    (Packet::Delim, _) => break,
                    _ => return Err(reader.garbage(&format!("section `{section}` ended early"))),
                }
            },
        }
    }
}

fn fetch_v0(remote: &Remote, adv: &Advertisement, wants: &[Oid], depth: u32) -> Result<Fetched, TaskError> {
    let sideband = if adv.has("side-band-64k") {
        Some("side-band-64k")
    } else if adv.has("side-band") {
        Some("side-band")
    } else {
        None
    };
    let mut caps = vec![format!("agent={}", crate::AGENT)];
    for cap in ["ofs-delta", "no-progress"] {
        if adv.has(cap) {
            caps.push(cap.to_string());
        }
    }
    caps.extend(sideband.map(str::to_string));
    if depth > 0 {
        if !adv.has("shallow") {
            return Err(TaskError::failed(format!(
                "{} does not support shallow clones; set `depth: 0`",
                remote.url
            )));
        }
        caps.push("shallow".to_string());
    }
    let mut w = Writer::default();
    for (i, want) in wants.iter().enumerate() {
        if i == 0 {
            w.line(&format!("want {want} {}", caps.join(" ")));
        } else {
            w.line(&format!("want {want}"));
        }
    }
    if depth > 0 {
        w.line(&format!("deepen {depth}"));
    }
    w.flush();
    w.line("done");
    let body = remote.post(Service::UploadPack, w.buf, false)?;
    let from = format!("{}/git-upload-pack", remote.url);
    let mut reader = Reader::new(&body, &from);
    let mut fetched = Fetched { pack: Vec::new(), shallow: Vec::new() };
    // shallow lines (then a flush) when deepening, then NAK/ACK lines, then the pack.
    loop {
        if reader.at_end() {
            return Err(reader.garbage("the fetch answer has no packfile"));
        }
        let (packet, line) = reader.next_line()?;
        check_err(&line)?;
        match packet {
            Packet::Flush => continue,
            Packet::Data(_) if line.starts_with("shallow ") => {
                fetched.shallow.extend(line.strip_prefix("shallow ").and_then(Oid::from_hex));
            }
            Packet::Data(_) if line.starts_with("unshallow ") => {}
            Packet::Data(_) if line == "NAK" || line.starts_with("ACK ") => break,
            _ => return Err(reader.garbage(&format!("unexpected `{line}` before the pack"))),
        }
    }
    if sideband.is_some() {
        read_sideband(&mut reader, &mut fetched.pack)?;
    } else {
        fetched.pack = body[body.len() - reader.remaining()..].to_vec();
    }
    Ok(fetched)
}

/// An `ERR <message>` packet is the server refusing the request.
fn check_err(line: &str) -> Result<(), TaskError> {
    match line.strip_prefix("ERR ") {
        Some(message) if message.contains("not our ref") => Err(TaskError::failed(format!(
            "the git server refused the fetch: {message}; the commit is not in the repository, or the server does not allow fetching it by id (pick a `branch` or `tag`)"
        ))),
        Some(message) => Err(TaskError::failed(format!("the git server refused the fetch: {message}"))),
        None => Ok(()),
    }
}
