//! Builds the guest plugins (plugins/, its own workspace) for wasm32-wasip2
//! in release, and tells the tests where the .wasm files are through
//! `SLUICE_TEST_PLUGINS`. No .wasm is ever checked in.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let plugins = root.join("plugins");
    for watched in [
        "sdk",
        "sdk-macros",
        "examples",
        "testing",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", plugins.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(plugins.join("Cargo.toml"));
    // The outer build's settings must not leak into the guest build (its own
    // target dir, target and flags), or the two would fight over one lock.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let keep = key == "CARGO_HOME" || key == "CARGO_MAKEFLAGS" || key == "CARGO";
        if (key.starts_with("CARGO_") && !keep)
            || key.starts_with("RUSTC")
            || key.contains("RUSTFLAGS")
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .expect("running cargo to build the guest plugins");
    assert!(
        status.success(),
        "building the guest plugins failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    let out = plugins.join("target/wasm32-wasip2/release");
    println!("cargo:rustc-env=SLUICE_TEST_PLUGINS={}", out.display());
}
