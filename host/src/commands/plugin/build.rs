//! `sluice plugin build`: cargo, for the wasm32-wasip2 target, in release.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plugin crate or workspace (a folder with a Cargo.toml).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Copy the built .wasm files into this folder (e.g. ./data/plugins).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl BuildArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let built = build_plugins(&self.path)?;
        for wasm in built {
            let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
            let shown = match &self.out {
                Some(out) => {
                    std::fs::create_dir_all(out)
                        .with_context(|| format!("cannot create `{}`", out.display()))?;
                    let dest = out.join(wasm.file_name().expect("a built file has a name"));
                    std::fs::copy(&wasm, &dest).with_context(|| {
                        format!("cannot copy `{}` to `{}`", wasm.display(), dest.display())
                    })?;
                    dest
                }
                None => wasm,
            };
            println!("built {} ({} KiB)", shown.display(), size.div_ceil(1024));
        }
        Ok(())
    }
}

/// Adds the wasm32-wasip2 target through rustup when it is missing, so the
/// first `sluice serve` or `sluice plugin build` on a fresh machine works.
/// Without rustup, cargo's own error says what is missing.
fn ensure_wasm_target() {
    let Ok(installed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return;
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|t| t.trim() == "wasm32-wasip2")
    {
        return;
    }
    eprintln!("adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)...");
    let _ = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status();
}

/// Builds every cdylib of the crate or workspace at `path` for
/// wasm32-wasip2 in release, and returns the .wasm files, as cargo reports them.
pub(crate) fn build_plugins(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let manifest = path.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "no Cargo.toml in `{}`; pass the plugin's folder",
            path.display()
        );
    }
    ensure_wasm_target();
    let mut child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot run cargo; is Rust installed (https://rustup.rs)?")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut built = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        for file in msg["filenames"].as_array().into_iter().flatten() {
            if let Some(f) = file.as_str().filter(|f| f.ends_with(".wasm")) {
                built.push(PathBuf::from(f));
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!(
            "cargo could not build `{}` (if it says the target is missing: `rustup target add wasm32-wasip2`)",
            path.display()
        );
    }
    if built.is_empty() {
        bail!(
            "`{}` built no .wasm: a plugin crate needs `crate-type = [\"cdylib\"]` under [lib]",
            path.display()
        );
    }
    built.sort();
    built.dedup();
    Ok(built)
}
