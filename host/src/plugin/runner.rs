//! Running one plugin over a batch: the call under its CPU deadline, the
//! checks on what comes back, and the isolation of events that make a
//! plugin trap. A trapped store cannot be entered again, so every retry runs
//! on a fresh instance, and the batch is retried in halves until only the
//! events that trap are left: one poison event costs one dead letter.
//!
//! What a plugin returns is capped per input event and per call (the
//! events over a cap are dead letters, with the reason), and its log lines
//! per batch: the halving retries share the batch's budget, so a poison
//! event cannot multiply a chatty plugin's lines.

use std::ops::Range;
use std::time::{Duration, Instant};

use serde::de::IgnoredAny;

use super::batch::EventBatch;
use super::bindings::{Outcome, Output};
use super::guest_log::truncate;
use super::loaded::{Instance, Plugin};
use super::sandbox::MAX_LOG_LINES_PER_BATCH;
use super::trap;

/// The smallest share of the batch's CPU deadline a retried part gets: an
/// event that is merely slow must not time out just because it was isolated.
const MIN_PART_SHARE: u64 = 10;
/// Longest failure reason a plugin may give.
const MAX_REASON_BYTES: usize = 1000;

/// What a plugin decided for one input event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
    /// Into the plugin's table with this index.
    Route(u32),
    /// Replaced by `count` new events starting at `first` in [`NewEvents`].
    Replace {
        first: u32,
        count: u32,
    },
    Fail(String),
}

/// New events a plugin returned, checked: each is a JSON object within the
/// size limit, with a valid table index.
#[derive(Debug, Default)]
pub struct NewEvents {
    data: Vec<u8>,
    ends: Vec<u32>,
    tables: Vec<Option<u32>>,
}

impl NewEvents {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn event(&self, j: usize) -> &[u8] {
        let start = if j == 0 { 0 } else { self.ends[j - 1] as usize };
        &self.data[start..self.ends[j] as usize]
    }

    /// The table index the plugin chose for new event `j`, if any.
    pub fn table(&self, j: usize) -> Option<u32> {
        self.tables[j]
    }

    fn push(&mut self, json: &[u8], table: Option<u32>) {
        self.data.extend_from_slice(json);
        self.ends.push(self.data.len() as u32);
        self.tables.push(table);
    }
}

/// The outcome of running one plugin over one batch.
#[derive(Debug, Default)]
pub struct RunResult {
    /// One per input event, in order.
    pub verdicts: Vec<Verdict>,
    pub new_events: NewEvents,
}

/// Running totals for one plugin in one chain.
#[derive(Debug, Clone, Default)]
pub struct PluginStats {
    pub batches: u64,
    pub events_in: u64,
    pub kept: u64,
    pub dropped: u64,
    pub routed: u64,
    pub replaced: u64,
    /// New events produced by `replace` outcomes.
    pub events_out: u64,
    pub failed: u64,
    pub traps: u64,
    pub instantiations: u64,
    /// Log lines (the `log` import, stdout, stderr) passed to the host's
    /// log, and those dropped over the per-batch budget.
    pub log_lines: u64,
    pub log_lines_dropped: u64,
    pub busy: Duration,
}

impl PluginStats {
    fn count(&mut self, verdicts: &[Verdict]) {
        for v in verdicts {
            match v {
                Verdict::Keep => self.kept += 1,
                Verdict::Drop => self.dropped += 1,
                Verdict::Route(_) => self.routed += 1,
                Verdict::Replace { count, .. } => {
                    self.replaced += 1;
                    self.events_out += u64::from(*count);
                }
                Verdict::Fail(_) => self.failed += 1,
            }
        }
    }
}

/// One plugin with its current instance.
pub struct PluginRunner {
    plugin: Plugin,
    instance: Option<Instance>,
    stats: PluginStats,
    /// Log lines of the current batch so far, over all its calls.
    batch_log_lines: u32,
}

