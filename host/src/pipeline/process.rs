//! One batch through a pipeline: entry checks, the plugin chain, decoding
//! into each table's rows, and the lake writer. Every event ends in exactly
//! one place: a table, the dead letters, or the dropped count.

use std::collections::HashMap;
use std::sync::Arc;

use crate::lake::{Durable, Rows, SCHEMA_KEY};
use crate::plugin::{EventBatch, EventMeta};
use crate::source::SourceBatch;
use crate::table::{DeadLetter, Event, dead_letter_batch};

use super::build::{Pipeline, PipelineError};

impl Pipeline {
    /// Processes one batch. On `PipelineError::PluginFailing` nothing of the
    /// batch was written and it may be retried whole.
    pub(super) async fn process(
        &mut self,
        batch: &SourceBatch,
    ) -> Result<Vec<Durable>, PipelineError> {
        let topic: &str = &batch.topic;
        let pipeline = self.name.clone();
        let mut dead: Vec<DeadLetter> = Vec::new();

        // Entry checks, so plugins only see JSON objects of sane size.
        let all = &batch.events;
        let refused = batch.refused(&self.limits);
        for (i, reason) in refused.iter() {
            dead.push(DeadLetter::at_entry(
                &event_at(all.event(*i), all.meta(*i)),
                topic,
                reason.clone(),
            ));
        }
        let filtered;
        let input: &EventBatch = if refused.is_empty() {
            all
        } else {
            let mut keep = EventBatch::with_capacity(all.len(), all.bytes());
            let mut skip = refused.iter().map(|(i, _)| *i).peekable();
            for i in 0..all.len() {
                if skip.peek() == Some(&i) {
                    skip.next();
                    continue;
                }
                all.copy_event_to(i, &mut keep);
            }
            filtered = keep;
            &filtered
        };

        let out = self.chain.process(input)?;

        // Survivors by table; the rest are dropped (counted).
        let mut unrouted = 0u64;
        let mut per_table: HashMap<Arc<str>, Vec<Event<'_>>> = HashMap::new();
        for s in &out.survivors {
            let Some(table) = s.table.clone().or_else(|| self.default_table.clone()) else {
                unrouted += 1;
                continue;
            };
            per_table
                .entry(table)
                .or_default()
                .push(event_at(out.json(s), s.meta));
        }
        for failure in &out.failures {
            dead.push(DeadLetter::from_plugin(
                &event_at(out.raw_event(failure), failure.meta),
                topic,
                &failure.plugin,
                &failure.plugin_version,
                failure.reason.clone(),
            ));
        }

        let lineage = self.lineage();
        let mut durable = Vec::new();
        // Grouped by partition, in order within each: the writer takes each
        // partition's rows as one slice of the batch, not a copy.
        for events in per_table.values_mut() {
            events.sort_by_key(|e| e.partition);
        }
        let mut table_names: Vec<&Arc<str>> = per_table.keys().collect();
        table_names.sort();
        for table in table_names {
            let events = &per_table[table];
            let Some(sink) = self.tables.get_mut(table) else {
                for e in events {
                    dead.push(DeadLetter::unrouted(e, topic, table));
                }
                continue;
            };
            let decoded = sink.decoder.decode(events)?;
            for r in &decoded.rejected {
                dead.push(DeadLetter::rejected(
                    &events[r.index],
                    &r.reason,
                    table,
                    topic,
                ));
            }
            if decoded.batch.num_rows() > 0 {
                let mut metadata = lineage.clone();
                metadata.push((SCHEMA_KEY.into(), sink.schema_text.clone()));
                let rows = Rows {
                    topic,
                    batch: &decoded.batch,
                    partitions: &decoded.partitions,
                    offsets: &decoded.offsets,
                };
                durable.extend(self.writer.append(&sink.dir, rows, &metadata).await?);
                metrics::counter!(crate::telemetry::ROWS, "pipeline" => pipeline.to_string(), "table" => table.to_string())
                    .increment(decoded.batch.num_rows() as u64);
            }
        }

        if !dead.is_empty() {
            dead.sort_by_key(|d| (d.partition, d.offset));
            let rows =
                dead_letter_batch(&dead).map_err(|e| crate::table::TableError::Assemble {
                    table: self.dead_letters.to_string(),
                    source: e,
                })?;
            let partitions: Vec<i32> = dead.iter().map(|d| d.partition).collect();
            let offsets: Vec<i64> = dead.iter().map(|d| d.offset).collect();
            let rows = Rows {
                topic,
                batch: &rows,
                partitions: &partitions,
                offsets: &offsets,
            };
            durable.extend(
                self.writer
                    .append(&self.dead_letters, rows, &lineage)
                    .await?,
            );
            metrics::counter!(crate::telemetry::DEAD_LETTERS, "pipeline" => pipeline.to_string())
                .increment(dead.len() as u64);
        }

        // The last offset per partition, then one entry each: a batch spans
        // a few partitions and a thousand events.
        let mut last: Vec<(i32, i64)> = Vec::new();
        for i in 0..all.len() {
            let meta = all.meta(i);
            match last.iter_mut().find(|(p, _)| *p == meta.partition) {
                Some((_, offset)) => *offset = (*offset).max(meta.offset),
                None => last.push((meta.partition, meta.offset)),
            }
        }
        for (partition, offset) in last {
            self.consumed.saw((batch.topic.clone(), partition), offset);
        }
        metrics::counter!(crate::telemetry::EVENTS_IN, "pipeline" => pipeline.to_string())
            .increment(all.len() as u64);
        metrics::counter!(crate::telemetry::EVENTS_DROPPED, "pipeline" => pipeline.to_string())
            .increment(out.dropped as u64 + unrouted);
        for (plugin, stats) in self.chain.stats() {
            let labels = [
                ("pipeline", pipeline.to_string()),
                ("plugin", plugin.name().to_string()),
            ];
            metrics::counter!(crate::telemetry::PLUGIN_EVENTS_IN, &labels)
                .absolute(stats.events_in);
            metrics::counter!(crate::telemetry::PLUGIN_EVENTS_FAILED, &labels)
                .absolute(stats.failed);
            metrics::counter!(crate::telemetry::PLUGIN_EVENTS_DROPPED, &labels)
                .absolute(stats.dropped);
            metrics::counter!(crate::telemetry::PLUGIN_BUSY_SECONDS, &labels)
                .absolute(stats.busy.as_secs());
        }
        Ok(durable)
    }

    /// Which plugin versions wrote a file: stored in its Parquet metadata.
    fn lineage(&self) -> Vec<(String, String)> {
        let plugins: Vec<String> = self
            .chain
            .plugins()
            .map(|p| format!("{}@{}#{}", p.name(), p.version(), p.content_hash()))
            .collect();
        vec![
            ("sluice.pipeline".into(), self.name.to_string()),
            ("sluice.plugins".into(), plugins.join(",")),
        ]
    }
}

/// The table layer's view of an event: its JSON and where it came from.
fn event_at(json: &[u8], meta: EventMeta) -> Event<'_> {
    Event {
        json,
        timestamp_ms: meta.timestamp_ms,
        partition: meta.partition,
        offset: meta.offset,
    }
}
