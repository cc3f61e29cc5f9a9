//! pkt-line framing (gitprotocol-common): 4 hex digits of length, then the payload; `0000` is
//! a flush, `0001` a delimiter and `0002` the end of a response.

use sluice_plugin::TaskError;

/// The largest payload of one pkt-line.
pub const MAX_PAYLOAD: usize = 65516;

/// One packet read from a response.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Data(&'a [u8]),
    Flush,
    Delim,
    ResponseEnd,
}

/// Appends pkt-lines to a request body.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    /// One data packet (split when longer than a packet may be).
    pub fn data(&mut self, payload: &[u8]) {
        for chunk in payload.chunks(MAX_PAYLOAD) {
            self.buf.extend_from_slice(format!("{:04x}", chunk.len() + 4).as_bytes());
            self.buf.extend_from_slice(chunk);
        }
    }

    /// One text line (a newline is added).
    pub fn line(&mut self, text: &str) {
        let mut payload = Vec::with_capacity(text.len() + 1);
        payload.extend_from_slice(text.as_bytes());
        payload.push(b'\n');
        self.data(&payload);
    }

    pub fn flush(&mut self) {
        self.buf.extend_from_slice(b"0000");
    }

    pub fn delim(&mut self) {
        self.buf.extend_from_slice(b"0001");
    }
}

/// Reads pkt-lines from a complete response body.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Who sent the bytes, for error messages.
    from: &'a str,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], from: &'a str) -> Self {
        Reader { bytes, pos: 0, from }
    }

    /// How many bytes are left unread.
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The next packet; an error when the bytes are not pkt-lines or end inside one.
    pub fn next_packet(&mut self) -> Result<Packet<'a>, TaskError> {
        let head =
            self.bytes.get(self.pos..self.pos + 4).ok_or_else(|| self.garbage("the response ended early"))?;
        let len = std::str::from_utf8(head)
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.garbage(&format!("`{}` is not a pkt-line length", preview(head))))?;
        self.pos += 4;
        match len {
            0 => Ok(Packet::Flush),
            1 => Ok(Packet::Delim),
            2 => Ok(Packet::ResponseEnd),
            3 => Err(self.garbage("invalid pkt-line length 3")),
            _ => {
                let end = self.pos + len - 4;
                let payload = self
                    .bytes
                    .get(self.pos..end)
                    .ok_or_else(|| self.garbage("the response ended inside a packet"))?;
                self.pos = end;
                Ok(Packet::Data(payload))
            }
        }
    }

    /// The next packet, with its payload as text without the newline (empty for a flush/delim/end).
    pub fn next_line(&mut self) -> Result<(Packet<'a>, String), TaskError> {
        let packet = self.next_packet()?;
        let text = match &packet {
            Packet::Data(d) => String::from_utf8_lossy(d.strip_suffix(b"\n").unwrap_or(d)).into_owned(),
            _ => String::new(),
        };
        Ok((packet, text))
    }

    /// A "the server sent garbage" error.
    pub fn garbage(&self, what: &str) -> TaskError {
        garbage(self.from, what)
    }
}

/// The error for a response that does not follow the git protocol.
pub fn garbage(from: &str, what: &str) -> TaskError {
    TaskError::failed(format!(
        "{from} did not answer as a git smart-HTTP server ({what}); check that the URL is a git repository served over smart HTTP"
    ))
}

/// The first bytes of `bytes` as printable text, for error messages.
pub fn preview(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(60)];
    String::from_utf8_lossy(head).chars().map(|c| if c.is_control() { '.' } else { c }).collect()
}

/// Reassemble side-band data (band 1) from the remaining packets up to a flush; band 2
/// (progress) is logged at debug, band 3 is the server's error message.
pub fn read_sideband(reader: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), TaskError> {
    loop {
        if reader.at_end() {
            return Ok(());
        }
        match reader.next_packet()? {
            Packet::Data([1, data @ ..]) => out.extend_from_slice(data),
            Packet::Data([2, progress @ ..]) => {
                sluice_plugin::debug!("remote: {}", String::from_utf8_lossy(progress).trim_end());
            }
            Packet::Data([3, message @ ..]) => {
                return Err(TaskError::failed(format!(
                    "the git server reported an error: {}",
                    String::from_utf8_lossy(message).trim_end()
                )));
            }
            Packet::Data(other) => {
                return Err(reader.garbage(&format!("unknown side-band packet `{}`", preview(other))));
            }
            Packet::Flush | Packet::ResponseEnd => return Ok(()),
            Packet::Delim => return Err(reader.garbage("a delimiter inside the packfile")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let mut w = Writer::default();
        w.line("command=ls-refs");
        w.delim();
        w.data(b"x");
        w.flush();
        assert_eq!(w.buf, b"0014command=ls-refs\n00010005x0000");
        let mut r = Reader::new(&w.buf, "test");
        assert_eq!(r.next_packet().ok(), Some(Packet::Data(b"command=ls-refs\n")));
        assert_eq!(r.next_packet().ok(), Some(Packet::Delim));
        assert_eq!(r.next_packet().ok(), Some(Packet::Data(b"x")));
        assert_eq!(r.next_packet().ok(), Some(Packet::Flush));
        assert!(r.at_end());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut r = Reader::new(b"<html>", "http://h");
        let err = r.next_packet().err().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(err.contains("`<htm` is not a pkt-line length"), "{err}");
    }
}
