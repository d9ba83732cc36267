//! sluice: a WebAssembly-plugin stream processor for game telemetry.
//!
//! Each folder is one part of the pipeline, in the order events flow:
//! - [`broker`]: the embedded Kafka-compatible broker (tansu);
//! - [`source`]: the Kafka consumer feeding pipelines;
//! - [`pipeline`]: batches through plugin chains into tables, exactly once;
//! - [`plugin`]: the sandboxed plugin runtime and plugin chains;
//! - [`hot`]: plugins replaced while events flow (watched folder, uploads, rollback);
//! - [`schema`]: Hive-style table schemas;
//! - [`table`]: JSON events into Arrow rows of a table;
//! - [`lake`]: Delta tables (Parquet files and their log) on local disk or HDFS;
//! - [`api`]: the game API (reference routes, `POST /events`, live tail);
//! - [`http`]: the HTTP port (`/metrics` and the game API);
//! - [`query`]: SQL over the lake (DataFusion);
//! - [`report`]: the analytics report, HTML with SVG charts;
//! - [`service`]: a process's pipelines, source, lake upkeep and hot loading, put together;
//! - [`config`]: the configuration file and its defaults;
//! - [`telemetry`]: the name of every metric sluice records;
//! - [`commands`]: the `sluice` command line.

pub mod api;
pub mod broker;
pub mod commands;
pub mod config;
#[cfg(test)]
mod fuzzing;
pub mod hot;
pub mod http;
pub mod lake;
pub mod pipeline;
pub mod plugin;
pub mod query;
pub mod report;
pub mod schema;
pub mod service;
pub mod source;
pub mod table;
pub mod telemetry;
