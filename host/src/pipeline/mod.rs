//! Pipelines: a plugin chain between the Kafka source and the lake.
//!
//! In: [`Delivery`](crate::source::Delivery)s from the source — batches of
//! events, and partition assignments and revocations between them. Each
//! batch is checked (size, JSON object), run through the pipeline's plugin
//! chain, decoded into the Arrow rows of each surviving event's table, and
//! handed to the lake writer with the Kafka offsets of every row. Out:
//! commits to the tables' Delta logs, dead letters (`_dead_letters`,
//! partition `pipeline=<name>`), metrics, and the offsets this pipeline has
//! made durable, which the source commits.
//!
//! Exactly once: each commit records, per Kafka partition, the last offset
//! it holds; the lake writer reads that back and drops replayed rows. A pipeline whose plugin looks broken stops
//! taking batches (the source then pauses its partitions) until hot loading
//! ([`crate::hot`]) swaps in another version; swaps happen between batches.
//!
//! - `build.rs`: from config to a ready [`Pipeline`] (plugins, tables);
//! - `process.rs`: one batch through chain, tables and writer;
//! - `worker.rs`: the thread that runs a pipeline off its channel;
//! - `hooks.rs`: what a running pipeline shares with hot loading;
//! - `durable.rs`: which offsets are safe to commit;
//! - `maintenance.rs`: compaction and vacuum of the tables written.
//!
//! [`crate::service`] puts pipelines, their source, the lake and hot loading
//! together in a process.

mod build;
mod durable;
mod hooks;
mod maintenance;
mod process;
mod worker;

pub use build::{
    Pipeline, PipelineError, build_pipelines, check_lake_schema, check_lake_schemas,
    check_replacement,
};
pub use hooks::PipelineHooks;
pub use maintenance::Upkeep;
pub use worker::spawn;
