//! Tar archives as the Engine API takes and gives them (build contexts, files copied into and out
//! of containers): a writer that produces the archive while it is read, so a large context is
//! never held in memory, and a reader that extracts one as its chunks arrive.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

const BLOCK: usize = 512;

/// What an archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file; its bytes are read from `source` while the archive is read. Executable
    /// files are archived 0755, the others 0644.
    File {
        source: PathBuf,
        size: u64,
        executable: bool,
    },
    Symlink(String),
}

/// One entry of an archive being written.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The path inside the archive, `/`-separated, no leading `/`.
    pub name: String,
    pub kind: Kind,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
}

/// An archive produced on the fly as it is read.
pub struct TarWriter {
    entries: std::vec::IntoIter<Entry>,
    pending: Vec<u8>,
    pos: usize,
    file: Option<OpenFile>,
    finished: bool,
}

struct OpenFile {
    file: File,
    name: String,
    remaining: u64,
    padding: usize,
}

impl TarWriter {
    pub fn new(entries: Vec<Entry>) -> TarWriter {
        TarWriter { entries: entries.into_iter(), pending: Vec::new(), pos: 0, file: None, finished: false }
    }

    fn start(&mut self, entry: Entry) -> io::Result<()> {
        self.pending.clear();
        self.pos = 0;
        match entry.kind {
            Kind::Dir => {
                let name = format!("{}/", entry.name.trim_end_matches('/'));
                write_header(&mut self.pending, &name, 0, 0o755, entry.mtime, b'5', "");
            }
            Kind::Symlink(target) => {
                write_header(&mut self.pending, &entry.name, 0, 0o777, entry.mtime, b'2', &target);
            }
            Kind::File { source, size, executable } => {
                let mut file = File::open(&source)
                    .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", source.display())))?;
                // A small file is read whole in one go, with its header.
                let head_len = size.min(HEAD_BYTES);
                let mut head = Vec::with_capacity(head_len as usize);
                (&mut file).take(head_len).read_to_end(&mut head)?;
                if (head.len() as u64) < head_len {
                    return Err(io::Error::other(format!(
                        "{} got shorter while it was archived",
                        entry.name
                    )));
                }
                let mode = if executable { 0o755 } else { 0o644 };
                write_header(&mut self.pending, &entry.name, size, mode, entry.mtime, b'0', "");
                self.pending.extend_from_slice(&head);
                let padding = (BLOCK - (size as usize % BLOCK)) % BLOCK;
                if size == head_len {
                    self.pending.resize(self.pending.len() + padding, 0);
                } else {
                    self.file =
                        Some(OpenFile { file, name: entry.name, remaining: size - head_len, padding });
                }
            }
        }
        Ok(())
    }
}

/// How much of a file is read before its header is written (all of it, for most files).
const HEAD_BYTES: u64 = 64 << 10;

impl Read for TarWriter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.pos);
                buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if let Some(open) = &mut self.file {
                if open.remaining > 0 {
                    let want = buf.len().min(usize::try_from(open.remaining).unwrap_or(usize::MAX));
                    let n = open.file.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::other(format!(
                            "{} got shorter while it was archived",
                            open.name
                        )));
                    }
                    open.remaining -= n as u64;
                    return Ok(n);
                }
                self.pending = vec![0; open.padding];
                self.pos = 0;
                self.file = None;
                continue;
            }
            match self.entries.next() {
                Some(entry) => self.start(entry)?,
                None if !self.finished => {
                    self.pending = vec![0; 2 * BLOCK];
                    self.pos = 0;
                    self.finished = true;
                }
                None => return Ok(0),
            }
        }
    }
}

