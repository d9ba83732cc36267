//! A plugin chain: the plugins of one pipeline, run in order over a batch.
//! Events a plugin keeps or routes go on unchanged (no copy when every event
//! passes); replaced events go on as the new events; dropped events are
//! counted; failed events are reported as [`PluginFailure`]s naming the
//! original event, which the pipeline keeps as dead letters.
//! The chain also watches for a broken deploy: a plugin that fails most
//! events of several batches in a row stops the chain instead of pouring the
//! stream into dead letters.

use std::sync::Arc;

use super::batch::{EventBatch, EventMeta};
use super::error::ChainError;
use super::loaded::Plugin;
use super::runner::{NewEvents, PluginRunner, PluginStats, RunResult, Verdict};

/// A batch counts against a plugin only if it has at least this many events...
const STRIKE_MIN_EVENTS: usize = 16;
/// ...and more than half of them failed. This many such batches in a row
/// stop the chain.
const STRIKES_TO_STOP: u32 = 3;

/// An event a plugin failed: it trapped, ran out of fuel or memory, or
/// refused the event. The pipeline keeps it as a dead letter
/// (`table::DeadLetter::from_plugin`) with the original event
/// ([`ChainOutput::raw_event`]).
#[derive(Debug, Clone)]
pub struct PluginFailure {
    /// Index of the input event it came from.
    pub source: u32,
    pub meta: EventMeta,
    pub plugin: Arc<str>,
    pub plugin_version: Arc<str>,
    pub reason: String,
}

/// An event that made it through the chain.
#[derive(Debug, Clone)]
pub struct Survivor {
    /// Index of the input event it came from.
    pub source: u32,
    pub meta: EventMeta,
    /// The table a router chose, or `None` for the pipeline's default table.
    pub table: Option<Arc<str>>,
    json: JsonRef,
}

#[derive(Debug, Clone, Copy)]
enum JsonRef {
    /// Event `i` of the last batch the chain built (or of the input).
    Current(u32),
    /// New event `j` from the last plugin.
    New(u32),
}

/// Everything one batch produced. Borrows the input batch: kept events are
/// its own bytes.
#[derive(Debug)]
pub struct ChainOutput<'a> {
    input: &'a EventBatch,
    current: Option<EventBatch>,
    new_events: NewEvents,
    pub survivors: Vec<Survivor>,
    pub failures: Vec<PluginFailure>,
    pub dropped: usize,
}

impl<'a> ChainOutput<'a> {
    /// The JSON of a surviving event.
    pub fn json(&self, s: &Survivor) -> &[u8] {
        match s.json {
            JsonRef::Current(i) => self
                .current
                .as_ref()
                .unwrap_or(self.input)
                .event(i as usize),
            JsonRef::New(j) => self.new_events.event(j as usize),
        }
    }

    /// The original event a plugin failed.
    pub fn raw_event(&self, failure: &PluginFailure) -> &'a [u8] {
        self.input.event(failure.source as usize)
    }

    /// The batch the chain was given, with the original events.
    pub fn input(&self) -> &'a EventBatch {
        self.input
    }
}

struct Stage {
    runner: PluginRunner,
    strikes: u32,
}

/// The plugins of one pipeline, in order.
pub struct PluginChain {
    stages: Vec<Stage>,
}

impl PluginChain {
    pub fn new(plugins: impl IntoIterator<Item = Plugin>) -> PluginChain {
        PluginChain {
            stages: plugins
                .into_iter()
                .map(|p| Stage {
                    runner: PluginRunner::new(p),
                    strikes: 0,
                })
                .collect(),
        }
    }

    pub fn plugins(&self) -> impl Iterator<Item = &Plugin> {
        self.stages.iter().map(|s| s.runner.plugin())
    }

    pub fn stats(&self) -> impl Iterator<Item = (&Plugin, &PluginStats)> {
        self.stages
            .iter()
            .map(|s| (s.runner.plugin(), s.runner.stats()))
    }

    /// Swaps in another version of the plugin at `index`, between batches.
    /// Its failure count starts afresh.
    pub fn replace(&mut self, index: usize, plugin: Plugin) {
        self.stages[index] = Stage {
            runner: PluginRunner::new(plugin),
            strikes: 0,
        };
    }

