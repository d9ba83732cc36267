//! `sluice plugin check FILE.wasm [--events FILE.jsonl]`: loads a plugin the
//! way the pipeline does, prints what it describes, and runs it over events,
//! printing what it kept, dropped, split, routed and rejected.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;

use crate::plugin::{
    EventBatch, EventMeta, Plugin, PluginEngine, PluginRunner, SandboxLimits, Verdict,
};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin, a .wasm component.
    plugin: PathBuf,
    /// Events to run it over, one JSON object per line.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Events per call into the plugin.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Examples to print for each kind of outcome.
    #[arg(long, default_value_t = 3)]
    show: usize,
}

impl CheckArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let engine = PluginEngine::new(SandboxLimits::default())?;
        let plugin = Plugin::load_file(&engine, &self.plugin)?;
        let size = std::fs::metadata(&self.plugin)
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "plugin  {} {}  ({}, {} KiB, hash {})",
            plugin.name(),
            plugin.version(),
            self.plugin.display(),
            size.div_ceil(1024),
            plugin.content_hash()
        );
        if plugin.tables().is_empty() {
            println!("tables  none: events go to the pipeline's default table");
        }
        for t in plugin.tables() {
            println!("table   {}: {}", t.name, t.schema);
        }
        let Some(events_path) = &self.events else {
            return Ok(());
        };
        let (batch, lines, bad) = read_events(events_path)?;
        println!(
            "events  {} from {}{}",
            batch.len(),
            events_path.display(),
            if bad.is_empty() {
                String::new()
            } else {
                format!(" ({} lines skipped: not JSON objects)", bad.len())
            }
        );
        for (line, why) in bad.iter().take(self.show) {
            println!("  skipped line {line}: {why}");
        }
        let mut runner = PluginRunner::new(plugin.clone());
        let mut report = Report::default();
        let mut offset = 0;
        while offset < batch.len() {
            let end = (offset + self.batch_size.max(1)).min(batch.len());
            let part = batch_slice(&batch, offset..end);
            let result = runner.run(&part);
            for (i, v) in result.verdicts.iter().enumerate() {
                let line = lines[offset + i];
                let event = String::from_utf8_lossy(part.event(i));
                match v {
                    Verdict::Keep => report.add("kept", line, event.into_owned()),
                    Verdict::Drop => report.add("dropped", line, event.into_owned()),
                    Verdict::Route(t) => {
                        let table = &plugin.tables()[*t as usize].name;
                        *report.tables.entry(table.to_string()).or_default() += 1;
                        report.add("routed", line, format!("→ {table}: {event}"));
                    }
                    Verdict::Replace { first, count } => {
                        let kind = if *count == 1 { "rewritten" } else { "split" };
                        let outs: Vec<String> = (*first..first + count)
                            .map(|j| {
                                let json =
                                    String::from_utf8_lossy(result.new_events.event(j as usize))
                                        .into_owned();
                                match result.new_events.table(j as usize) {
                                    Some(t) => {
                                        format!("→ {}: {json}", plugin.tables()[t as usize].name)
                                    }
                                    None => json,
                                }
                            })
                            .collect();
                        report.new_events += *count as usize;
                        report.add(kind, line, outs.join("  +  "));
                    }
                    Verdict::Fail(reason) => report.add("rejected", line, reason.clone()),
                }
            }
            offset = end;
        }
        let stats = runner.stats();
        println!(
            "result  kept {} · dropped {} · routed {} · rewritten {} · split {} (into {} new events) · rejected {}",
            report.count("kept"),
            report.count("dropped"),
            report.count("routed"),
            report.count("rewritten"),
            report.count("split"),
            report.new_events,
            report.count("rejected"),
        );
        if !report.tables.is_empty() {
            let per: Vec<String> = report
                .tables
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            println!("routes  {}", per.join(" · "));
        }
        if stats.events_in > 0 {
            println!(
                "time    {:.1} µs per event ({} calls, {} traps)",
                stats.busy.as_secs_f64() * 1e6 / stats.events_in as f64,
                stats.batches,
                stats.traps
            );
        }
        for (kind, examples) in &report.examples {
            for (line, text) in examples.iter().take(self.show) {
                let text: String = text.chars().take(300).collect();
                println!("  {kind:<9} line {line}: {text}");
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Report {
    counts: BTreeMap<&'static str, usize>,
    examples: BTreeMap<&'static str, Vec<(usize, String)>>,
    tables: BTreeMap<String, usize>,
    new_events: usize,
}

impl Report {
    fn add(&mut self, kind: &'static str, line: usize, text: String) {
        *self.counts.entry(kind).or_default() += 1;
        let ex = self.examples.entry(kind).or_default();
        if ex.len() < 10 {
            ex.push((line, text));
        }
    }

    fn count(&self, kind: &str) -> usize {
        self.counts.get(kind).copied().unwrap_or(0)
    }
}

fn batch_slice(batch: &EventBatch, range: std::ops::Range<usize>) -> EventBatch {
    let mut out = EventBatch::new();
    for i in range {
        out.push(batch.event(i), batch.meta(i));
    }
    out
}

/// Reads a JSONL file into a batch. Lines that are not JSON objects are
/// reported, not fatal. Events get offsets from their line numbers and the
/// current time as their timestamp, as if they had just arrived.
/// The events read, the line number of each, and the skipped lines with why.
pub(super) type EventsFile = (EventBatch, Vec<usize>, Vec<(usize, String)>);

pub(super) fn read_events(path: &Path) -> anyhow::Result<EventsFile> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open events file `{}`", path.display()))?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut batch = EventBatch::new();
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line_no = i + 1;
        let line = line.with_context(|| format!("cannot read `{}`", path.display()))?;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if let Err(why) = crate::plugin::check_json_object(text) {
            bad.push((line_no, why));
            continue;
        }
        batch.push(
            text,
            EventMeta {
                partition: 0,
                offset: i as i64,
                timestamp_ms: now_ms,
            },
        );
        lines.push(line_no);
    }
    Ok((batch, lines, bad))
}
