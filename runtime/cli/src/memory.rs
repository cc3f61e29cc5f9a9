//! What a long-running process keeps resident after startup.
//!
//! glibc: by default glibc gives each thread that allocates its own arena and keeps what is
//! freed there: loading and checking the plugins on several threads at startup left about
//! 40 MiB resident in an idle server that nothing used again.
//!
//! The binary: startup leaves ~20 MiB of the executable's own pages mapped, most of which
//! serving never reads again (see [`unmap_executable_pages`]).

/// Fewer arenas: call first thing in `main`, before any other thread exists.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `mallopt` only changes allocator parameters; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns to the OS what startup used and serving does not need: call once, after startup,
/// before serving.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` is thread-safe and only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    unmap_executable_pages();
}

/// Drops this process's page mappings of the executable's read-only segments (code, constants,
/// relocation tables, the embedded plugin components).
///
/// Why: at this point ~20 MiB of them are mapped (measured on `sluice server`). The dynamic
/// loader read all 2.2 MB of relocations; the 2.6 MB of embedded components were read once to
/// hash them; startup ran code that serving does not run again (migrations, deserializing and
/// linking the components, `describe`); and the kernel maps the 64 KiB around each page touched
/// (fault-around), so ~4 MiB of code actually used maps ~14 MiB of the 28 MB text.
/// `MADV_RANDOM` on the text does not prevent that: on Linux 6.18 it changed nothing for an
/// executable mapping, warm or cold page cache. Dropping the pages took the idle server from
/// 37 to 23 MiB resident, and from ~40 to 32-34 MiB once it has run executions.
///
/// Cost: none to correctness. The pages are clean copies of the file (the writable segments,
/// with the relocated RELRO data, are left alone; the binary has no text relocations, which lld
/// refuses by default), so `MADV_DONTNEED` only removes page-table entries: the page cache keeps
/// the pages, and what serving touches comes back with a minor fault, once (about a hundred
/// more faults, under 1 ms, over the first requests; latency under load is unchanged).
/// Breakpoints or uprobes placed in the code before this call are lost.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[allow(unsafe_code)]
fn unmap_executable_pages() {
    /// Called for each loaded object, the executable first; returning 1 stops after it.
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        _data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: glibc passes a valid `dl_phdr_info` whose `dlpi_phdr` points at `dlpi_phnum`
        // program headers, valid for the duration of the callback.
        let (base, headers) = unsafe {
            let info = &*info;
            (
                info.dlpi_addr as usize,
                std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)),
            )
        };
        // SAFETY: `sysconf` has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        for header in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0) {
            // Whole pages inside the segment only, so no other segment's page is touched.
            let start = (base + header.p_vaddr as usize).next_multiple_of(page);
            let end = (base + (header.p_vaddr + header.p_filesz) as usize) / page * page;
            if end > start {
                // SAFETY: the range lies inside a read-only, file-backed, private mapping of the
                // executable whose pages are unmodified: dropping them changes no content.
                unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
            }
        }
        1
    }
    // SAFETY: `each` reads the headers only while glibc holds them valid.
    unsafe {
        libc::dl_iterate_phdr(Some(each), std::ptr::null_mut());
    }
}
