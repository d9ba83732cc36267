//! The lake: tables as Delta tables of Parquet files on local disk or HDFS,
//! written exactly once.
//!
//! Arrow batches enter through a [`LakeWriter`], with the Kafka partition and
//! offset of every row; they leave as files in Hive-style folders
//! (`<table>/date=YYYY-MM-DD/part-….parquet`, `_dead_letters/pipeline=<name>/…`)
//! that a commit to the table's Delta log (`<table>/_delta_log/`) adds,
//! together with each Kafka partition's progress. Delta readers (deltalake,
//! Spark, Trino, DuckDB's `delta_scan`) see a flush all at once or not at
//! all. The writer tells the caller which offsets are durable; on start it
//! reads how far each table got from the log.
//!
//! - `layout.rs`: the naming rules and progress app ids;
//! - `store.rs`: [`Lake`], the storage behind a URL (`file://`, `hdfs://`);
//! - `table_log.rs`: [`TableLog`], one table's Delta log through delta-rs
//!   (files, history, schema changes, maintenance);
//! - `append_log.rs`: [`AppendLog`], the writer's appends through the Delta
//!   kernel, at a cost that does not grow with the table;
//! - `stats.rs`: a file's statistics for the log;
//! - `maintain.rs`: compaction, vacuum and log cleanup;
//! - `convert.rs`: a lake of an earlier sluice made Delta in place;
//! - `writer.rs`: [`LakeWriter`], buffering, rolling and committing files;
//! - `encode.rs`: Parquet encoding on a pool of threads, off the writer's;
//! - `retry.rs`: [`Retry`], backoff for transient storage errors;
//! - `error.rs`: [`LakeError`].

mod append_log;
mod convert;
mod encode;
mod error;
mod layout;
mod log_store;
mod maintain;
mod retry;
mod stats;
mod store;
mod table_log;
mod writer;

pub use append_log::AppendLog;
pub use convert::{Converted, convert_lake, unconverted};
pub use error::LakeError;
pub use layout::{DEAD_LETTERS_DIR, PartName, TableDir, app_id};
pub use maintain::{CompactPolicy, Compacted, clean_log, compact_table, vacuum_table};
pub use retry::{Retry, Transient};
pub use store::{Lake, LakeFile, SCHEMA_KEY};
pub use table_log::{Commit, LogFile, TableLog};
pub use writer::{Durable, LakeWriter, RollPolicy, Rows};

/// Log filter directives for delta-rs and its kernel: their own lines are
/// for their developers (an ERROR for every table not created yet, a WARN
/// for every commit that raced another pipeline's). What matters reaches
/// sluice's log as a `LakeError` or a line of the writer's own.
pub const DELTA_LOG_DIRECTIVES: &str =
    "deltalake_core=error,buoyant_kernel=off,buoyant_kernel_engine=error";

#[cfg(test)]
mod tests;
