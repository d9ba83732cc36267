//! `sluice pipeline`: consume Kafka, run the configured pipelines, write the
//! lake. Connects to a broker (default 127.0.0.1:9092); never starts one.
//! Several processes with the same group split the partitions.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::args::{ConfigArgs, shutdown_or_exit};
use crate::http::{AdminToken, AppState, PluginAdmin, router, serve};
use crate::service::start_pipelines;

#[derive(Debug, Args)]
pub struct PipelineCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// Where `/metrics` and `/plugins` are served (port 0 picks a free one).
    #[arg(long, env = "SLUICE_METRICS_LISTEN", default_value = "127.0.0.1:5001")]
    metrics_listen: SocketAddr,
    /// The data directory: the admin token guarding `/plugins` lives in it.
    #[arg(long, env = "SLUICE_DATA", default_value = "./data")]
    data: PathBuf,
}

impl PipelineCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let config = self.config.load()?;
        let runtime = super::runtime()?;
        let handle = runtime.handle().clone();
        runtime.block_on(async {
            let running = start_pipelines(&config, handle).await?;
            let (token, source) = AdminToken::resolve(&self.data)?;
            println!("admin token {source}");
            let state = AppState::new().with_plugins(PluginAdmin {
                registry: running.plugins().clone(),
                token,
            });
            let listener = tokio::net::TcpListener::bind(self.metrics_listen).await?;
            println!(
                "sluice pipeline: {} pipelines from {} into {}; metrics on http://{}/metrics, plugins on /plugins",
                config.pipelines.len(),
                config.source.brokers,
                config.lake.url,
                listener.local_addr()?
            );
            let stopped = shutdown_or_exit(running.exited());
            let http = tokio::spawn(serve(listener, router(state), stopped));
            let _ = http.await;
            tokio::task::spawn_blocking(move || running.stop()).await??;
            Ok(())
        })
    }
}
