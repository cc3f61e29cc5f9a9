//! Compiles the guest test programs and exposes their paths to host tests.

fn main() {
    let path = sluice_guest_build::build_component("test-programs");
    println!("cargo:rustc-env=TEST_PROGRAMS_WASM={}", path.display());
}
