//! `sluice serve`: everything in one process — the embedded broker (unless
//! `--brokers` or the config file's `[source] brokers` names a Kafka), the
//! pipelines over a local lake, and the HTTP
//! port with the game API. The README's main command.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use clap::Args;

use super::api::{ApiArgs, serve_until_stopped};
use super::args::{BrokerArgs, ConfigArgs, shutdown_or_exit};
use super::query::QueryArgs;
use crate::config::Config;
use crate::service::start_pipelines;

/// The plugins workspace of the checkout this binary was built from.
const CHECKOUT_PLUGINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins");

#[derive(Debug, Args)]
pub struct ServeCommand {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    broker: BrokerArgs,
    /// The HTTP port: game API, /events, /query, /metrics, /console.
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    query: QueryArgs,
}

impl ServeCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let mut config = self.config.load()?;
        let runtime = super::runtime()?;
        let handle = runtime.handle().clone();
        runtime.block_on(async {
            let broker = if !self.config.names_brokers()? {
                let broker = crate::broker::start(
                    self.broker
                        .broker_config(&config.broker, crate::broker::DEFAULT_TOPIC_PARTITIONS)?,
                )
                .await?;
                config.source.brokers = broker.bootstrap_servers();
                println!(
                    "broker    {} (log: {})",
                    broker.bootstrap_servers(),
                    broker.log_dir().display()
                );
                Some(broker)
            } else {
                println!("broker    {} (external)", config.source.brokers);
                None
            };
            ensure_example_plugins(&config)?;
            let running = start_pipelines(&config, handle).await?;
            let topic = config
                .source
                .topics
                .first()
                .cloned()
                .unwrap_or_else(|| crate::broker::DEFAULT_TOPIC.to_string());
            let api = self
                .api
                .start(&config.source.brokers, &topic, &self.broker.data)
                .await?;
            let engine = self.query.open(&config).await?;
            let (token, _) = crate::http::AdminToken::resolve(&self.broker.data)?;
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .with_context(|| format!("cannot listen on {}; pass --listen", self.listen))?;
            println!("lake      {}", config.lake.url);
            println!("plugins   {}", config.plugin_dir.display());
            println!(
                "http      http://{}/ (game API, POST /query, /plugins, /metrics)",
                listener.local_addr()?
            );
            println!(
                "console   {}",
                crate::http::console::url(listener.local_addr()?, Some(&token))
            );
            serve_until_stopped(
                listener,
                api,
                Some((engine, token)),
                Some(running.plugins().clone()),
                shutdown_or_exit(running.exited()),
            )
            .await?;
            tokio::task::spawn_blocking(move || running.stop()).await??;
            if let Some(broker) = broker {
                broker.shutdown().await?;
            }
            Ok(())
        })
    }
}

/// The default pipelines use the example plugins: build them from this
/// checkout into the plugin folder the first time.
fn ensure_example_plugins(config: &Config) -> anyhow::Result<()> {
    let missing: Vec<_> = config
        .pipelines
        .iter()
        .flat_map(|p| p.plugins.iter())
        .filter(|name| !config.plugin_path(name).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let checkout = Path::new(CHECKOUT_PLUGINS);
    if !checkout.join("Cargo.toml").exists() {
        anyhow::bail!(
            "plugins {missing:?} are not in `{}`; build them with `sluice plugin build --out {}`",
            config.plugin_dir.display(),
            config.plugin_dir.display()
        );
    }
    println!(
        "building the example plugins into {} (first run only)...",
        config.plugin_dir.display()
    );
    std::fs::create_dir_all(&config.plugin_dir)
        .with_context(|| format!("cannot create `{}`", config.plugin_dir.display()))?;
    // The workspace also builds the test plugins (`hostile`, ...): only the
    // examples belong in a user's plugin folder.
    let examples = checkout.join("examples");
    for wasm in super::plugin::build_plugins(checkout)? {
        let is_example = wasm
            .file_stem()
            .is_some_and(|name| examples.join(name).is_dir());
        if !is_example {
            continue;
        }
        let dest = config
            .plugin_dir
            .join(wasm.file_name().expect("a built file has a name"));
        std::fs::copy(&wasm, &dest)
            .with_context(|| format!("cannot copy to `{}`", dest.display()))?;
    }
    Ok(())
}
