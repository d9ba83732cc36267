//! `sluice broker`: the embedded Kafka-compatible broker alone, so pipeline
//! and API processes can come and go (and be killed) while it keeps the topic.

use std::path::PathBuf;

use clap::Args;

use super::args::{BrokerArgs, shutdown_signal};
use crate::broker::StorageEngine;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct BrokerCommand {
    #[command(flatten)]
    broker: BrokerArgs,
    /// A config file whose `[broker]` table sets the log's defaults (flags win).
    #[arg(long, short, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Partitions of the `events` topic when it is created.
    #[arg(long, default_value_t = crate::broker::DEFAULT_TOPIC_PARTITIONS)]
    partitions: i32,
    /// The storage engine: `log` (the segment files), or `tansu-memory`,
    /// the benchmarks' no-disk ceiling (built with `--features bench-ceiling`).
    #[arg(long, hide = true, value_enum, default_value_t = Engine::Log)]
    engine: Engine,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Engine {
    Log,
    TansuMemory,
}

impl BrokerCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let file = match &self.config {
            Some(path) => Config::load(path)?.broker,
            None => Config::default().broker,
        };
        let mut config = self.broker.broker_config(&file, self.partitions)?;
        config.engine = match self.engine {
            Engine::Log => StorageEngine::Log,
            Engine::TansuMemory => StorageEngine::TansuMemory,
        };
        let runtime = super::runtime()?;
        runtime.block_on(async {
            let broker = crate::broker::start(config).await?;
            println!(
                "sluice broker listening on {} (log: {})",
                broker.bootstrap_servers(),
                broker.log_dir().display()
            );
            shutdown_signal().await;
            broker.shutdown().await?;
            Ok(())
        })
    }
}
