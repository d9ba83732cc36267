//! The catalog as Hive DDL, so Trino, Spark or Hive read the same lake:
//! per table a `CREATE EXTERNAL TABLE ... PARTITIONED BY ... STORED AS
//! PARQUET LOCATION ...` and a `MSCK REPAIR TABLE` that finds its `date=`
//! partitions. Views are left out: their SQL is DataFusion's dialect.

use std::fmt::Write;

use super::{QueryEngine, QueryError};

/// The DDL for every table in the lake. `location_root` replaces the lake's
/// URL in `LOCATION` (the lake as the other engine sees it, e.g.
/// `hdfs://namenode:8020/lake` or `s3a://bucket/lake`).
pub async fn hive_ddl(
    engine: &QueryEngine,
    location_root: Option<&str>,
) -> Result<String, QueryError> {
    let lake_url = engine.lake().url();
    let mut out = String::new();
    writeln!(
        out,
        "-- Hive DDL for the sluice lake at {lake_url}.\n\
         -- Run in Hive, Spark SQL or Trino's Hive connector; rerun MSCK REPAIR TABLE\n\
         -- (or CALL system.sync_partition_metadata in Trino) to pick up new days."
    )
    .expect("writing to a String");
    for table in engine.tables().await? {
        let Some(location) = &table.location else {
            continue;
        };
        let location = match location_root {
            Some(root) => location.replacen(&lake_url, root.trim_end_matches('/'), 1),
            None => location.clone(),
        };
        let (partitions, columns): (Vec<_>, Vec<_>) =
            table.columns.iter().partition(|c| !c.comment.is_empty());
        let list = |columns: &[&super::catalog::ColumnInfo], indent: &str| -> String {
            columns
                .iter()
                .map(|c| format!("{indent}`{}` {}", c.name, c.ty))
                .collect::<Vec<_>>()
                .join(if indent.is_empty() { ", " } else { ",\n" })
        };
        let name = &table.name;
        writeln!(
            out,
            "\n-- {name}: {kind}, {files} file{s}\n\
             CREATE EXTERNAL TABLE IF NOT EXISTS `{name}` (\n{columns}\n)\n\
             PARTITIONED BY ({partitions})\n\
             STORED AS PARQUET\n\
             LOCATION '{location}';\n\
             MSCK REPAIR TABLE `{name}`;",
            kind = table.kind,
            files = table.file_count,
            s = if table.file_count == 1 { "" } else { "s" },
            columns = list(&columns, "  "),
            partitions = list(&partitions, ""),
            location = location.replace('\'', "''"),
        )
        .expect("writing to a String");
    }
    Ok(out)
}
