//! `sluice broker`: the embedded Kafka-compatible broker alone, so pipeline
//! and API processes can come and go (and be killed) while it keeps the topic.

use clap::Args;

use super::args::{BrokerArgs, shutdown_signal};
use crate::broker::{BrokerConfig, TopicSpec};

#[derive(Debug, Args)]
pub struct BrokerCommand {
    #[command(flatten)]
    broker: BrokerArgs,
    /// Partitions of the `events` topic when it is created.
    #[arg(long, default_value_t = crate::broker::DEFAULT_TOPIC_PARTITIONS)]
    partitions: i32,
}

impl BrokerCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let runtime = super::runtime()?;
        runtime.block_on(async {
            let config = BrokerConfig::new(&self.broker.data)
                .with_listen(self.broker.broker_listen)
                .with_topics(vec![TopicSpec::new(
                    crate::broker::DEFAULT_TOPIC,
                    self.partitions,
                )]);
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