impl PluginRunner {
    pub fn new(plugin: Plugin) -> PluginRunner {
        PluginRunner {
            plugin,
            instance: None,
            stats: PluginStats::default(),
            batch_log_lines: 0,
        }
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    pub fn stats(&self) -> &PluginStats {
        &self.stats
    }

    /// Runs the plugin over `batch`. Never fails as a whole: traps and broken
    /// output become `Verdict::Fail` for the events concerned.
    pub fn run(&mut self, batch: &EventBatch) -> RunResult {
        let started = Instant::now();
        let mut out = RunResult {
            verdicts: Vec::with_capacity(batch.len()),
            new_events: NewEvents::default(),
        };
        self.batch_log_lines = 0;
        if !batch.is_empty() {
            let ticks = self.plugin.engine().limits.deadline_ticks();
            self.run_part(batch, 0..batch.len(), ticks, &mut out);
        }
        let lines = self.batch_log_lines;
        self.stats.log_lines += u64::from(lines.min(MAX_LOG_LINES_PER_BATCH));
        if lines > MAX_LOG_LINES_PER_BATCH {
            let dropped = lines - MAX_LOG_LINES_PER_BATCH;
            self.stats.log_lines_dropped += u64::from(dropped);
            tracing::warn!(
                plugin = %self.plugin.name(),
                lines,
                dropped,
                "Plugin logged too much in one batch; lines dropped."
            );
        }
        debug_assert_eq!(out.verdicts.len(), batch.len());
        self.stats.batches += 1;
        self.stats.events_in += batch.len() as u64;
        self.stats.count(&out.verdicts);
        self.stats.busy += started.elapsed();
        out
    }

    fn run_part(
        &mut self,
        whole: &EventBatch,
        range: Range<usize>,
        full_ticks: u64,
        out: &mut RunResult,
    ) {
        let owned;
        let part = if range.len() == whole.len() {
            whole
        } else {
            owned = whole.slice(range.clone());
            &owned
        };
        // A part gets its share of the batch's deadline (at least a tenth),
        // so isolating a looping event costs about three deadlines, not one
        // per halving.
        let ticks = (full_ticks * range.len() as u64)
            .div_ceil(whole.len() as u64)
            .max(full_ticks.div_ceil(MIN_PART_SHARE));
        match self.call(part, ticks) {
            Ok(output) => self.accept(part.len(), output, out),
            Err(reason) if range.len() == 1 => out.verdicts.push(Verdict::Fail(reason)),
            Err(_) => {
                let mid = range.start + range.len() / 2;
                self.run_part(whole, range.start..mid, full_ticks, out);
                self.run_part(whole, mid..range.end, full_ticks, out);
            }
        }
    }

    fn call(&mut self, batch: &EventBatch, ticks: u64) -> Result<Output, String> {
        let instance = match self.instance.as_mut() {
            Some(instance) => instance,
            None => {
                self.stats.instantiations += 1;
                self.instance.insert(self.plugin.instantiate()?)
            }
        };
        instance
            .handles
            .prepare(batch.event_time_ms(), batch.seed());
        // The batch's log budget carries over from call to call.
        instance.store.data_mut().log_lines = self.batch_log_lines;
        instance.store.set_epoch_deadline(ticks);
        let called = instance
            .bindings
            .call_process(&mut instance.store, &batch.inner);
        self.batch_log_lines = instance.store.data().log_lines;
        match called {
            Ok(output) => {
                forward_guest_output(&self.plugin, instance, &mut self.batch_log_lines);
                Ok(output)
            }
            Err(e) => {
                let stderr = instance.handles.stderr.take();
                let reason = trap::reason(&e, &stderr, &self.plugin.engine().limits);
                tracing::debug!(plugin = %self.plugin.name(), events = batch.len(), %reason, "Plugin trapped; retrying on a fresh instance.");
                self.instance = None;
                self.stats.traps += 1;
                Err(reason)
            }
        }
    }

    /// Checks a plugin's output for `n` events and appends it to `out`.
    fn accept(&self, n: usize, output: Output, out: &mut RunResult) {
        if let Err(reason) = check_shape(n, &output) {
            let reason = format!("plugin broke the contract: {reason}");
            out.verdicts
                .extend(std::iter::repeat_n(Verdict::Fail(reason), n));
            return;
        }
        let limits = self.plugin.engine().limits;
        let tables = self.plugin.tables().len();
        // New events taken from this call so far, against the per-call cap.
        let mut taken = 0usize;
        let new_event = |j: usize| {
            let start = if j == 0 {
                0
            } else {
                output.ends[j - 1] as usize
            };
            &output.data[start..output.ends[j] as usize]
        };
        let mut next = 0usize;
        for outcome in output.outcomes {
            let verdict = match outcome {
                Outcome::Keep => Verdict::Keep,
                Outcome::Drop | Outcome::Replace(0) => Verdict::Drop,
                Outcome::Route(t) if (t as usize) < tables => Verdict::Route(t),
                Outcome::Route(t) => Verdict::Fail(format!(
                    "routed to table index {t}, but describe() lists {tables} tables"
                )),
                Outcome::Fail(reason) => {
                    Verdict::Fail(truncate(&reason, MAX_REASON_BYTES).to_string())
                }
                Outcome::Replace(count) => {
                    let group = next..next + count as usize;
                    next = group.end;
                    let problem = if count > limits.max_events_per_event {
                        Some(format!(
                            "plugin returned {count} events for one event, over the limit of {}",
                            limits.max_events_per_event
                        ))
                    } else if taken + count as usize > limits.max_events_per_call {
                        Some(format!(
                            "plugin returned more than {} new events in one call of {n} events; \
                             this event's {count} are over the limit",
                            limits.max_events_per_call
                        ))
                    } else {
                        group.clone().find_map(|j| {
                            check_new_event(
                                new_event(j),
                                output.tables[j],
                                tables,
                                limits.max_event_bytes,
                            )
                        })
                    };
                    match problem {
                        Some(reason) => Verdict::Fail(reason),
                        None => {
                            taken += count as usize;
                            let first = out.new_events.len() as u32;
                            for j in group {
                                out.new_events.push(new_event(j), output.tables[j]);
                            }
                            Verdict::Replace { first, count }
                        }
                    }
                }
            };
            out.verdicts.push(verdict);
        }
    }
}

/// The output's buffers must be consistent before any event is taken from it.
fn check_shape(n: usize, output: &Output) -> Result<(), String> {
    if output.outcomes.len() != n {
        return Err(format!(
            "returned {} outcomes for {n} events",
            output.outcomes.len()
        ));
    }
    if output.ends.len() != output.tables.len() {
        return Err(format!(
            "returned {} new events but {} table choices",
            output.ends.len(),
            output.tables.len()
        ));
    }
    let mut prev = 0u32;
    for &end in &output.ends {
        if end < prev || end as usize > output.data.len() {
            return Err("returned new-event offsets that are out of order or past the data".into());
        }
        prev = end;
    }
    let replaced: u64 = output
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Replace(c) => u64::from(*c),
            _ => 0,
        })
        .sum();
    if replaced != output.ends.len() as u64 {
        return Err(format!(
            "its replace outcomes announce {replaced} new events but it returned {}",
            output.ends.len()
        ));
    }
    Ok(())
}