    /// Runs every plugin over the batch. Fails only when a plugin looks
    /// broken (see [`ChainError::PluginFailing`]); the caller must then not
    /// commit the batch.
    pub fn process<'a>(&mut self, input: &'a EventBatch) -> Result<ChainOutput<'a>, ChainError> {
        let n = input.len();
        let mut current: Option<EventBatch> = None;
        let mut sources: Vec<u32> = (0..n as u32).collect();
        let mut tables: Vec<Option<Arc<str>>> = vec![None; n];
        let mut out = ChainOutput {
            input,
            current: None,
            new_events: NewEvents::default(),
            survivors: Vec::new(),
            failures: Vec::new(),
            dropped: 0,
        };
        let last = self.stages.len().checked_sub(1);
        let mut finished = false;
        for (k, stage) in self.stages.iter_mut().enumerate() {
            let cur = current.as_ref().unwrap_or(input);
            if cur.is_empty() {
                finished = true;
                break;
            }
            let result = stage.runner.run(cur);
            stage.judge(cur.len(), &result)?;
            let plugin = stage.runner.plugin();
            if Some(k) == last {
                collect_survivors(plugin, cur, input, &sources, &tables, result, &mut out);
                finished = true;
                break;
            }
            if result
                .verdicts
                .iter()
                .all(|v| matches!(v, Verdict::Keep | Verdict::Route(_)))
            {
                for (i, v) in result.verdicts.iter().enumerate() {
                    if let Verdict::Route(t) = v {
                        tables[i] = Some(plugin.tables()[*t as usize].name.clone());
                    }
                }
                continue;
            }
            let mut next = EventBatch::with_capacity(cur.len(), cur.bytes());
            let mut next_sources = Vec::with_capacity(cur.len());
            let mut next_tables = Vec::with_capacity(cur.len());
            for (i, v) in result.verdicts.into_iter().enumerate() {
                match v {
                    Verdict::Keep | Verdict::Route(_) => {
                        cur.copy_event_to(i, &mut next);
                        next_sources.push(sources[i]);
                        next_tables.push(match v {
                            Verdict::Route(t) => Some(plugin.tables()[t as usize].name.clone()),
                            _ => tables[i].clone(),
                        });
                    }
                    Verdict::Replace { first, count } => {
                        for j in first..first + count {
                            let json = result.new_events.event(j as usize);
                            next.push_with_headers(json, cur.meta(i), cur.headers(i));
                            next_sources.push(sources[i]);
                            next_tables.push(table_of(
                                plugin,
                                result.new_events.table(j as usize),
                                &tables[i],
                            ));
                        }
                    }
                    Verdict::Drop => out.dropped += 1,
                    Verdict::Fail(reason) => out
                        .failures
                        .push(failure(plugin, input, sources[i], reason)),
                }
            }
            current = Some(next);
            sources = next_sources;
            tables = next_tables;
        }
        if !finished {
            // No plugins: every event goes on unchanged.
            let cur = current.as_ref().unwrap_or(input);
            out.survivors = (0..cur.len())
                .map(|i| Survivor {
                    source: sources[i],
                    meta: cur.meta(i),
                    table: tables[i].clone(),
                    json: JsonRef::Current(i as u32),
                })
                .collect();
        }
        out.current = current;
        Ok(out)
    }
}

impl Stage {
    fn judge(&mut self, events: usize, result: &RunResult) -> Result<(), ChainError> {
        if events < STRIKE_MIN_EVENTS {
            return Ok(());
        }
        let failed = result
            .verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::Fail(_)))
            .count();
        if failed * 2 <= events {
            self.strikes = 0;
            return Ok(());
        }
        self.strikes += 1;
        if self.strikes < STRIKES_TO_STOP {
            return Ok(());
        }
        let plugin = self.runner.plugin();
        let last_reason = result
            .verdicts
            .iter()
            .rev()
            .find_map(|v| match v {
                Verdict::Fail(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_default();
        tracing::error!(plugin = %plugin.name(), version = %plugin.version(), failed, events, %last_reason, "Plugin is failing; pipeline paused.");
        Err(ChainError::PluginFailing {
            plugin: plugin.name().to_string(),
            version: plugin.version().to_string(),
            failed,
            events,
            batches: self.strikes,
            last_reason,
        })
    }
}

fn collect_survivors(
    plugin: &Plugin,
    cur: &EventBatch,
    input: &EventBatch,
    sources: &[u32],
    tables: &[Option<Arc<str>>],
    result: RunResult,
    out: &mut ChainOutput<'_>,
) {
    out.survivors.reserve(cur.len());
    for (i, v) in result.verdicts.into_iter().enumerate() {
        let survivor = |json, table| Survivor {
            source: sources[i],
            meta: cur.meta(i),
            table,
            json,
        };
        match v {
            Verdict::Keep => out
                .survivors
                .push(survivor(JsonRef::Current(i as u32), tables[i].clone())),
            Verdict::Route(t) => out.survivors.push(survivor(
                JsonRef::Current(i as u32),
                Some(plugin.tables()[t as usize].name.clone()),
            )),
            Verdict::Replace { first, count } => {
                for j in first..first + count {
                    let table = table_of(plugin, result.new_events.table(j as usize), &tables[i]);
                    out.survivors.push(survivor(JsonRef::New(j), table));
                }
            }
            Verdict::Drop => out.dropped += 1,
            Verdict::Fail(reason) => out
                .failures
                .push(failure(plugin, input, sources[i], reason)),
        }
    }
    out.new_events = result.new_events;
}

fn table_of(plugin: &Plugin, chosen: Option<u32>, so_far: &Option<Arc<str>>) -> Option<Arc<str>> {
    match chosen {
        Some(t) => Some(plugin.tables()[t as usize].name.clone()),
        None => so_far.clone(),
    }
}

fn failure(plugin: &Plugin, input: &EventBatch, source: u32, reason: String) -> PluginFailure {
    PluginFailure {
        source,
        meta: input.meta(source as usize),
        plugin: plugin.name().clone(),
        plugin_version: plugin.version().clone(),
        reason,
    }
}
