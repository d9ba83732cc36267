//! `sluice bench ...`: benchmarks that print figures. They belong in a
//! release build (`cargo run --release -- bench ...`), never in tests.

mod api;
mod events;
mod plugins;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Events per second through example plugins and chains, per batch size.
    Plugins(plugins::PluginsArgs),
    /// Requests per second and latency of the game API with Kafka acks on, under wrk and ab.
    Api(api::ApiArgs),
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
            BenchCommand::Api(args) => args.run(),
        }
    }
}
