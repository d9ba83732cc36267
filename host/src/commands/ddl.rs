//! `sluice ddl`: Hive DDL for every table in the lake, so Trino, Spark or
//! Hive can read it when one machine is not enough.

use clap::Args;

use super::args::ConfigArgs;
use super::query::QueryArgs;
use crate::query::hive_ddl;

#[derive(Debug, Args)]
pub struct DdlCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// The lake's root as the other engine sees it, replacing the lake's
    /// URL in LOCATION (e.g. `hdfs://namenode:8020/lake`).
    #[arg(long)]
    location: Option<String>,
}

impl DdlCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let config = self.config.load()?;
        let args = QueryArgs {
            query_timeout: None,
            query_max_rows: None,
            query_memory: None,
            query_max_output: None,
        };
        super::runtime()?.block_on(async {
            let engine = args.open(&config).await?;
            print!("{}", hive_ddl(&engine, self.location.as_deref()).await?);
            Ok(())
        })
    }
}
