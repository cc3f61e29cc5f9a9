//! Build-script helper: compile a guest crate of this workspace to a `wasm32-wasip2` component.
//!
//! Guests are built by a nested `cargo build` into `target/guests` (shared by every profile and by
//! `cargo clippy`, so a fresh clone compiles each guest once). Build scripts call
//! [`build_component`] and embed or expose the returned path.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every guest is compiled for.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Compiles `package` (a member of this workspace, a `cdylib`) in release mode and returns the
/// path of the `.wasm` component. Panics with the cargo output on failure: this runs in build
/// scripts, where a panic is how a build fails.
pub fn build_component(package: &str) -> PathBuf {
    let workspace = workspace_root();
    ensure_target_installed(&workspace);
    let target_dir = workspace.join("target").join("guests");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--release", "--locked", "--target", GUEST_TARGET, "--package", package])
        .env("CARGO_TARGET_DIR", &target_dir)
        // Debug info would be 90% of a guest's bytes and slows every compile of it.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    // The outer build's settings are for the host: a clippy wrapper, host rustflags or a
    // profile override must not leak into the guest build.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let output = match cmd.output() {
        Ok(output) => output,
        Err(err) => panic!("could not start cargo to build guest `{package}`: {err}"),
    };
    if !output.status.success() {
        panic!(
            "building guest `{package}` for {GUEST_TARGET} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let artifact =
        target_dir.join(GUEST_TARGET).join("release").join(format!("{}.wasm", package.replace('-', "_")));
    assert!(artifact.exists(), "guest `{package}` built, but {} is missing", artifact.display());
    rerun_if_changed(&workspace);
    artifact
}

/// Rebuild when the guest's sources, the SDK or the WIT change.
fn rerun_if_changed(workspace: &Path) {
    for dir in ["wit", "plugins-sdk", "plugins", "tests/test-programs/src", "examples/plugins"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.lock").display());
}

/// rustup installs the targets of `rust-toolchain.toml` only when it installs the toolchain
/// itself; on a machine that already had the toolchain, add the target here so that a plain
/// `cargo build` works on a fresh clone.
fn ensure_target_installed(workspace: &Path) {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).current_dir(workspace).output();
    let Ok(sysroot) = sysroot else { return };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(GUEST_TARGET).is_dir() {
        return;
    }
    let added = Command::new("rustup").args(["target", "add", GUEST_TARGET]).current_dir(workspace).status();
    if !matches!(added, Ok(status) if status.success()) {
        panic!(
            "the {GUEST_TARGET} target is not installed and `rustup target add {GUEST_TARGET}` failed; install it and build again"
        );
    }
}

fn workspace_root() -> PathBuf {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo");
    let mut dir = PathBuf::from(manifest_dir);
    loop {
        if dir.join("rust-toolchain.toml").exists() && dir.join("wit").is_dir() {
            return dir;
        }
        if !dir.pop() {
            panic!(
                "no workspace root (a directory with rust-toolchain.toml and wit/) above CARGO_MANIFEST_DIR"
            );
        }
    }
}
