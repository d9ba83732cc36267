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
use tokio_util::sync::CancellationToken;

use crate::lake::Durable;
use crate::source::{Delivery, DurableOffsets, PartitionKey, SourceBatch};

use super::build::{Pipeline, PipelineError};

/// How long an idle pipeline waits before checking for files to flush.
const IDLE_TICK: Duration = Duration::from_millis(500);
/// How often a paused pipeline looks for a new version of its failing plugin.
const PLUGIN_RECHECK: Duration = Duration::from_millis(100);
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
/// `stop` is the source's stop signal: a pipeline paused on a failing
/// plugin reads no deliveries, so it watches that instead.
pub fn spawn(
    pipeline: Pipeline,
    inbox: Receiver<Delivery>,
    durable: DurableOffsets,
    runtime: Handle,
    exited: CancellationToken,
    stop: CancellationToken,
) -> JoinHandle<Result<(), PipelineError>> {
    let name = format!("pipeline-{}", pipeline.name);
    thread::Builder::new()
        .name(name)
        .spawn(move || {
            // However the thread ends (stopped, failed, panicked), `exited`
            // says so.
            let _exit = exited.drop_guard();
            Worker {
                pipeline,
                durable,
                runtime,
                applied: 0,
                stop,
            }
            .run(inbox)
        })
        .expect("spawning a pipeline thread")
}

struct Worker {
    pipeline: Pipeline,
    durable: DurableOffsets,
    runtime: Handle,
    /// The generation of the wanted chain this worker runs.
    applied: u64,
    stop: CancellationToken,
}

/// How a batch ended.
enum Processed {
    Written,
    /// The process is stopping while the pipeline waited for a new
    /// version of a failing plugin: the batch is not written.
    Stopping,
}

impl Worker {
    fn run(mut self, inbox: Receiver<Delivery>) -> Result<(), PipelineError> {
        tracing::info!(pipeline = %self.pipeline.name, "Pipeline running.");
        loop {
            let wait = self.pipeline.writer.next_due().map_or(IDLE_TICK, |due| {
                due.saturating_duration_since(Instant::now()).min(IDLE_TICK)
            });
            match inbox.recv_timeout(wait) {
                Ok(Delivery::Batch(batch)) => {
                    if let Processed::Stopping = self.process(&batch)? {
                        self.stop_paused(&inbox);
                        return Ok(());
                    }
                }
                Ok(Delivery::Assigned(parts)) => {
                    for ((topic, partition), end) in parts {
                        if let Some(end) = end {
                            self.pipeline
                                .writer
                                .partition_ends_at(&topic, partition, end);
                        }
                    }
                }
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
                    self.apply_swaps();
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
    fn process(&mut self, batch: &Arc<SourceBatch>) -> Result<Processed, PipelineError> {
        let mut backoff = Duration::from_millis(200);
        loop {
            self.apply_swaps();
            let result = self.runtime.block_on(self.pipeline.process(batch));
            match result {
                Ok(durable) => {
                    log_durable(&self.pipeline.name, &durable);
                    let hooks = &self.pipeline.hooks;
                    hooks.saw(batch);
                    hooks.publish_stats(self.pipeline.chain.stats());
                    return Ok(Processed::Written);
                }
                Err(PipelineError::PluginFailing(e)) => {
                    metrics::gauge!(crate::telemetry::PIPELINE_PAUSED, "pipeline" => self.pipeline.name.to_string()).set(1.0);
                    tracing::error!(pipeline = %self.pipeline.name, error = %e, "Pipeline paused: waiting for a new version of the plugin.");
                    while !self.apply_swaps() {
                        if self.stop.is_cancelled() {
                            return Ok(Processed::Stopping);
                        }
                        thread::sleep(PLUGIN_RECHECK);
                    }
                    metrics::gauge!(crate::telemetry::PIPELINE_PAUSED, "pipeline" => self.pipeline.name.to_string()).set(0.0);
                }
                // A reset topic needs an operator: stop, saying what to do.
                Err(PipelineError::Lake(e @ crate::lake::LakeError::TopicReset { .. })) => {
                    return Err(PipelineError::Lake(e));
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

    /// Stops a pipeline that was paused on a failing plugin: the rows of
    /// earlier batches are flushed; the failed batch and the deliveries
    /// queued after it are let go (their offsets were never durable, so
    /// they are read again on the next start) until the source's shutdown
    /// arrives. Revocations are still acknowledged, so the source's
    /// rebalance never waits on this pipeline.
    fn stop_paused(&mut self, inbox: &Receiver<Delivery>) {
        tracing::warn!(pipeline = %self.pipeline.name, "Stopping while paused on a failing plugin; the batch it failed is read again on the next start.");
        self.flush_all();
        for delivery in inbox.iter() {
            match delivery {
                Delivery::Batch(_) | Delivery::Assigned(_) => {}
                Delivery::Revoked(parts, ack) => {
                    self.release(&parts);
                    let _ = ack.send(());
                }
                Delivery::Shutdown(ack) => {
                    let _ = ack.send(());
                    break;
                }
            }
        }
        tracing::info!(pipeline = %self.pipeline.name, "Pipeline stopped; files flushed.");
    }

    /// Swaps in the plugin versions hot loading chose, if they changed since
    /// the last batch (they were validated before they were offered); true
    /// if any did.
    fn apply_swaps(&mut self) -> bool {
        let generation = self.pipeline.hooks.generation();
        if generation == self.applied {
            return false;
        }
        self.applied = generation;
        let wanted = self.pipeline.hooks.wanted();
        let running: Vec<_> = self.pipeline.chain.plugins().cloned().collect();
        let mut changed = false;
        for (i, (plugin, old)) in wanted.into_iter().zip(running).enumerate() {
            if plugin.content_hash() == old.content_hash() {
                continue;
            }
            if let Err(e) = self.pipeline.adopt_tables(&plugin) {
                tracing::error!(pipeline = %self.pipeline.name, plugin = %plugin.name(), error = %e, "Cannot take on the new plugin's tables; keeping the running version.");
                continue;
            }
            tracing::info!(pipeline = %self.pipeline.name, plugin = %plugin.name(), version = %plugin.version(), hash = %plugin.content_hash(), was = %format!("{} {}", old.version(), old.content_hash()), "Plugin swapped in.");
            self.pipeline.chain.replace(i, plugin);
            changed = true;
        }
        if changed {
            self.pipeline
                .hooks
                .publish_stats(self.pipeline.chain.stats());
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
        metrics::counter!(crate::telemetry::FILES, "pipeline" => pipeline.to_string(), "table" => d.dir.to_string()).increment(1);
        tracing::debug!(pipeline, table = %d.dir, partition = d.partition, first = d.first_offset, last = d.last_offset, rows = d.rows, "File in place.");
    }
}
