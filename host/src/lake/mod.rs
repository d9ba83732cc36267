//! The lake: tables as Parquet files on local disk or HDFS, written exactly
//! once.
//!
//! Arrow batches enter through a [`LakeWriter`], with the Kafka partition and
//! offset of every row; they leave as Hive-style files that Trino, Spark,
//! DuckDB and DataFusion read as they are:
//! `<table>/date=YYYY-MM-DD/part-<topic>-<partition>-<first>-<last>.parquet`,
//! and `_dead_letters/pipeline=<name>/…` for dead letters. The writer tells
//! the caller which offsets are durable; on start, [`Lake::progress`] reads
//! how far each table got from the file names alone.
//!
//! - `layout.rs`: the naming rules;
//! - `store.rs`: [`Lake`], the storage behind a URL (`file://`, `hdfs://`);
//! - `writer.rs`: [`LakeWriter`], buffering, rolling and publishing files;
//! - `retry.rs`: [`Retry`], backoff for transient storage errors;
//! - `error.rs`: [`LakeError`].

mod error;
mod layout;
mod retry;
mod store;
mod writer;

pub use error::LakeError;
pub use layout::{DEAD_LETTERS_DIR, PartName, TableDir};
pub use retry::{Retry, Transient};
pub use store::{Lake, LakeFile, Progress, SCHEMA_KEY};
pub use writer::{Durable, LakeWriter, RollPolicy, Rows};

#[cfg(test)]
mod tests;
