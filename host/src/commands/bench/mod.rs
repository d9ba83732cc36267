//! `sluice bench ...`: benchmarks that print figures. They belong in a
//! release build (`cargo run --release -- bench ...`), never in tests.

mod api;
mod events;
mod pipeline;
mod plugins;
mod query;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::commands::plugin::build_plugins;

/// The plugins workspace of the checkout this binary was built from.
const CHECKOUT_PLUGINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins");

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Events per second through example plugins and chains, per batch size.
    Plugins(plugins::PluginsArgs),
    /// Events per second through the default pipelines: from memory, the
    /// embedded broker's ceiling, and end to end.
    Pipeline(pipeline::PipelineArgs),
    /// Requests per second and latency of the game API with Kafka acks on, under wrk and ab.
    Api(api::ApiArgs),
    /// The reference's Presto queries over a lake of 10M events, in sluice and in DuckDB.
    Query(query::QueryArgs),
}

impl BenchCommand {
    pub fn run(self) -> anyhow::Result<()> {
        if cfg!(debug_assertions) {
            eprintln!(
                "warning: this is a debug build; figures mean little. Use `cargo run --release -- bench ...`."
            );
        }
        match self {
            BenchCommand::Plugins(args) => args.run(),
            BenchCommand::Pipeline(args) => args.run(),
            BenchCommand::Api(args) => args.run(),
            BenchCommand::Query(args) => args.run(),
        }
    }
}

/// The folder of example plugins a benchmark loads: `given`, or else the
/// checkout's plugins, built (in release) first.
fn plugins_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    let built = build_plugins(Path::new(CHECKOUT_PLUGINS))?;
    built
        .first()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .context("the plugins build produced nothing")
}
