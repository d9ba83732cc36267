//! `sluice plugin ...`: the plugin author's commands.

mod build;
mod check;
mod diff;
mod new;
mod push;

pub(crate) use build::build_plugins;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a new plugin crate that builds as it is.
    New(new::NewArgs),
    /// Build the plugins of a crate or workspace to .wasm components.
    Build(build::BuildArgs),
    /// Load a plugin, print what it describes, and run it over events.
    Check(check::CheckArgs),
    /// Run two versions of a plugin over the same events and report what changes.
    Diff(diff::DiffArgs),
    /// Send a plugin to a running sluice, which validates it and swaps it in.
    Push(push::PushArgs),
}

impl PluginCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            PluginCommand::New(args) => args.run(),
            PluginCommand::Build(args) => args.run(),
            PluginCommand::Check(args) => args.run(),
            PluginCommand::Diff(args) => args.run(),
            PluginCommand::Push(args) => args.run(),
        }
    }
}
