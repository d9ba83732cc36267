//! `sluice plugin diff OLD.wasm NEW.wasm --events FILE.jsonl`: runs both
//! versions over the same events (read as `sluice plugin check` reads them)
//! and reports, per event, whether the new version keeps the old outcome or
//! drops, rewrites, reroutes, rejects or admits it, with examples. Hot
//! loading runs the same comparison on recent live events before a swap.

use std::path::PathBuf;

use clap::Args;

use super::check::read_events;
use crate::plugin::{Change, Plugin, PluginEngine, SandboxLimits, diff};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The running version, a .wasm component.
    old: PathBuf,
    /// The candidate version.
    new: PathBuf,
    /// Events to run both over, one JSON object per line.
    #[arg(long)]
    events: PathBuf,
    /// Examples to print for each kind of change.
    #[arg(long, default_value_t = 3)]
    show: usize,
}

impl DiffArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let engine = PluginEngine::new(SandboxLimits::default())?;
        let old = Plugin::load_file(&engine, &self.old)?;
        let new = Plugin::load_file(&engine, &self.new)?;
        let (batch, lines, bad) = read_events(&self.events)?;
        let report = diff(&old, &new, &batch, self.show);
        println!("old     {} ({})", report.old, self.old.display());
        println!("new     {} ({})", report.new, self.new.display());
        println!(
            "events  {} from {}{}",
            batch.len(),
            self.events.display(),
            if bad.is_empty() {
                String::new()
            } else {
                format!(" ({} lines skipped: not JSON objects)", bad.len())
            }
        );
        println!("result  {}", report.summary());
        if report.new_traps > 0 {
            println!("traps   the new version trapped {} times", report.new_traps);
        }
        for change in Change::ALL.iter().skip(1) {
            for e in report.examples.iter().filter(|e| e.change == *change) {
                let line = lines[e.index];
                println!("  {:<9} line {line}", change.as_str());
                println!("    old: {}", e.old);
                println!("    new: {}", e.new);
            }
        }
        if let Some(reason) = report.refusal() {
            println!("verdict hot loading would refuse it: {reason}");
        }
        Ok(())
    }
}
