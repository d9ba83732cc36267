//! The `sluice` command line: a clap-derive enum of subcommands, one file
//! (or folder) per command. `main.rs` only calls [`main`].

mod bench;
mod plugin;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// sluice: a WebAssembly-plugin stream processor for game telemetry.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write, build and check event plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Measure sluice on this machine (build with --release).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Parses the command line, runs the command and prints any error with its
/// causes on one line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Plugin(cmd) => cmd.run(),
        Command::Bench(cmd) => cmd.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
