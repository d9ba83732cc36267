//! `sluice plugin ...`: the plugin author's commands.

mod build;
mod check;
mod new;

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
}

impl PluginCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            PluginCommand::New(args) => args.run(),
            PluginCommand::Build(args) => args.run(),
            PluginCommand::Check(args) => args.run(),
        }
    }
}