/// Appends a ustar header (preceded by a PAX header when the name or link is too long).
fn write_header(out: &mut Vec<u8>, name: &str, size: u64, mode: u32, mtime: u64, kind: u8, link: &str) {
    if name.len() > 100 || link.len() > 100 {
        let mut records = String::new();
        if name.len() > 100 {
            records.push_str(&pax_record("path", name));
        }
        if link.len() > 100 {
            records.push_str(&pax_record("linkpath", link));
        }
        write_ustar(out, "pax_header", records.len() as u64, 0o644, mtime, b'x', "");
        out.extend_from_slice(records.as_bytes());
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    write_ustar(out, name, size, mode, mtime, kind, link);
}

fn pax_record(key: &str, value: &str) -> String {
    let body = key.len() + value.len() + 3;
    let mut len = body + body.to_string().len();
    if len.to_string().len() != body.to_string().len() {
        len = body + len.to_string().len();
    }
    format!("{len} {key}={value}\n")
}

fn write_ustar(out: &mut Vec<u8>, name: &str, size: u64, mode: u32, mtime: u64, kind: u8, link: &str) {
    let mut header = [0u8; BLOCK];
    put(&mut header[0..100], name.as_bytes());
    put_octal(&mut header[100..108], u64::from(mode));
    put_octal(&mut header[108..116], 0);
    put_octal(&mut header[116..124], 0);
    put_octal(&mut header[124..136], size);
    put_octal(&mut header[136..148], mtime);
    header[148..156].copy_from_slice(b"        ");
    header[156] = kind;
    put(&mut header[157..257], link.as_bytes());
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    let checksum = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(checksum.as_bytes());
    out.extend_from_slice(&header);
}

fn put(field: &mut [u8], bytes: &[u8]) {
    let n = field.len().min(bytes.len());
    field[..n].copy_from_slice(&bytes[..n]);
}

fn put_octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}", width = field.len() - 1);
    put(field, text.as_bytes());
}

/// What the reader found; the callback decides what to do with each entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Dir,
    /// A regular file, and whether its owner may execute it.
    File {
        executable: bool,
    },
    /// Links, devices and the like, which are skipped.
    Other,
}

/// Extracts an archive as its chunks arrive.
#[derive(Default)]
pub struct TarReader {
    buffer: Vec<u8>,
    state: State,
    long_name: Option<String>,
}

#[derive(Default)]
enum State {
    #[default]
    Header,
    Data {
        remaining: u64,
        padding: u64,
        into: Sink,
    },
    End,
}

enum Sink {
    Skip,
    File(Box<dyn Write>),
    Meta { bytes: Vec<u8>, pax: bool },
}

/// Decides for each entry: a writer for a file's bytes, or `None` to skip it.
pub type OnEntry<'a> = dyn FnMut(&str, Found) -> io::Result<Option<Box<dyn Write>>> + 'a;

impl TarReader {
    pub fn feed(&mut self, chunk: &[u8], on_entry: &mut OnEntry<'_>) -> io::Result<()> {
        self.buffer.extend_from_slice(chunk);
        let mut start = 0;
        loop {
            let available = self.buffer.len() - start;
            match &mut self.state {
                State::End => {
                    start = self.buffer.len();
                    break;
                }
                State::Header => {
                    if available < BLOCK {
                        break;
                    }
                    let header: [u8; BLOCK] =
                        self.buffer[start..start + BLOCK].try_into().map_err(io::Error::other)?;
                    start += BLOCK;
                    self.state = self.header(&header, on_entry)?;
                }
                State::Data { remaining, padding, into } => {
                    if *remaining > 0 {
                        if available == 0 {
                            break;
                        }
                        let n = available.min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                        let data = &self.buffer[start..start + n];
                        match into {
                            Sink::Skip => {}
                            Sink::File(writer) => writer.write_all(data)?,
                            Sink::Meta { bytes, .. } => bytes.extend_from_slice(data),
                        }
                        *remaining -= n as u64;
                        start += n;
                        continue;
                    }
                    let pad = usize::try_from(*padding).unwrap_or(usize::MAX);
                    if available < pad {
                        break;
                    }
                    start += pad;
                    if let Sink::Meta { bytes, pax } = std::mem::replace(into, Sink::Skip) {
                        self.long_name = if pax { pax_path(&bytes) } else { Some(c_string(&bytes)) };
                    }
                    self.state = State::Header;
                }
            }
        }
        self.buffer.drain(..start);
        Ok(())
    }

    fn header(&mut self, header: &[u8; BLOCK], on_entry: &mut OnEntry<'_>) -> io::Result<State> {
        if header.iter().all(|b| *b == 0) {
            return Ok(State::End);
        }
        let size = parse_octal(&header[124..136]);
        let padding = ((BLOCK - (size % BLOCK as u64) as usize) % BLOCK) as u64;
        let kind = header[156];
        let into = match kind {
            b'L' => Sink::Meta { bytes: Vec::new(), pax: false },
            b'x' => Sink::Meta { bytes: Vec::new(), pax: true },
            _ => {
                let name = match self.long_name.take() {
                    Some(name) => name,
                    None => {
                        let prefix = c_string(&header[345..500]);
                        let name = c_string(&header[0..100]);
                        if prefix.is_empty() { name } else { format!("{prefix}/{name}") }
                    }
                };
                let found = match kind {
                    b'0' | 0 | b'7' => {
                        Found::File { executable: parse_octal(&header[100..108]) & 0o100 != 0 }
                    }
                    b'5' => Found::Dir,
                    _ => Found::Other,
                };
                match on_entry(name.trim_end_matches('/'), found)? {
                    Some(writer) => Sink::File(writer),
                    None => Sink::Skip,
                }
            }
        };
        Ok(State::Data { remaining: size, padding, into })
    }
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn parse_octal(field: &[u8]) -> u64 {
    field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(*b))
        .fold(0, |acc, b| acc * 8 + u64::from(b - b'0'))
}

