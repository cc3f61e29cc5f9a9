//! The first-party plugin components, compiled from `plugins/` at build time and embedded in the
//! `sluice` binary so that `cargo run` needs no extra step.

/// A plugin component shipped inside the binary.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPlugin {
    /// The plugin's name, the prefix of its task types.
    pub name: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

/// `core`: log, http, fail, assert.
pub const CORE: BuiltinPlugin =
    BuiltinPlugin { name: "core", wasm: include_bytes!(env!("SLUICE_PLUGIN_CORE_WASM")) };

/// Every first-party plugin.
pub const ALL: &[BuiltinPlugin] = &[CORE];
