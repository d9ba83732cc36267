//! The `sluice` command line: a clap-derive enum of subcommands, one file
//! (or folder) per command. `main.rs` only calls [`main`].

mod api;
mod args;
#[cfg(feature = "bench")]
mod bench;
mod broker;
mod ddl;
mod lake;
mod load;
mod pipeline;
mod plugin;
mod query;
mod report;
mod serve;
mod sql;
mod tail;

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
    /// Run everything in one process: embedded broker, pipelines, lake, HTTP.
    Serve(Box<serve::ServeCommand>),
    /// Run the game API alone, logging events to a Kafka it connects to.
    Api(api::ApiCommand),
    /// Run the embedded Kafka-compatible broker alone.
    Broker(broker::BrokerCommand),
    /// Consume Kafka and run the configured pipelines into the lake.
    Pipeline(pipeline::PipelineCommand),
    /// Play the game with N simulated players at a target rate; report latencies and errors.
    Load(load::LoadCommand),
    /// Print the topic's events as they arrive (like `kafkacat -C`).
    Tail(tail::TailCommand),
    /// Serve SQL over the lake alone (POST /query, GET /tables).
    Query(query::QueryCommand),
    /// Ask SQL of a running sluice or a lake; an interactive prompt without a statement.
    Sql(sql::SqlCommand),
    /// Print the statements that register every table in Trino and Spark.
    Ddl(ddl::DdlCommand),
    /// The lake's Delta tables: `sluice lake convert` turns an older lake into them.
    #[command(subcommand)]
    Lake(lake::LakeCommand),
    /// Merge a table's small files into large ones, in one atomic commit.
    Compact(lake::CompactCommand),
    /// Delete files no recent version of a table names.
    Vacuum(lake::VacuumCommand),
    /// List a table's commits: when, what, how many rows, which plugin versions.
    History(lake::HistoryCommand),
    /// Write the lake's analytics report: one HTML page with SVG charts.
    Report(report::ReportCommand),
    /// Write, build and check event plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Measure sluice on this machine (build with --release).
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// The runtime for network and lake I/O. Plugins and decoding run on
/// pipeline threads of their own.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("sluice-io")
        .build()?)
}

/// The log filter: `SLUICE_LOG` (tracing's `EnvFilter` syntax), else
/// `info`. The broker's and delta-rs's own chatter stays filtered unless
/// `SLUICE_LOG` names those crates itself.
fn log_filter(setting: Option<String>) -> EnvFilter {
    let base = setting.unwrap_or_else(|| "info".to_string());
    let mut directives = vec![base.clone()];
    if !base.contains("tansu") {
        directives.push(crate::broker::TANSU_LOG_DIRECTIVES.to_string());
    }
    if !base.contains("deltalake") && !base.contains("kernel") {
        directives.push(crate::lake::DELTA_LOG_DIRECTIVES.to_string());
    }
    EnvFilter::try_new(directives.join(",")).unwrap_or_else(|e| {
        eprintln!("warning: SLUICE_LOG=`{base}` is not a log filter ({e}); logging at info");
        EnvFilter::new(format!(
            "info,{},{}",
            crate::broker::TANSU_LOG_DIRECTIVES,
            crate::lake::DELTA_LOG_DIRECTIVES
        ))
    })
}

/// Parses the command line, runs the command and prints any error with its
/// causes on one line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("SLUICE_LOG").ok()))
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve(cmd) => cmd.run(),
        Command::Api(cmd) => cmd.run(),
        Command::Broker(cmd) => cmd.run(),
        Command::Pipeline(cmd) => cmd.run(),
        Command::Load(cmd) => cmd.run(),
        Command::Tail(cmd) => cmd.run(),
        Command::Query(cmd) => cmd.run(),
        Command::Sql(cmd) => cmd.run(),
        Command::Ddl(cmd) => cmd.run(),
        Command::Lake(cmd) => cmd.run(),
        Command::Compact(cmd) => cmd.run(),
        Command::Vacuum(cmd) => cmd.run(),
        Command::History(cmd) => cmd.run(),
        Command::Report(cmd) => cmd.run(),
        Command::Plugin(cmd) => cmd.run(),
        #[cfg(feature = "bench")]
        Command::Bench(cmd) => cmd.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, as `{:#}` prints them, but without
/// a cause that its parent's message already spells out (many errors, ours
/// and our dependencies', put their source into their own message).
fn report(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn an_error_report_does_not_repeat_a_cause_its_parent_already_names() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot reach HDFS: {source}")]
        struct Outer {
            source: std::io::Error,
        }
        let inner = std::io::Error::other("connection refused");
        let e = anyhow::Error::new(Outer { source: inner }).context("cannot open the lake");
        assert_eq!(
            super::report(&e),
            "cannot open the lake: cannot reach HDFS: connection refused"
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