fn pax_path(records: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(records);
    text.lines().find_map(|line| {
        let (_, record) = line.split_once(' ')?;
        record.strip_prefix("path=").map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn round_trip_with_long_names_in_small_chunks() {
        let dir = std::env::temp_dir().join(format!("sluice-tar-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let long = format!("deep/{}/file.txt", "x".repeat(120));
        let small = dir.join("small");
        std::fs::write(&small, b"hello").expect("write");
        let script = dir.join("script");
        std::fs::write(&script, b"#!/bin/sh\necho hi\n").expect("write");
        let entries = vec![
            Entry { name: "deep".into(), kind: Kind::Dir, mtime: 1 },
            Entry {
                name: long.clone(),
                kind: Kind::File { source: small.clone(), size: 5, executable: false },
                mtime: 2,
            },
            // The mode comes from the file's executable bit, not from its content.
            Entry {
                name: "run.sh".into(),
                kind: Kind::File { source: script, size: 18, executable: false },
                mtime: 3,
            },
            Entry {
                name: "tool".into(),
                kind: Kind::File { source: small.clone(), size: 5, executable: true },
                mtime: 3,
            },
            Entry { name: "link".into(), kind: Kind::Symlink("run.sh".into()), mtime: 4 },
        ];
        let mut archive = Vec::new();
        TarWriter::new(entries).read_to_end(&mut archive).expect("archive");
        assert_eq!(archive.len() % BLOCK, 0);

        let found = Arc::new(Mutex::new(Vec::new()));
        let contents: Arc<Mutex<Vec<u8>>> = Arc::default();
        let mut reader = TarReader::default();
        let (seen, bytes) = (found.clone(), contents.clone());
        let mut on_entry = move |name: &str, kind: Found| -> io::Result<Option<Box<dyn Write>>> {
            seen.lock().expect("lock").push((name.to_string(), kind.clone()));
            Ok(matches!(kind, Found::File { .. }).then(|| Box::new(Shared(bytes.clone())) as Box<dyn Write>))
        };
        for chunk in archive.chunks(7) {
            reader.feed(chunk, &mut on_entry).expect("feed");
        }
        let found = found.lock().expect("lock").clone();
        assert_eq!(
            found,
            vec![
                ("deep".to_string(), Found::Dir),
                (long, Found::File { executable: false }),
                ("run.sh".to_string(), Found::File { executable: false }),
                ("tool".to_string(), Found::File { executable: true }),
                ("link".to_string(), Found::Other),
            ]
        );
        assert_eq!(&*contents.lock().expect("lock"), b"hello#!/bin/sh\necho hi\nhello");
        // The executable file is archived 0755, the script that is not 0644: the headers' modes.
        let mode = |name: &[u8]| {
            let at =
                archive.windows(name.len() + 1).position(|w| w[..name.len()] == *name && w[name.len()] == 0);
            let at = at.expect("header");
            archive[at + 100..at + 107].to_vec()
        };
        assert_eq!(mode(b"tool"), b"0000755");
        assert_eq!(mode(b"run.sh"), b"0000644");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_file_larger_than_the_head_streams_whole() {
        let dir = std::env::temp_dir().join(format!("sluice-tar-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let content: Vec<u8> = (0..150_001u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("big"), &content).expect("write");
        let entries = vec![Entry {
            name: "big.bin".into(),
            kind: Kind::File { source: dir.join("big"), size: content.len() as u64, executable: false },
            mtime: 0,
        }];
        let mut archive = Vec::new();
        TarWriter::new(entries).read_to_end(&mut archive).expect("archive");
        assert_eq!(archive.len(), BLOCK + content.len().div_ceil(BLOCK) * BLOCK + 2 * BLOCK);
        assert_eq!(&archive[BLOCK..BLOCK + content.len()], &content[..]);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
