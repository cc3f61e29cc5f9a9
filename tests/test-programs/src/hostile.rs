//! Tasks that misbehave on purpose: the host must contain each and fail only its task.

use std::hint::black_box;

use serde::Deserialize;
use serde_json::json;
use sluice_plugin::log::{Level, log};

use crate::Outcome;
use sluice_plugin::bindings::sluice::plugin::types::TaskError;

/// `spin`: burns CPU forever (epoch interruption must stop it).
pub fn spin() -> Outcome {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// `alloc`: keeps 1 MiB blocks of a nonzero byte, so every page is touched (the memory limit
/// must stop it).
pub fn alloc() -> Outcome {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.push(vec![0xA5; 1 << 20]);
        black_box(&blocks);
    }
}

/// `recurse`: non-tail recursion with tiny frames, so the wasm call stack (the engine's own)
/// overflows first.
pub fn recurse() -> Outcome {
    Ok(json!({ "depth": deeper(0) }))
}

/// Never reached: read at run time so the recursion is not "unconditional" to the compiler.
static LIMIT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(u64::MAX);

// No `black_box` here: it would put values on the stack in linear memory, which must stay
// untouched so that only the engine's call stack grows. The rotate keeps the call non-tail.
#[inline(never)]
fn deeper(depth: u64) -> u64 {
    if depth == LIMIT.load(std::sync::atomic::Ordering::Relaxed) {
        return 0;
    }
    deeper(depth + 1).rotate_left((depth % 63) as u32)
}

/// `recurse-shadow-stack`: recursion with a 1 KiB buffer per frame: Rust keeps such buffers on
/// its stack in linear memory, which runs out before the wasm call stack does.
pub fn recurse_shadow_stack() -> Outcome {
    Ok(json!({ "depth": deeper_with_buffer(0) }))
}

fn deeper_with_buffer(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 1024]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    deeper_with_buffer(depth + 1) + u64::from(frame[(depth % 1024) as usize])
}

/// `trap`: panics, which traps the instance.
pub fn trap() -> Outcome {
    panic!("deliberate trap")
}

#[derive(Deserialize)]
pub struct LogFlood {
    lines: u64,
    #[serde(default = "default_line_size")]
    size: u64,
}

fn default_line_size() -> u64 {
    100
}

/// `log-flood` `{lines, size?}`: `lines` info lines of `size` bytes each; returns `{}`.
pub fn log_flood(config: LogFlood) -> Outcome {
    let size = usize::try_from(config.size).unwrap_or(usize::MAX);
    for n in 0..config.lines {
        let mut line = format!("line {n} ");
        line.truncate(size);
        line.extend(std::iter::repeat_n('x', size.saturating_sub(line.len())));
        log(Level::Info, &line);
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
pub struct BigOutput {
    bytes: u64,
}

/// `big-output` `{bytes}`: `{"data":"xxx…"}` of about `bytes` bytes in total.
pub fn big_output(config: BigOutput) -> Outcome {
    const OVERHEAD: usize = r#"{"data":""}"#.len();
    let bytes = usize::try_from(config.bytes).unwrap_or(usize::MAX);
    Ok(json!({ "data": "x".repeat(bytes.saturating_sub(OVERHEAD)) }))
}

/// What the previous instance left in a `static`, if any.
static LEFT_BEHIND: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Size of the heap block `snoop` reads and then fills.
const SNOOP_WORDS: usize = (2 << 20) / 8;

/// What `snoop` fills its block with: a value no allocator bookkeeping will hold by chance.
const SNOOP_MAGIC: u64 = 0x5EC2_E75E_C2E7_5EC2;

/// `snoop`: looks for a previous run's data, then leaves its own for the next one to find.
/// It reports the string a previous instance stored in a `static`, and how many words of a
/// fresh, uninitialised 2 MiB heap block hold what it writes there (the allocator hands out the
/// same addresses in every instance). The host reuses memory slots between instances, so both
/// must come back empty every time. Then it stores `mark` in the `static` and fills the block.
#[allow(unsafe_code)]
pub fn snoop(config: Snoop) -> Outcome {
    let failed = |e: String| TaskError::Failed(e);
    let previous = LEFT_BEHIND.lock().map_err(|e| failed(e.to_string()))?.replace(config.mark);
    let layout = std::alloc::Layout::array::<u64>(SNOOP_WORDS).map_err(|e| failed(e.to_string()))?;
    // SAFETY: `layout` has a nonzero size and u64 alignment. The block is read before it is
    // written on purpose: in wasm linear memory every byte has a value, and this guest is
    // hostile by design.
    let found = unsafe {
        let block = std::alloc::alloc(layout).cast::<u64>();
        if block.is_null() {
            return Err(failed("out of memory".to_owned()));
        }
        let found =
            (0..SNOOP_WORDS).filter(|&i| std::ptr::read_volatile(block.add(i)) == SNOOP_MAGIC).count();
        for i in 0..SNOOP_WORDS {
            std::ptr::write_volatile(block.add(i), SNOOP_MAGIC);
        }
        // Not freed: the next instance must get fresh memory all the same.
        found
    };
    Ok(json!({ "previous": previous, "leftoverWords": found }))
}

#[derive(Deserialize)]
pub struct Snoop {
    mark: String,
}

#[derive(Deserialize)]
pub struct OpenFiles {
    count: u64,
}

/// `open-files` `{count}`: creates and keeps open up to `count` files in the workspace (the
/// host's handle limit must stop it first); returns `{opened}` if it ever gets there.
pub fn open_files(config: OpenFiles) -> Outcome {
    let mut open = Vec::new();
    for n in 0..config.count {
        match std::fs::File::create(format!("open-{n}")) {
            Ok(file) => open.push(file),
            Err(err) => return Err(TaskError::Failed(format!("file {n}: {err}"))),
        }
    }
    Ok(json!({ "opened": open.len() }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FillDisk {
    /// Bytes to write in all.
    bytes: u64,
    /// `write` (std::fs in 1 MiB chunks), `append` (an append-mode file) or `set-len`.
    how: String,
    /// Whether to swallow a write error and report success anyway.
    #[serde(default)]
    ignore_errors: bool,
}

/// `fill-disk` `{bytes, how, ignoreErrors?}`: grows `fill.bin` by `bytes`; returns
/// `{written, error}` (the error of the first failed write, if any).
pub fn fill_disk(config: FillDisk) -> Outcome {
    use std::io::Write;
    let chunk = vec![0x5A_u8; 1 << 20];
    let mut written: u64 = 0;
    let mut error = None;
    let result = match config.how.as_str() {
        "set-len" => std::fs::File::create("fill.bin").and_then(|f| f.set_len(config.bytes)),
        how => {
            let file = if how == "append" {
                std::fs::OpenOptions::new().create(true).append(true).open("fill.bin")
            } else {
                std::fs::File::create("fill.bin")
            };
            file.and_then(|mut file| {
                while written < config.bytes {
                    let n = usize::try_from(config.bytes - written).unwrap_or(usize::MAX).min(chunk.len());
                    file.write_all(&chunk[..n])?;
                    written += n as u64;
                }
                file.flush()
            })
        }
    };
    if let Err(err) = result {
        error = Some(err.to_string());
        if !config.ignore_errors {
            return Err(TaskError::Failed(format!("after {written} bytes: {err}")));
        }
    }
    Ok(json!({ "written": written, "error": error }))
}
