//! `sluice plugin new NAME`: scaffolds a plugin crate that builds as it is.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

/// The SDK of the checkout this binary was built from.
const CHECKOUT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/sdk");

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name, lower snake case (e.g. `is_big_purchase`).
    name: String,
    /// The folder to create it in (default: ./NAME).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Path to the sluice-sdk crate (default: the sluice checkout this binary came from).
    #[arg(long, env = "SLUICE_SDK")]
    sdk: Option<PathBuf>,
}

impl NewArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let name = self.name;
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            bail!("plugin name `{name}` must be lower snake case, like `is_purchase`");
        }
        let dir = self.dir.unwrap_or_else(|| PathBuf::from(&name));
        if dir.exists() {
            bail!(
                "`{}` already exists; pick another name or --dir",
                dir.display()
            );
        }
        let sdk = self.sdk.unwrap_or_else(|| PathBuf::from(CHECKOUT_SDK));
        let sdk = sdk.canonicalize().with_context(|| {
            format!(
                "cannot find the sluice SDK at `{}`; pass --sdk PATH/TO/sluice/plugins/sdk",
                sdk.display()
            )
        })?;
        write(&dir.join("Cargo.toml"), &cargo_toml(&name, &sdk))?;
        write(&dir.join(".cargo/config.toml"), CARGO_CONFIG)?;
        write(&dir.join(".gitignore"), "/target\n")?;
        write(&dir.join("src/lib.rs"), &lib_rs(&name))?;
        println!("created plugin `{name}` in {}", dir.display());
        println!("  build it:  sluice plugin build {}", dir.display());
        println!("  test it:   (cd {} && cargo test-native)", dir.display());
        println!(
            "  check it:  sluice plugin check {}/target/wasm32-wasip2/release/{name}.wasm --events events.jsonl",
            dir.display()
        );
        Ok(())
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    let sdk = sdk.display().to_string().replace('\\', "/");
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
sluice-sdk = {{ path = "{sdk}" }}

# A plugin is its own workspace, built for wasm32-wasip2 (see .cargo/config.toml).
[workspace]

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
"#
    )
}

const CARGO_CONFIG: &str = r#"[build]
target = "wasm32-wasip2"

[alias]
# Unit tests run natively: `cargo test-native`.
test-native = "test --target x86_64-unknown-linux-gnu"
"#;

fn lib_rs(name: &str) -> String {
    format!(
        r##"//! `{name}`: a sluice filter plugin. Keep an event by returning `true`.

use sluice_sdk::{{Event, filter}};

#[filter]
fn {name}(e: &Event) -> bool {{
    e.event_type() == Some("purchase_sword")
}}

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn keeps_sword_purchases_only() {{
        let sword = Event::from_json(r#"{{"event_type": "purchase_sword", "Host": "user1.comcast.com"}}"#).unwrap();
        let guild = Event::from_json(r#"{{"event_type": "join_guild"}}"#).unwrap();
        assert!({name}(&sword));
        assert!(!{name}(&guild));
    }}
}}
"##
    )
}
