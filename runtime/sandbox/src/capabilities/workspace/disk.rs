//! The disk capability's limit: how many bytes one run may add to its workspace.
//!
//! wasmtime-wasi writes files without a hook, so the four `wasi:filesystem` calls that make a
//! file larger are shadowed in the linker: `descriptor.write`, `write-via-stream`,
//! `append-via-stream` and `set-size`. Each charges the bytes it adds past the file's current
//! end to the run's [`DiskBudget`] before the bytes are written (overwriting in place is free);
//! past the budget the call fails with `insufficient-space`, as a full disk would, and the run
//! fails with [`crate::RunError::DiskLimit`] whatever the component does next. Everything else is
//! wasmtime-wasi's own implementation, called through.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{ErrorCode, Host, HostDescriptor};
use wasmtime_wasi::p2::{DynOutputStream, FsError, OutputStream, Pollable, StreamError, StreamResult};

use crate::state::RunState;

/// The `wasi:filesystem/types` instance as wasmtime-wasi names it in the linker; components
/// built against any 0.2.x version link to it.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// What a run may still add to its workspace, and whether it tried to add more.
#[derive(Debug)]
pub(crate) struct DiskBudget {
    limit: u64,
    state: Mutex<Charged>,
}

#[derive(Debug, Default)]
struct Charged {
    used: u64,
    /// The size the run tried to reach when it went past the limit.
    exceeded: Option<u64>,
}

impl DiskBudget {
    pub(crate) fn new(limit: u64) -> Arc<DiskBudget> {
        Arc::new(DiskBudget { limit, state: Mutex::new(Charged::default()) })
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes `bytes` from the budget, or refuses them all and remembers the attempt.
    fn charge(&self, bytes: u64) -> Result<(), std::io::Error> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted = state.used.saturating_add(bytes);
        if wanted > self.limit {
            state.exceeded = Some(state.exceeded.map_or(wanted, |w| w.max(wanted)));
            return Err(rustix::io::Errno::NOSPC.into());
        }
        state.used = wanted;
        Ok(())
    }

    /// The size the run tried to reach past its limit, if it did.
    pub(crate) fn exceeded(&self) -> Option<u64> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).exceeded
    }
}

/// Bytes a write of `len` bytes at `offset` adds to a file whose size is now `size`.
fn growth(size: u64, offset: u64, len: u64) -> u64 {
    offset.saturating_add(len).saturating_sub(size)
}

fn file_of(state: &mut RunState, fd: &Resource<Descriptor>) -> Option<Arc<std::fs::File>> {
    match state.table().get(fd) {
        Ok(Descriptor::File(file)) => Some(file.file.clone()),
        _ => None,
    }
}

fn size_of(file: &std::fs::File) -> u64 {
    file.metadata().map_or(0, |m| m.len())
}

/// Turns wasmtime-wasi's error back into what the guest sees (or a trap).
fn error_code(state: &mut RunState, err: FsError) -> wasmtime::Result<ErrorCode> {
    Host::convert_error_code(&mut state.filesystem(), err)
}

/// Charges the growth of `file` by a write at `offset` (`None`: at its end) of `len` bytes.
fn charge(state: &RunState, file: &std::fs::File, offset: Option<u64>, len: u64) -> Result<(), ErrorCode> {
    let size = size_of(file);
    state.disk.charge(growth(size, offset.unwrap_or(size), len)).map_err(|_| ErrorCode::InsufficientSpace)
}

