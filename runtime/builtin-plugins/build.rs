//! Compiles the first-party plugins so that the `sluice` binary embeds them.

fn main() {
    let core = sluice_guest_build::build_component("sluice-plugin-core");
    println!("cargo:rustc-env=SLUICE_PLUGIN_CORE_WASM={}", core.display());
}
