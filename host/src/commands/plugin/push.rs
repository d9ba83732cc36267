//! `sluice plugin push FILE.wasm [--url URL]`: uploads a plugin to a
//! running `sluice serve` or `sluice pipeline` (`PUT /plugins/<name>`),
//! which validates it (compile, contract, tables, a dry run on recent
//! events) and swaps it in between two batches, or refuses it and says why.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::super::args::ServerArgs;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The plugin, a .wasm component.
    plugin: PathBuf,
    /// The name to load it as (what configs call it); default: the file's name without `.wasm`.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

impl PushArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let token = self.server.token()?;
        let name = match &self.name {
            Some(n) => n.clone(),
            None => self
                .plugin
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .context("the plugin path has no file name; pass --name")?,
        };
        let bytes = std::fs::read(&self.plugin)
            .with_context(|| format!("cannot read `{}`", self.plugin.display()))?;
        let url = self.server.endpoint(&format!("/plugins/{name}"));
        let (status, body) = super::super::runtime()?.block_on(async {
            let response = reqwest::Client::new()
                .put(&url)
                .bearer_auth(token.as_str())
                .body(bytes)
                .send()
                .await
                .with_context(|| {
                    format!("cannot reach {url}; is `sluice serve` or `sluice pipeline` running? (--url)")
                })?;
            let status = response.status();
            anyhow::Ok((status, response.text().await.unwrap_or_default()))
        })?;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if !status.is_success() {
            let why = json["error"].as_str().unwrap_or(body.trim());
            anyhow::bail!("{url}: {status}: {why}");
        }
        let pipelines: Vec<&str> = json["pipelines"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p.as_str()).collect())
            .unwrap_or_default();
        if json["unchanged"].as_bool() == Some(true) {
            println!(
                "{name}: {} {} (#{}) is already running",
                json["plugin"].as_str().unwrap_or("?"),
                json["version"].as_str().unwrap_or("?"),
                json["hash"].as_str().unwrap_or("?")
            );
            return Ok(());
        }
        println!(
            "{name}: {} {} (#{}) accepted; pipelines swapping it in: {}",
            json["plugin"].as_str().unwrap_or("?"),
            json["version"].as_str().unwrap_or("?"),
            json["hash"].as_str().unwrap_or("?"),
            if pipelines.is_empty() {
                "none".to_string()
            } else {
                pipelines.join(", ")
            }
        );
        match json["dry_run"]["counts"].as_object() {
            Some(counts) => {
                let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!(
                    "dry run on {} recent events: {}",
                    json["dry_run"]["events"],
                    summary.join(" · ")
                );
            }
            None => println!("dry run: no recent events to try it on"),
        }
        Ok(())
    }
}