/// Shadows the calls that grow files with metered ones.
pub(crate) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(FILESYSTEM_TYPES)?;
    types.func_wrap_async(
        "[method]descriptor.write",
        |mut store, (fd, buffer, offset): (Resource<Descriptor>, Vec<u8>, u64)| {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(file) = file_of(state, &fd)
                    && let Err(code) = charge(state, &file, Some(offset), buffer.len() as u64)
                {
                    return Ok((Err(code),));
                }
                match HostDescriptor::write(&mut state.filesystem(), fd, buffer, offset).await {
                    Ok(written) => Ok((Ok(written),)),
                    Err(err) => Ok((Err(error_code(state, err)?),)),
                }
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.set-size",
        |mut store, (fd, size): (Resource<Descriptor>, u64)| {
            Box::new(async move {
                let state = store.data_mut();
                if let Some(file) = file_of(state, &fd)
                    && let Err(code) = charge(state, &file, Some(0), size)
                {
                    return Ok((Err(code),));
                }
                match HostDescriptor::set_size(&mut state.filesystem(), fd, size).await {
                    Ok(()) => Ok((Ok(()),)),
                    Err(err) => Ok((Err(error_code(state, err)?),)),
                }
            })
        },
    )?;
    types.func_wrap(
        "[method]descriptor.write-via-stream",
        |mut store, (fd, offset): (Resource<Descriptor>, u64)| {
            let state = store.data_mut();
            let file = file_of(state, &fd);
            let opened = HostDescriptor::write_via_stream(&mut state.filesystem(), fd, offset);
            metered_stream(state, opened, file, Some(offset))
        },
    )?;
    types.func_wrap(
        "[method]descriptor.append-via-stream",
        |mut store, (fd,): (Resource<Descriptor>,)| {
            let state = store.data_mut();
            let file = file_of(state, &fd);
            let opened = HostDescriptor::append_via_stream(&mut state.filesystem(), fd);
            metered_stream(state, opened, file, None)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

type StreamAnswer = (Result<Resource<DynOutputStream>, ErrorCode>,);

/// Replaces the stream wasmtime-wasi opened with one that charges the budget first.
fn metered_stream(
    state: &mut RunState,
    opened: Result<Resource<DynOutputStream>, FsError>,
    file: Option<Arc<std::fs::File>>,
    position: Option<u64>,
) -> wasmtime::Result<StreamAnswer> {
    let stream = match opened {
        Ok(stream) => stream,
        Err(err) => return Ok((Err(error_code(state, err)?),)),
    };
    let Some(file) = file else { return Ok((Ok(stream),)) };
    let inner = state.table().delete(stream)?;
    let end = size_of(&file);
    let metered: DynOutputStream =
        Box::new(MeteredFileStream { inner, end, position, budget: state.disk.clone() });
    Ok((Ok(state.table().push(metered)?),))
}

/// A file's output stream that charges what each write adds to the file before passing it on.
struct MeteredFileStream {
    inner: DynOutputStream,
    /// The file's end as this stream knows it (its size when opened, then as far as the stream
    /// wrote), so a write needs no `fstat`. If another descriptor grows the file meanwhile, this
    /// end is behind and the stream is charged again for those bytes: never less than it adds.
    end: u64,
    /// Where the next write lands; `None` for an append stream (always at the end).
    position: Option<u64>,
    budget: Arc<DiskBudget>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for MeteredFileStream {
    async fn ready(&mut self) {
        self.inner.ready().await;
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for MeteredFileStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let len = bytes.len() as u64;
        // An append always adds its bytes, wherever the end is now.
        let at = self.position.unwrap_or(self.end);
        self.budget
            .charge(growth(self.end, at, len))
            .map_err(|e| StreamError::LastOperationFailed(e.into()))?;
        self.inner.write(bytes)?;
        self.end = self.end.max(at + len);
        if let Some(position) = &mut self.position {
            *position += len;
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bytes_past_the_end_count() {
        assert_eq!(growth(100, 0, 50), 0, "an overwrite in place");
        assert_eq!(growth(100, 80, 50), 30, "a write across the end");
        assert_eq!(growth(100, 200, 10), 110, "a write past the end makes a hole that counts");
        assert_eq!(growth(0, 0, u64::MAX), u64::MAX);
    }

    #[test]
    fn the_budget_refuses_what_would_pass_the_limit_and_remembers_it() {
        let budget = DiskBudget::new(100);
        assert!(budget.charge(60).is_ok());
        assert!(budget.charge(40).is_ok());
        let refused = budget.charge(1).expect_err("past the limit");
        assert_eq!(refused.raw_os_error(), Some(rustix::io::Errno::NOSPC.raw_os_error()));
        assert_eq!(budget.exceeded(), Some(101));
        assert!(budget.charge(0).is_ok(), "nothing more is taken once refused");
    }
}
