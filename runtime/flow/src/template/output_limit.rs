//! A writer that refuses to grow past a byte budget, so an oversized render stops when it
//! crosses the limit instead of after it has built the whole text.

use std::io;

pub(super) struct LimitedWriter {
    pub bytes: Vec<u8>,
    limit: usize,
    /// Set when a write was refused; tells the caller why the render failed.
    pub overflowed: bool,
}

impl LimitedWriter {
    pub(super) fn new(limit: usize) -> Self {
        Self { bytes: Vec::new(), limit, overflowed: false }
    }
}

impl io::Write for LimitedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.bytes.len().saturating_add(data.len()) > self.limit {
            self.overflowed = true;
            return Err(io::Error::other("output limit reached"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts the bytes written (used to size JSON values) and refuses to go past the limit.
pub(super) struct LimitedCounter {
    pub count: usize,
    limit: usize,
}

impl LimitedCounter {
    pub(super) fn new(limit: usize) -> Self {
        Self { count: 0, limit }
    }
}

impl io::Write for LimitedCounter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.count = self.count.saturating_add(data.len());
        if self.count > self.limit {
            return Err(io::Error::other("output limit reached"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn the_writer_keeps_what_fits_and_refuses_the_rest() {
        let mut writer = LimitedWriter::new(5);
        writer.write_all(b"abc").expect("fits");
        assert!(writer.write_all(b"def").is_err());
        assert!(writer.overflowed);
        assert_eq!(writer.bytes, b"abc");
    }

    #[test]
    fn the_counter_fails_past_the_limit() {
        let mut counter = LimitedCounter::new(4);
        counter.write_all(b"abcd").expect("fits");
        assert_eq!(counter.count, 4);
        assert!(counter.write_all(b"e").is_err());
    }
}
