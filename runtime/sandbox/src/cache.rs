//! On-disk cache of compiled components, keyed by the component's sha256 and the engine's
//! compatibility hash, so a second process start loads native code instead of compiling.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::LoadError;

/// Where a loaded component's native code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompiledFrom {
    /// Compiled in this process (and written to the cache, when there is one).
    Compiled,
    /// Read from the on-disk cache.
    DiskCache,
}

/// A directory of `<sha256>-<engine hash>.cwasm` files.
#[derive(Debug, Clone)]
pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_hash: String,
}

impl ComponentCache {
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Self, LoadError> {
        std::fs::create_dir_all(dir).map_err(|e| LoadError::Cache {
            path: dir.display().to_string(),
            message: format!("cannot create the directory: {e}"),
        })?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ComponentCache { dir: dir.to_path_buf(), engine_hash: format!("{:016x}", hasher.finish()) })
    }

    fn entry(&self, sha256_hex: &str) -> PathBuf {
        self.dir.join(format!("{sha256_hex}-{}.cwasm", self.engine_hash))
    }

    /// Loads the compiled component from disk, or compiles it and stores the result.
    /// A corrupt or incompatible entry is recompiled and replaced, never trusted.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256_hex: &str,
    ) -> Result<(Component, CompiledFrom), LoadError> {
        let path = self.entry(sha256_hex);
        // Read into memory rather than mapping the file: a mapped file that someone truncates
        // or rewrites in place would crash the process (SIGBUS) the next time code runs.
        if let Ok(bytes) = std::fs::read(&path) {
            // SAFETY: the file is one this process family wrote under its own data directory,
            // named by the component's digest and the engine's compatibility hash; wasmtime
            // additionally checks the engine compatibility header before using it.
            #[allow(unsafe_code)]
            let loaded = unsafe { Component::deserialize(engine, &bytes) };
            match loaded {
                Ok(component) => return Ok((component, CompiledFrom::DiskCache)),
                Err(err) => {
                    tracing::warn!(path = %path.display(), "discarding unusable cached component: {err}")
                }
            }
        }
        let component = compile(engine, wasm)?;
        if let Err(err) = self.store(&path, &component) {
            // The cache is an optimisation: a read-only or full disk must not fail the load.
            tracing::warn!(path = %path.display(), "could not write the component cache: {err}");
        }
        Ok((component, CompiledFrom::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        // Write beside the final name and rename, so a concurrent reader or a crash never sees
        // half a file.
        let mut tmp = tempfile_in(&self.dir)?;
        tmp.1.write_all(&bytes)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, path)
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let path = dir.join(format!(".tmp-{}-{nanos}", std::process::id()));
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    Ok((path, file))
}

/// Compiles without touching the cache.
pub(crate) fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, LoadError> {
    Component::from_binary(engine, wasm).map_err(|e| LoadError::InvalidComponent(format!("{e:#}")))
}
