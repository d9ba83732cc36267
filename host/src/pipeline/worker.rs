//! The thread a pipeline runs on: takes deliveries off its channel in
//! order, flushes files as they fall due, and reports what is durable.
//! Lake I/O runs on the shared tokio runtime; plugin and decoding work stay
//! on this thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tokio::runtime::Handle;

use crate::lake::Durable;
use crate::plugin::{Plugin, content_hash};
use crate::source::{Delivery, DurableOffsets, PartitionKey, SourceBatch};

use super::build::{Pipeline, PipelineError};

/// How long an idle pipeline waits before checking for files to flush.
const IDLE_TICK: Duration = Duration::from_millis(500);
/// How often a paused pipeline looks for a new version of its failing plugin.
const PLUGIN_RECHECK: Duration = Duration::from_secs(2);
/// Longest wait between retries of a failing lake write.
const MAX_LAKE_BACKOFF: Duration = Duration::from_secs(30);

/// Runs a lake operation (an expression making a fresh future each time)
/// until it succeeds, with backoff: the writer keeps its rows meanwhile.
macro_rules! lake_retrying {
    ($self:ident, $what:expr, $op:expr) => {{
        let mut backoff = Duration::from_millis(200);
        loop {
            match $self.runtime.block_on($op) {
                Ok(durable) => {
                    log_durable(&$self.pipeline.name, &durable);
                    break;
                }
                Err(e) => {
                    tracing::error!(pipeline = %$self.pipeline.name, error = %e, retry_in = ?backoff, "{} failed; retrying, nothing is lost.", $what);
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_LAKE_BACKOFF);
                }
            }
        }
    }};
}

/// Runs `pipeline` on its own thread until the source shuts it down.
pub fn spawn(
    pipeline: Pipeline,
    inbox: Receiver<Delivery>,
    durable: DurableOffsets,
    runtime: Handle,
) -> JoinHandle<Result<(), PipelineError>> {
    let name = format!("pipeline-{}", pipeline.name);
    thread::Builder::new()
        .name(name)
        .spawn(move || {
            Worker {
                pipeline,
                durable,
                runtime,
            }
            .run(inbox)
        })
        .expect("spawning a pipeline thread")
}

struct Worker {
    pipeline: Pipeline,
    durable: DurableOffsets,
    runtime: Handle,
}

impl Worker {
    fn run(mut self, inbox: Receiver<Delivery>) -> Result<(), PipelineError> {
        tracing::info!(pipeline = %self.pipeline.name, "Pipeline running.");
        loop {
            let wait = self.pipeline.writer.next_due().map_or(IDLE_TICK, |due| {
                due.saturating_duration_since(Instant::now()).min(IDLE_TICK)
            });
            match inbox.recv_timeout(wait) {
                Ok(Delivery::Batch(batch)) => self.process(&batch)?,
                Ok(Delivery::Assigned(_)) => {}
                Ok(Delivery::Revoked(parts, ack)) => {
                    self.release(&parts);
                    let _ = ack.send(());
                }
                Ok(Delivery::Shutdown(ack)) => {
                    self.flush_all();
                    let _ = ack.send(());
                    tracing::info!(pipeline = %self.pipeline.name, "Pipeline stopped; files flushed.");
                    return Ok(());
                }
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    lake_retrying!(
                        self,
                        "flushing due files",
                        self.pipeline.writer.flush_due(now)
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush_all();
                    return Ok(());
                }
            }
            self.report();
        }
    }

    /// One batch, retried until it is written: a lake error waits with
    /// backoff (the writer keeps its rows), a failing plugin waits for a new
    /// version of its file. Only a bug in a table's decoder is fatal.
    fn process(&mut self, batch: &Arc<SourceBatch>) -> Result<(), PipelineError> {
        let mut backoff = Duration::from_millis(200);
        loop {
            let result = self.runtime.block_on(self.pipeline.process(batch));
            match result {
                Ok(durable) => {
                    log_durable(&self.pipeline.name, &durable);
                    return Ok(());
                }
                Err(PipelineError::PluginFailing(e)) => {
                    metrics::gauge!("sluice_pipeline_paused", "pipeline" => self.pipeline.name.to_string()).set(1.0);
                    tracing::error!(pipeline = %self.pipeline.name, error = %e, "Pipeline paused: waiting for a new version of the plugin.");
                    while !self.reload_changed_plugins() {
                        thread::sleep(PLUGIN_RECHECK);
                    }
                    metrics::gauge!("sluice_pipeline_paused", "pipeline" => self.pipeline.name.to_string()).set(0.0);
                }
                Err(PipelineError::Lake(e)) => {
                    tracing::error!(pipeline = %self.pipeline.name, error = %e, retry_in = ?backoff, "Lake write failed; retrying, nothing is lost.");
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_LAKE_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reloads every plugin whose file changed; true if any did and loaded.
    fn reload_changed_plugins(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.pipeline.sources.len() {
            let path = self.pipeline.sources[i].path.clone();
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let hash = content_hash(&bytes);
            if hash == self.pipeline.sources[i].hash {
                continue;
            }
            // Whatever happens, this version of the file has been seen.
            self.pipeline.sources[i].hash = hash;
            let origin = path.display().to_string();
            match Plugin::load(&self.pipeline.engine, &bytes, &origin) {
                Ok(plugin) if !self.pipeline.declares_same_tables(&plugin) => {
                    tracing::error!(pipeline = %self.pipeline.name, plugin = %plugin.name(), "The new plugin declares other tables or schemas; restart the pipeline to change a table. Still paused.");
                }
                Ok(plugin) => {
                    tracing::info!(pipeline = %self.pipeline.name, plugin = %plugin.name(), version = %plugin.version(), "Plugin reloaded; resuming.");
                    self.pipeline.chain.replace(i, plugin);
                    changed = true;
                }
                Err(e) => {
                    tracing::error!(pipeline = %self.pipeline.name, error = %e, "The new plugin file does not load; still paused.");
                }
            }
        }
        changed
    }

    fn release(&mut self, parts: &[PartitionKey]) {
        let mut by_topic: BTreeMap<Arc<str>, Vec<i32>> = BTreeMap::new();
        for (topic, partition) in parts {
            by_topic.entry(topic.clone()).or_default().push(*partition);
        }
        for (topic, partitions) in by_topic {
            lake_retrying!(
                self,
                "releasing revoked partitions",
                self.pipeline.writer.release(&topic, &partitions)
            );
        }
        self.report();
        for key in parts {
            self.pipeline.consumed.forget(key);
        }
    }

    fn flush_all(&mut self) {
        lake_retrying!(self, "flushing all files", self.pipeline.writer.flush_all());
        self.report();
    }

    fn report(&self) {
        let writer = &self.pipeline.writer;
        for (key, next) in self
            .pipeline
            .consumed
            .committable(|(topic, partition)| writer.first_pending_offset(topic, *partition))
        {
            self.durable.report(self.pipeline.index, key, next);
        }
    }
}

fn log_durable(pipeline: &str, durable: &[Durable]) {
    for d in durable {
        metrics::counter!("sluice_files_total", "pipeline" => pipeline.to_string(), "table" => d.dir.to_string()).increment(1);
        tracing::debug!(pipeline, table = %d.dir, partition = d.partition, first = d.first_offset, last = d.last_offset, rows = d.rows, "File in place.");
    }
}
