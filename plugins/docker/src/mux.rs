//! The Engine's multiplexed stdout/stderr stream (a container without a TTY): frames of an
//! 8-byte header (stream type, three zero bytes, big-endian length) and that many bytes.

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Decodes frames as chunks arrive, and splits each stream into lines.
#[derive(Default)]
pub struct Demux {
    buffer: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Demux {
    /// Feeds a chunk; `on_line` gets every completed line of either stream.
    pub fn feed(&mut self, chunk: &[u8], on_line: &mut dyn FnMut(Stream, &str)) {
        self.buffer.extend_from_slice(chunk);
        let mut start = 0;
        while self.buffer.len() - start >= 8 {
            let header = &self.buffer[start..start + 8];
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if self.buffer.len() - start - 8 < len {
                break;
            }
            let stream = if header[0] == 2 { Stream::Stderr } else { Stream::Stdout };
            let payload = self.buffer[start + 8..start + 8 + len].to_vec();
            start += 8 + len;
            let pending = match stream {
                Stream::Stdout => &mut self.stdout,
                Stream::Stderr => &mut self.stderr,
            };
            pending.extend_from_slice(&payload);
            emit_lines(pending, stream, on_line);
        }
        self.buffer.drain(..start);
    }

    /// Emits the unterminated last line of each stream.
    pub fn finish(&mut self, on_line: &mut dyn FnMut(Stream, &str)) {
        for (stream, pending) in [(Stream::Stdout, &mut self.stdout), (Stream::Stderr, &mut self.stderr)] {
            if !pending.is_empty() {
                on_line(stream, &String::from_utf8_lossy(pending));
                pending.clear();
            }
        }
    }
}

fn emit_lines(pending: &mut Vec<u8>, stream: Stream, on_line: &mut dyn FnMut(Stream, &str)) {
    let mut start = 0;
    while let Some(offset) = pending[start..].iter().position(|b| *b == b'\n') {
        let line = &pending[start..start + offset];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        on_line(stream, &String::from_utf8_lossy(line));
        start += offset + 1;
    }
    pending.drain(..start);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, data: &[u8]) -> Vec<u8> {
        let mut out = vec![kind, 0, 0, 0];
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn splits_frames_and_lines_across_chunks() {
        let mut bytes = frame(1, b"hello\nwor");
        bytes.extend(frame(2, b"oops\n"));
        bytes.extend(frame(1, b"ld\nlast"));
        let mut demux = Demux::default();
        let mut seen = Vec::new();
        for chunk in bytes.chunks(5) {
            demux.feed(chunk, &mut |s, l| seen.push((s, l.to_string())));
        }
        demux.finish(&mut |s, l| seen.push((s, l.to_string())));
        let expected = [
            (Stream::Stdout, "hello"),
            (Stream::Stderr, "oops"),
            (Stream::Stdout, "world"),
            (Stream::Stdout, "last"),
        ];
        assert_eq!(seen, expected.map(|(s, l)| (s, l.to_string())));
    }
}
