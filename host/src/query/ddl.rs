//! The catalog as the statements that register the lake's Delta tables in
//! other engines: Trino's Delta Lake connector (`system.register_table`)
//! and Spark SQL with delta-spark (`CREATE TABLE … USING DELTA LOCATION`).
//! Both read the table's Delta log, so they see exactly the committed
//! files. Views are left out: their SQL is DataFusion's dialect.

use std::fmt::Write;

use super::{QueryEngine, QueryError};

/// Where the statements register the tables in Trino.
#[derive(Debug, Clone)]
pub struct TrinoTarget {
    /// The Delta Lake connector's catalog, e.g. `delta`.
    pub catalog: String,
    pub schema: String,
}

impl Default for TrinoTarget {
    fn default() -> Self {
        TrinoTarget {
            catalog: "delta".to_string(),
            schema: "default".to_string(),
        }
    }
}

/// The statements for every table in the lake. `location_root` replaces the
/// lake's URL in the locations (the lake as the other engine sees it, e.g.
/// `hdfs://namenode:8020/lake` or `s3a://bucket/lake`).
pub async fn delta_ddl(
    engine: &QueryEngine,
    location_root: Option<&str>,
    trino: &TrinoTarget,
) -> Result<String, QueryError> {
    let lake_url = engine.lake().url();
    let mut out = String::new();
    let tables: Vec<_> = engine
        .tables()
        .await?
        .into_iter()
        .filter_map(|t| t.location.clone().map(|l| (t, l)))
        .map(|(t, location)| {
            let location = match location_root {
                Some(root) => location.replacen(&lake_url, root.trim_end_matches('/'), 1),
                None => location,
            };
            (t, location.replace('\'', "''"))
        })
        .collect();
    writeln!(
        out,
        "-- The Delta tables of the sluice lake at {lake_url}.\n\
         -- Engines read them through their Delta Lake support, which reads each table's\n\
         -- _delta_log. Hive reads Delta tables only through such a connector: a plain\n\
         -- Parquet table over a table's folder would also read files no version names,\n\
         -- and the small files compaction replaced.\n\
         \n\
         -- Trino, Delta Lake connector (catalog `{catalog}`):",
        catalog = trino.catalog
    )
    .expect("writing to a String");
    for (table, location) in &tables {
        writeln!(
            out,
            "CALL {catalog}.system.register_table(schema_name => '{schema}', table_name => '{name}', table_location => '{location}');",
            catalog = trino.catalog,
            schema = trino.schema,
            name = table.name,
        )
        .expect("writing to a String");
    }
    writeln!(out, "\n-- Spark SQL with delta-spark:").expect("writing to a String");
    for (table, location) in &tables {
        writeln!(
            out,
            "CREATE TABLE IF NOT EXISTS `{name}` USING DELTA LOCATION '{location}';",
            name = table.name,
        )
        .expect("writing to a String");
    }
    Ok(out)
}
