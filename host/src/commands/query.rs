//! `sluice query`: the SQL endpoint alone (`POST /query`, `GET /tables`)
//! over a lake, for a machine of its own; `sluice serve` runs the same
//! routes on its port. Also what `sluice sql --lake` and `sluice ddl` open.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::args::{ConfigArgs, shutdown_signal};
use crate::config::Config;
use crate::http::{AdminToken, AppState, router, serve};
use crate::lake::{Lake, Retry};
use crate::query::{QueryEngine, QueryLimits};

/// The query limits, overriding the config file's `[query]`.
#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// A query's time limit, e.g. `30s` or `2m`.
    #[arg(long, env = "SLUICE_QUERY_TIMEOUT", value_parser = humantime::parse_duration)]
    pub query_timeout: Option<Duration>,
    /// Rows a query returns; more are cut and flagged `truncated`.
    #[arg(long, env = "SLUICE_QUERY_MAX_ROWS")]
    pub query_max_rows: Option<usize>,
    /// The memory pool all queries share, in MiB.
    #[arg(long, env = "SLUICE_QUERY_MEMORY")]
    pub query_memory: Option<usize>,
    /// Bytes one answer, or one batch of `repeat`, `lpad`, `range` and the
    /// other functions that grow their output, may take, in MiB.
    #[arg(long, env = "SLUICE_QUERY_MAX_OUTPUT")]
    pub query_max_output: Option<usize>,
}

impl QueryArgs {
    pub fn limits(&self, config: &Config) -> QueryLimits {
        let q = &config.query;
        QueryLimits {
            timeout: self
                .query_timeout
                .unwrap_or(Duration::from_secs_f64(q.timeout_seconds)),
            max_rows: self.query_max_rows.unwrap_or(q.max_rows),
            memory_bytes: self.query_memory.unwrap_or(q.memory_mib) << 20,
            concurrent: q.concurrent,
            threads: q.threads,
            max_output_bytes: self.query_max_output.unwrap_or(q.max_output_mib) << 20,
        }
    }

    /// Opens the config's lake to read it (waiting for an unreachable
    /// HDFS) and the engine over it.
    pub async fn open(&self, config: &Config) -> anyhow::Result<QueryEngine> {
        let url = config.lake.url.clone();
        let lake = Retry::default()
            .run("open the lake", || Lake::open_to_read(&url))
            .await?;
        QueryEngine::new(lake, config.views.clone(), self.limits(config))
    }
}

#[derive(Debug, Args)]
pub struct QueryCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// Where the endpoint listens.
    #[arg(long, env = "SLUICE_QUERY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The data directory holding `admin-token` (made if missing).
    #[arg(long, env = "SLUICE_DATA", default_value = "./data")]
    data: PathBuf,
    #[command(flatten)]
    limits: QueryArgs,
}

impl QueryCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let config = self.config.load()?;
        super::runtime()?.block_on(async {
            let engine = self.limits.open(&config).await?;
            let (token, source) = AdminToken::resolve(&self.data)?;
            let listener = tokio::net::TcpListener::bind(self.listen)
                .await
                .with_context(|| format!("cannot listen on {}; pass --listen", self.listen))?;
            println!("lake      {}", engine.lake().url());
            println!("token     {source}");
            println!(
                "http      http://{}/ (POST /query, GET /tables, /metrics)",
                listener.local_addr()?
            );
            println!(
                "console   {} (asks for the admin token)",
                crate::http::console::url(listener.local_addr()?, None)
            );
            serve(
                listener,
                router(AppState::new().with_query(engine, token)),
                shutdown_signal(),
            )
            .await?;
            Ok(())
        })
    }
}
