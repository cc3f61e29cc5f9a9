//! Writing the checkout. Through `wasi:filesystem` directly in the component: one `open-at` and
//! one `write` per file, where `std::fs::write` goes through an output stream and costs several
//! host calls more (the checkout of 5,000 files was most of a clone's time). Plain `std::fs`
//! elsewhere (host unit tests).

use std::io;
use std::path::Path;

/// The workspace directory, for writes relative to it.
pub struct Workspace {
    #[cfg(target_os = "wasi")]
    dir: wasip2::filesystem::types::Descriptor,
}

/// A path relative to the workspace, as `wasi:filesystem` takes it (no leading `./`).
#[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
fn relative(path: &Path) -> String {
    path.strip_prefix(".").unwrap_or(path).to_string_lossy().into_owned()
}

#[cfg(target_os = "wasi")]
fn error(code: wasip2::filesystem::types::ErrorCode) -> io::Error {
    use wasip2::filesystem::types::ErrorCode;
    let kind = match code {
        ErrorCode::Exist => io::ErrorKind::AlreadyExists,
        ErrorCode::NoEntry => io::ErrorKind::NotFound,
        ErrorCode::Access | ErrorCode::NotPermitted => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{code:?}"))
}

#[cfg(target_os = "wasi")]
impl Workspace {
    /// The preopened workspace (`.`).
    pub fn open() -> io::Result<Workspace> {
        let dirs = wasip2::filesystem::preopens::get_directories();
        let index = dirs
            .iter()
            .position(|(_, name)| name == ".")
            .ok_or_else(|| io::Error::other("the workspace is not preopened as `.`"))?;
        let (dir, _) = dirs.into_iter().nth(index).ok_or_else(|| io::Error::other("no preopen"))?;
        Ok(Workspace { dir })
    }

    pub fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.dir.create_directory_at(&relative(path)).map_err(error)
    }

    /// Create a new file (never through an existing file or symlink) with `data`.
    pub fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        use wasip2::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
        let file = self
            .dir
            .open_at(
                PathFlags::empty(),
                &relative(path),
                OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
                DescriptorFlags::WRITE,
            )
            .map_err(error)?;
        let mut written = 0usize;
        while written < data.len() {
            let end = data.len().min(written + (16 << 20));
            let n = file.write(&data[written..end], written as u64).map_err(error)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "the host wrote nothing"));
            }
            written += n as usize;
        }
        Ok(())
    }

    pub fn symlink(&self, target: &str, path: &Path) -> io::Result<()> {
        self.dir.symlink_at(target, &relative(path)).map_err(error)
    }

    /// Make a file just written executable (`chmod +x`), through the host's `workspace` interface.
    pub fn set_executable(&self, path: &Path) -> io::Result<()> {
        sluice_plugin::workspace::set_executable(Path::new(&relative(path)), true)
    }
}

#[cfg(not(target_os = "wasi"))]
impl Workspace {
    pub fn open() -> io::Result<Workspace> {
        Ok(Workspace {})
    }

    pub fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    pub fn write_new(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        std::fs::OpenOptions::new().write(true).create_new(true).open(path)?.write_all(data)
    }

    pub fn symlink(&self, _target: &str, _path: &Path) -> io::Result<()> {
        Err(io::Error::other("symlinks are only written by the wasm component"))
    }

    pub fn set_executable(&self, path: &Path) -> io::Result<()> {
        sluice_plugin::workspace::set_executable(path, true)
    }
}
