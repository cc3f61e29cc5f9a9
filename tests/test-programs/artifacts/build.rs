//! Compiles the guest test programs and exposes their paths to host tests.

fn main() {
    let path = sluice_guest_build::build_component("test-programs");
    println!("cargo:rustc-env=TEST_PROGRAMS_WASM={}", path.display());
    // The README's example plugin, so the 20 lines it shows are built and run by the tests.
    let hello = sluice_guest_build::build_component("hello-plugin");
    println!("cargo:rustc-env=HELLO_PLUGIN_WASM={}", hello.display());
}
