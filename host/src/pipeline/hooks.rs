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

/// Shared between a pipeline's worker and the plugin registry.
#[derive(Debug)]
pub struct PipelineHooks {
    name: Arc<str>,
    /// Bumped whenever `wanted` changes.
    generation: AtomicU64,
    wanted: Mutex<Vec<Plugin>>,
    recent: Mutex<VecDeque<Arc<SourceBatch>>>,
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

    /// The events of the last batches, up to about [`SAMPLE_EVENTS`], that
    /// are JSON objects (as the chain sees them).
    pub fn recent_events(&self) -> EventBatch {
        let batches: Vec<Arc<SourceBatch>> = lock(&self.recent).iter().cloned().collect();
        let mut sample = EventBatch::new();
        for b in &batches {
            for i in 0..b.events.len() {
                if check_json_object(b.events.event(i)).is_ok() {
                    b.events.copy_event_to(i, &mut sample);
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
        let mut recent = lock(&self.recent);
        recent.push_back(batch.clone());
        let mut total: usize = recent.iter().map(|b| b.events.len()).sum();
        while recent.len() > 1 && total - recent[0].events.len() >= SAMPLE_EVENTS {
            total -= recent[0].events.len();
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
