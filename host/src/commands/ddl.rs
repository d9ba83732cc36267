//! `sluice ddl`: the statements that register every Delta table of the
//! lake in Trino and Spark SQL, for when one machine is not enough.

use clap::Args;

use super::args::ConfigArgs;
use super::query::QueryArgs;
use crate::query::{TrinoTarget, delta_ddl};

#[derive(Debug, Args)]
pub struct DdlCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// The lake's root as the other engine sees it, replacing the lake's
    /// URL in the locations (e.g. `hdfs://namenode:8020/lake`).
    #[arg(long)]
    location: Option<String>,
    /// Trino's Delta Lake catalog.
    #[arg(long, default_value = "delta")]
    trino_catalog: String,
    /// The Trino schema the tables go into.
    #[arg(long, default_value = "default")]
    trino_schema: String,
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
            let trino = TrinoTarget {
                catalog: self.trino_catalog.clone(),
                schema: self.trino_schema.clone(),
            };
            print!(
                "{}",
                delta_ddl(&engine, self.location.as_deref(), &trino).await?
            );
            Ok(())
        })
    }
}
