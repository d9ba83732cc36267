//! `sluice bench plugins`: events per second through `keep_all` (the host's
//! own overhead), `is_purchase`, and the chain `is_purchase` → `munge_event`,
//! at batch sizes 1, 64 and 1024, with the sandbox limits on.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Args;

use super::events::reference_event;
use crate::plugin::{EventBatch, EventMeta, Plugin, PluginChain, PluginEngine, SandboxLimits};

#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// A folder holding keep_all.wasm, is_purchase.wasm and munge_event.wasm
    /// (default: build the checkout's plugins).
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// Events per run at batch sizes 64 and up (batch size 1 runs a tenth).
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Runs per figure; the median is reported with the range.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only scenarios whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

impl PluginsArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let dir = super::plugins_dir(self.plugins)?;
        let engine = PluginEngine::new(SandboxLimits::default())?;
        let load = |name: &str| Plugin::load_file(&engine, &dir.join(format!("{name}.wasm")));
        let keep_all = load("keep_all")?;
        let is_purchase = load("is_purchase")?;
        let munge = load("munge_event")?;
        let scenarios: [(&str, Vec<Plugin>); 4] = [
            ("keep_all (host overhead)", vec![keep_all]),
            ("is_purchase", vec![is_purchase.clone()]),
            ("munge_event (every event)", vec![munge.clone()]),
            ("is_purchase → munge_event", vec![is_purchase, munge]),
        ];
        let mut sample = String::new();
        reference_event(0, &mut sample);
        println!(
            "sluice bench plugins: {} events per run (batch 1: {}), {} runs, median [min–max]; events average {} bytes",
            self.events,
            self.events / 10,
            self.runs,
            average_size(1000)
        );
        println!(
            "{:<28} {:>6} {:>14} {:>10} {:>22}",
            "scenario", "batch", "events/s", "ns/event", "range (events/s)"
        );
        let wanted = scenarios
            .iter()
            .filter(|(name, _)| self.only.as_ref().is_none_or(|o| name.contains(o.as_str())));
        for (name, plugins) in wanted {
            for batch_size in [1usize, 64, 1024] {
                let events = if batch_size == 1 {
                    self.events / 10
                } else {
                    self.events
                };
                let batches = make_batches(events, batch_size);
                let mut chain = PluginChain::new(plugins.iter().cloned());
                // Warm up: instantiate, touch every page once.
                run_once(&mut chain, &batches)?;
                let mut rates: Vec<f64> = (0..self.runs)
                    .map(|_| run_once(&mut chain, &batches).map(|secs| events as f64 / secs))
                    .collect::<anyhow::Result<_>>()?;
                rates.sort_by(f64::total_cmp);
                let median = rates[rates.len() / 2];
                println!(
                    "{:<28} {:>6} {:>14.0} {:>10.0} {:>10.0}–{:<11.0}",
                    name,
                    batch_size,
                    median,
                    1e9 / median,
                    rates[0],
                    rates[rates.len() - 1]
                );
            }
        }
        Ok(())
    }
}

fn average_size(n: u64) -> usize {
    let mut s = String::new();
    (0..n)
        .map(|i| {
            reference_event(i, &mut s);
            s.len()
        })
        .sum::<usize>()
        / n as usize
}

fn make_batches(events: u64, batch_size: usize) -> Vec<EventBatch> {
    let mut batches = Vec::new();
    let mut batch = EventBatch::with_capacity(batch_size, batch_size * 300);
    let mut json = String::new();
    for i in 0..events {
        reference_event(i, &mut json);
        batch.push(
            json.as_bytes(),
            EventMeta {
                partition: (i % 4) as i32,
                offset: i as i64,
                timestamp_ms: 1_764_410_000_000 + i as i64,
            },
        );
        if batch.len() == batch_size {
            batches.push(std::mem::replace(
                &mut batch,
                EventBatch::with_capacity(batch_size, batch_size * 300),
            ));
        }
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

/// Seconds to push every batch through the chain.
fn run_once(chain: &mut PluginChain, batches: &[EventBatch]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut survivors = 0usize;
    for batch in batches {
        let out = chain.process(batch)?;
        survivors += out.survivors.len();
        if !out.failures.is_empty() {
            bail!("benchmark plugin failed: {}", out.failures[0].reason);
        }
    }
    std::hint::black_box(survivors);
    Ok(started.elapsed().as_secs_f64())
}
