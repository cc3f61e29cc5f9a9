//! Paths of the guest test programs, compiled by this crate's build script (wasmtime's pattern).

/// The `test` component from `tests/test-programs`: good tasks and hostile ones.
pub const TEST_PROGRAMS: &str = env!("TEST_PROGRAMS_WASM");

/// Reads [`TEST_PROGRAMS`].
pub fn test_programs_bytes() -> Vec<u8> {
    std::fs::read(TEST_PROGRAMS).unwrap_or_else(|err| panic!("reading {TEST_PROGRAMS}: {err}"))
}

/// The README's example plugin, `examples/plugins/hello-rust`.
pub const HELLO_PLUGIN: &str = env!("HELLO_PLUGIN_WASM");
