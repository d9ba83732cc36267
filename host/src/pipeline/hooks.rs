//! What a running pipeline shares with hot loading ([`crate::hot`]): the
//! chain it should run, the events it saw last (the sample a new plugin
//! version is tried on), and its plugins' counters. The worker looks at the
//! wanted chain between batches only, so every batch runs on one version.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::plugin::{EventBatch, Plugin, PluginStats, check_json_object};
use crate::source::SourceBatch;

/// About this many recent events are kept for a dry run.
const SAMPLE_EVENTS: usize = 1000;
/// And at most this many bytes of them: a batch of large events is not
/// pinned whole; its first events up to this size are copied instead.
pub(crate) const SAMPLE_BYTES: usize = 4 << 20;

/// A batch kept for the dry-run sample: the batch itself when it is small,
/// else a copy of its first events up to [`SAMPLE_BYTES`].
#[derive(Debug)]
enum Kept {
    Whole(Arc<SourceBatch>),
    Part(EventBatch),
}

impl Kept {
    fn events(&self) -> &EventBatch {
        match self {
            Kept::Whole(batch) => &batch.events,
            Kept::Part(events) => events,
        }
    }
}

/// Shared between a pipeline's worker and the plugin registry.
#[derive(Debug)]
pub struct PipelineHooks {
    name: Arc<str>,
    /// Bumped whenever `wanted` changes.
    generation: AtomicU64,
    wanted: Mutex<Vec<Plugin>>,
    recent: Mutex<VecDeque<Arc<Kept>>>,
    /// Per stage: the content hash of the plugin running there and its
    /// counters since it was swapped in.
    stats: Mutex<Vec<(String, PluginStats)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PipelineHooks {
    pub(super) fn new(name: Arc<str>, plugins: Vec<Plugin>) -> PipelineHooks {
        PipelineHooks {
            name,
            generation: AtomicU64::new(0),
            wanted: Mutex::new(plugins),
            recent: Mutex::new(VecDeque::new()),
            stats: Mutex::new(Vec::new()),
        }
    }

    pub fn pipeline(&self) -> &Arc<str> {
        &self.name
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The chain the pipeline runs from its next batch on.
    pub fn wanted(&self) -> Vec<Plugin> {
        lock(&self.wanted).clone()
    }

    /// Has the pipeline run `plugin` at stage `index` from its next batch on.
    pub fn swap(&self, index: usize, plugin: Plugin) {
        lock(&self.wanted)[index] = plugin;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The events of the last batches, up to about [`SAMPLE_EVENTS`] and
    /// [`SAMPLE_BYTES`], that are JSON objects (as the chain sees them).
    pub fn recent_events(&self) -> EventBatch {
        let batches: Vec<Arc<Kept>> = lock(&self.recent).iter().cloned().collect();
        let mut sample = EventBatch::new();
        for kept in &batches {
            let events = kept.events();
            for i in 0..events.len() {
                if check_json_object(events.event(i)).is_ok() {
                    events.copy_event_to(i, &mut sample);
                }
            }
        }
        sample
    }

    /// Per stage, the running plugin's content hash and counters.
    pub fn stats(&self) -> Vec<(String, PluginStats)> {
        lock(&self.stats).clone()
    }

    pub(super) fn saw(&self, batch: &Arc<SourceBatch>) {
        let kept = if batch.events.bytes() <= SAMPLE_BYTES {
            Kept::Whole(batch.clone())
        } else {
            let mut part = EventBatch::new();
            for i in 0..batch.events.len() {
                if part.bytes() + batch.events.event(i).len() > SAMPLE_BYTES {
                    break;
                }
                batch.events.copy_event_to(i, &mut part);
            }
            Kept::Part(part)
        };
        let mut recent = lock(&self.recent);
        recent.push_back(Arc::new(kept));
        let events = |k: &Kept| k.events().len();
        let bytes = |k: &Kept| k.events().bytes();
        let mut total: usize = recent.iter().map(|k| events(k)).sum();
        let mut total_bytes: usize = recent.iter().map(|k| bytes(k)).sum();
        while recent.len() > 1
            && (total - events(&recent[0]) >= SAMPLE_EVENTS || total_bytes > SAMPLE_BYTES)
        {
            total -= events(&recent[0]);
            total_bytes -= bytes(&recent[0]);
            recent.pop_front();
        }
    }

    pub(super) fn publish_stats<'a>(
        &self,
        stats: impl Iterator<Item = (&'a Plugin, &'a PluginStats)>,
    ) {
        let now: Vec<(String, PluginStats)> = stats
            .map(|(p, s)| (p.content_hash().to_string(), s.clone()))
            .collect();
        *lock(&self.stats) = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::EventMeta;

    fn batch(events: usize, bytes_each: usize) -> Arc<SourceBatch> {
        let json = format!(r#"{{"event_type":"x","pad":"{}"}}"#, "p".repeat(bytes_each));
        let mut batch = EventBatch::new();
        for _ in 0..events {
            batch.push(json.as_bytes(), EventMeta::default());
        }
        Arc::new(SourceBatch::new("events".into(), batch))
    }

    #[test]
    fn the_dry_run_sample_holds_a_few_mib_whatever_the_events_size() {
        let hooks = PipelineHooks::new("p".into(), Vec::new());
        // 40 batches of 50 events of 100 KiB: 200 MiB went by.
        for _ in 0..40 {
            hooks.saw(&batch(50, 100 << 10));
        }
        let sample = hooks.recent_events();
        assert!(sample.bytes() <= SAMPLE_BYTES, "{} bytes", sample.bytes());
        assert!(sample.len() >= 30, "{} events", sample.len());
        // Small events: about SAMPLE_EVENTS of them.
        for _ in 0..40 {
            hooks.saw(&batch(100, 10));
        }
        let sample = hooks.recent_events();
        assert!((SAMPLE_EVENTS..SAMPLE_EVENTS + 100).contains(&sample.len()));
    }
}
