//! Per-run limits and the store's resource limiter that enforces the memory cap.

use std::time::Duration;

/// Limits on one task run. Every run has all of them; [`Limits::default`] is what a task gets
/// when its flow says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the whole run, host calls included.
    pub timeout: Duration,
    /// Linear memory, summed over the component's memories, in bytes.
    pub memory_bytes: usize,
    /// Log volume (messages, stdout and stderr) in bytes; past it, one marker line and silence.
    pub log_bytes: usize,
    /// Size of the JSON outputs in bytes; past it, the run fails.
    pub output_bytes: usize,
    /// Bytes the run may add to its workspace (files created or grown); past it, writes fail
    /// as on a full disk and the run fails.
    pub disk_bytes: u64,
    /// Host resources the run may hold at once: open files and directories, streams, HTTP
    /// requests and responses (entries of its resource table). Bounds the descriptors one run
    /// can take from the process; the sandbox lowers it to its share of the process's
    /// open-file limit (see `Sandbox::new`).
    pub open_handles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60 * 60),
            memory_bytes: 256 << 20,
            log_bytes: 10 << 20,
            output_bytes: 1 << 20,
            disk_bytes: 10 << 30,
            open_handles: 4096,
        }
    }
}

/// Caps linear memory and tables, and remembers whether the cap was hit so that the trap that
/// usually follows (an allocator aborting) is reported as what it is.
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    used_bytes: usize,
    pub(crate) hit: bool,
}

/// Table elements allowed per table: generous for real components, finite for hostile ones.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl MemoryLimiter {
    pub(crate) fn new(max_bytes: usize) -> Self {
        MemoryLimiter { max_bytes, used_bytes: 0, hit: false }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.used_bytes - current.min(self.used_bytes) + desired;
        if after > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        self.used_bytes = after;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn memories(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        64
    }

    fn instances(&self) -> usize {
        64
    }
}