fn check_new_event(
    json: &[u8],
    table: Option<u32>,
    tables: usize,
    max_bytes: usize,
) -> Option<String> {
    if json.len() > max_bytes {
        return Some(format!(
            "plugin returned an event of {} bytes, over the {max_bytes}-byte limit",
            json.len()
        ));
    }
    if let Some(t) = table.filter(|t| *t as usize >= tables) {
        return Some(format!(
            "routed a new event to table index {t}, but describe() lists {tables} tables"
        ));
    }
    check_json_object(json)
        .err()
        .map(|why| format!("plugin returned an event that is {why}"))
}

/// The one check that an event is a JSON object, as every event entering a
/// table must be. The error reads after "the event is ...".
pub fn check_json_object(json: &[u8]) -> Result<(), String> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        _ => {
            let start = String::from_utf8_lossy(&json[..json.len().min(40)]).into_owned();
            return Err(format!("not a JSON object: `{start}`"));
        }
    }
    match serde_json::from_slice::<IgnoredAny>(json) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// A plugin's stdout and stderr lines go to the host log at debug level,
/// within what is left of the batch's log budget (`lines` so far).
fn forward_guest_output(plugin: &Plugin, instance: &mut Instance, lines: &mut u32) {
    let name = &**plugin.name();
    for (stream, buf) in [
        ("stdout", instance.handles.stdout.take()),
        ("stderr", instance.handles.stderr.take()),
    ] {
        if buf.is_empty() {
            continue;
        }
        for line in String::from_utf8_lossy(&buf).lines() {
            *lines = lines.saturating_add(1);
            if *lines <= MAX_LOG_LINES_PER_BATCH {
                tracing::debug!(plugin = name, stream, "{line}");
            }
        }
    }
}
