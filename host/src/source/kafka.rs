//! The consumer thread: polls Kafka, batches records per topic, hands each
//! batch to every pipeline, relays rebalances in order, and commits what the
//! pipelines made durable.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use crossbeam_channel::{RecvTimeoutError, SendTimeoutError, Sender, bounded};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};

use super::delivery::{Delivery, DurableOffsets, PartitionKey, SourceBatch};
use crate::plugin::{EventBatch, EventMeta};

/// How often durable offsets are committed (for lag monitoring; the lake is
/// the truth on restart).
const COMMIT_EVERY: Duration = Duration::from_secs(2);
/// How often librdkafka reports statistics (consumer lag) and the source
/// logs a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// The longest a consumer error is repeated in the log.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);
/// The longest a revocation waits for the pipelines to flush the revoked
/// partitions (the lake may be down). Past it the partitions go anyway,
/// inside `max.poll.interval.ms` (30 s, [`consumer_config`]), so this
/// member stays in the group; what a late flush then commits, the tables'
/// Delta logs refuse (the writer's fence).
const REVOKE_WAIT: Duration = Duration::from_secs(20);
/// The longest an assignment waits to learn where a partition ends.
const WATERMARK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot create a Kafka consumer for `{brokers}`: {source}")]
    Create { brokers: String, source: KafkaError },
    #[error("cannot subscribe to topics {topics:?}: {source}")]
    Subscribe {
        topics: Vec<String>,
        source: KafkaError,
    },
    #[error("pipeline {0} stopped; the source cannot feed it")]
    PipelineGone(usize),
}

/// The consumer settings sluice relies on: no auto-commit (offsets follow
/// the lake), and a short session timeout so the group notices a dead
/// process quickly and hands its partitions to the others.
pub fn consumer_config(brokers: &str, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("client.id", format!("sluice-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1500")
        // The loop polls continuously, even while paused; a shorter limit
        // makes a rebalance after a crash finish sooner.
        .set("max.poll.interval.ms", "30000")
        // Bounds what librdkafka prefetches: backpressure must reach Kafka,
        // not pile up in memory.
        .set("queued.max.messages.kbytes", "32768")
        // Once that queue is full, librdkafka waits this long before it
        // fetches again (1 s by default). The pipelines empty 32 MiB in a
        // fraction of that, then sat idle: end to end ran at one queue per
        // second, ~130k events/s (docs/performance.md).
        .set("fetch.queue.backoff.ms", "20")
        .set(
            "statistics.interval.ms",
            PROGRESS_EVERY.as_millis().to_string(),
        );
    c
}

struct SourceContext {
    outboxes: Arc<Vec<Sender<Delivery>>>,
    durable: DurableOffsets,
    /// Events behind the end of the partitions this member owns, from the
    /// last statistics; -1 before the first.
    lag: Arc<AtomicI64>,
    /// Set once the pipelines have flushed and stopped: leaving the group
    /// then revokes everything, with nothing left to flush.
    stopped: AtomicBool,
    /// Partitions revoked inside the last `poll()`, not yet seen by the
    /// source: records of them it still holds must not reach a pipeline
    /// after that pipeline's `Revoked`.
    revoked: Mutex<Vec<PartitionKey>>,
}

impl SourceContext {
    fn take_revoked(&self) -> Vec<PartitionKey> {
        std::mem::take(&mut *self.revoked.lock().expect("revoked partitions lock"))
    }
}

impl ClientContext for SourceContext {
    /// Consumer lag per owned partition, as `sluice_consumer_lag`: events
    /// past the committed offset, which sluice moves only once the lake
    /// holds them. So it counts events not yet durable, as Kafka's own
    /// tools would show it.
    fn stats(&self, statistics: Statistics) {
        let mut total = 0;
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // -1 is librdkafka's internal unassigned partition; a lag
                // of -1 is not known yet.
                if *partition < 0 || p.fetch_state != "active" || p.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(crate::telemetry::CONSUMER_LAG, "topic" => topic.clone(), "partition" => partition.to_string())
                    .set(p.consumer_lag as f64);
                total += p.consumer_lag;
            }
        }
        self.lag.store(total, Ordering::Relaxed);
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let parts = keys(tpl);
        if parts.is_empty() || self.stopped.load(Ordering::Relaxed) {
            return;
        }
        tracing::info!(partitions = ?parts, "Partitions revoked; flushing them.");
        // The records of these partitions the source holds are dropped as
        // soon as this returns (the new owner reads them again from the
        // committed offset), before anything else reaches a pipeline.
        self.revoked
            .lock()
            .expect("revoked partitions lock")
            .extend(parts.iter().cloned());
        // Every pipeline flushes the revoked partitions before they move,
        // within REVOKE_WAIT.
        let deadline = Instant::now() + REVOKE_WAIT;
        let (ack_tx, ack_rx) = bounded(self.outboxes.len());
        let mut told = 0;
        for (i, outbox) in self.outboxes.iter().enumerate() {
            match outbox.send_deadline(Delivery::Revoked(parts.clone(), ack_tx.clone()), deadline) {
                Ok(()) => told += 1,
                Err(SendTimeoutError::Timeout(_)) => {
                    tracing::warn!(pipeline = i, partitions = ?parts, wait = ?REVOKE_WAIT, "A pipeline did not take the revocation in time; the partitions go anyway, and the tables' Delta logs refuse what it commits for them later.");
                }
                Err(SendTimeoutError::Disconnected(_)) => return,
            }
        }
        for _ in 0..told {
            match ack_rx.recv_deadline(deadline) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => {
                    tracing::warn!(partitions = ?parts, wait = ?REVOKE_WAIT, "A pipeline did not flush the revoked partitions in time (is the lake down?); they go anyway, and the tables' Delta logs refuse what it commits for them later.");
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        commit(
            consumer,
            &self.durable,
            self.outboxes.len(),
            &parts,
            CommitMode::Sync,
        );
        for p in &parts {
            self.durable.forget(p);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts = keys(tpl);
                tracing::info!(partitions = ?parts, "Partitions assigned.");
                // Where each partition ends: the writers check the tables'
                // progress against it (a reset topic ends before it).
                let ends: Vec<(PartitionKey, Option<i64>)> = parts
                    .iter()
                    .map(|key| {
                        let end = consumer
                            .fetch_watermarks(&key.0, key.1, WATERMARK_WAIT)
                            .map(|(_, high)| high)
                            .inspect_err(|e| tracing::warn!(topic = %key.0, partition = key.1, error = %e, "Cannot read where the partition ends; its tables' progress is not checked against it."))
                            .ok();
                        (key.clone(), end)
                    })
                    .collect();
                for outbox in self.outboxes.iter() {
                    let _ = outbox.send(Delivery::Assigned(ends.clone()));
                }
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "Kafka rebalance failed."),
            Rebalance::Revoke(_) => {}
        }
    }
}

fn keys(tpl: &TopicPartitionList) -> Vec<PartitionKey> {
    tpl.elements()
        .iter()
        .map(|e| (Arc::from(e.topic()), e.partition()))
        .collect()
}

fn commit(
    consumer: &BaseConsumer<SourceContext>,
    durable: &DurableOffsets,
    pipelines: usize,
    parts: &[PartitionKey],
    mode: CommitMode,
) {
    let mut tpl = TopicPartitionList::new();
    for key in parts {
        if let Some(next) = durable.committable(pipelines, key) {
            let _ = tpl.add_partition_offset(&key.0, key.1, Offset::Offset(next));
        }
    }
    if tpl.count() == 0 {
        return;
    }
    if let Err(e) = consumer.commit(&tpl, mode) {
        tracing::warn!(error = %e, "Committing offsets failed; will retry.");
    }
}

/// One consumer group member feeding a set of pipelines.
pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
    topics: Vec<String>,
    batch_size: usize,
    outboxes: Arc<Vec<Sender<Delivery>>>,
    durable: DurableOffsets,
    paused: bool,
    last_error_log: Cell<Option<Instant>>,
    lag: Arc<AtomicI64>,
}

impl KafkaSource {
    pub fn new(
        config: &ClientConfig,
        topics: Vec<String>,
        batch_size: usize,
        outboxes: Vec<Sender<Delivery>>,
        durable: DurableOffsets,
    ) -> Result<KafkaSource, SourceError> {
        let outboxes = Arc::new(outboxes);
        let lag = Arc::new(AtomicI64::new(-1));
        let context = SourceContext {
            outboxes: outboxes.clone(),
            durable: durable.clone(),
            lag: lag.clone(),
            stopped: AtomicBool::new(false),
            revoked: Mutex::new(Vec::new()),
        };
        let consumer: BaseConsumer<SourceContext> =
            config
                .create_with_context(context)
                .map_err(|source| SourceError::Create {
                    brokers: config.get("bootstrap.servers").unwrap_or("?").to_string(),
                    source,
                })?;
        Ok(KafkaSource {
            consumer,
            topics,
            batch_size,
            outboxes,
            durable,
            paused: false,
            last_error_log: Cell::new(None),
            lag,
        })
    }

    /// Consumes until `stop` is set, then has every pipeline flush, commits
    /// and leaves the group.
    pub fn run(mut self, stop: &CancellationToken) -> Result<(), SourceError> {
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topics)
            .map_err(|source| SourceError::Subscribe {
                topics: self.topics.clone(),
                source,
            })?;
        tracing::info!(topics = ?self.topics, "Consuming.");
        let mut builders: HashMap<Arc<str>, EventBatch> = HashMap::new();
        let mut last_commit = Instant::now();
        let mut progress = Progress::new();
        while !stop.is_cancelled() {
            if let Some(first) = self.consumer.poll(Duration::from_millis(100)) {
                let mut next = Some(first);
                let mut count = 0;
                while let Some(polled) = next.take() {
                    match polled {
                        Ok(m) => {
                            add(&mut builders, &m);
                            count += 1;
                        }
                        Err(e) => self.log_error(&e),
                    }
                    if count < self.batch_size {
                        next = self.consumer.poll(Duration::ZERO);
                        self.drop_revoked(&mut builders, None);
                    }
                }
                progress.events += count as u64;
            }
            self.drop_revoked(&mut builders, None);
            progress.maybe_log(self.lag.load(Ordering::Relaxed));
            self.deliver(&mut builders, stop)?;
            if last_commit.elapsed() >= COMMIT_EVERY {
                self.commit_all(CommitMode::Async);
                last_commit = Instant::now();
            }
        }
        self.shutdown(&mut builders)
    }

    fn log_error(&self, e: &KafkaError) {
        if self
            .last_error_log
            .get()
            .is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY)
        {
            tracing::warn!(error = %e, "Kafka consumer error; librdkafka keeps retrying.");
            self.last_error_log.set(Some(Instant::now()));
        }
    }

    /// Hands every non-empty batch to every pipeline. While a pipeline's
    /// channel is full the partitions are paused and the consumer keeps
    /// polling (serving rebalances, staying in the group).
    fn deliver(
        &mut self,
        builders: &mut HashMap<Arc<str>, EventBatch>,
        stop: &CancellationToken,
    ) -> Result<(), SourceError> {
        let ready: Vec<Arc<SourceBatch>> = builders
            .iter_mut()
            .filter(|(_, b)| !b.is_empty())
            .map(|(topic, b)| Arc::new(SourceBatch::new(topic.clone(), std::mem::take(b))))
            .collect();
        for mut batch in ready {
            for (i, outbox) in self.outboxes.clone().iter().enumerate() {
                if batch.events.is_empty() {
                    break;
                }
                let mut delivery = Delivery::Batch(batch.clone());
                loop {
                    match outbox.send_timeout(delivery, Duration::from_millis(50)) {
                        Ok(()) => break,
                        Err(SendTimeoutError::Disconnected(_)) => {
                            return Err(SourceError::PipelineGone(i));
                        }
                        Err(SendTimeoutError::Timeout(back)) => {
                            delivery = back;
                            self.pause();
                            // Serve rebalances; anything already fetched waits for the next batch.
                            match self.consumer.poll(Duration::ZERO) {
                                Some(Ok(m)) => add(builders, &m),
                                Some(Err(e)) => self.log_error(&e),
                                None => {}
                            }
                            // The pipelines before this one have the batch
                            // and flushed it on revocation; this one and
                            // the rest get it without the revoked partitions.
                            if self.drop_revoked(builders, Some(&mut batch)) {
                                if batch.events.is_empty() {
                                    break;
                                }
                                delivery = Delivery::Batch(batch.clone());
                            }
                            if stop.is_cancelled() {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
        self.resume();
        Ok(())
    }

    /// Drops the records of partitions revoked in the last poll from what
    /// the source holds: the batches being built and, if given, the batch
    /// being handed out. True if any partition was revoked.
    fn drop_revoked(
        &self,
        builders: &mut HashMap<Arc<str>, EventBatch>,
        held: Option<&mut Arc<SourceBatch>>,
    ) -> bool {
        let revoked = self.consumer.context().take_revoked();
        if revoked.is_empty() {
            return false;
        }
        let mut dropped = 0;
        for (topic, batch) in builders.iter_mut() {
            dropped += retain_owned(topic, batch, &revoked);
        }
        if let Some(held) = held.filter(|h| !h.events.is_empty()) {
            let mut events = held.events.slice(0..held.events.len());
            let gone = retain_owned(&held.topic, &mut events, &revoked);
            if gone > 0 {
                dropped += gone;
                *held = Arc::new(SourceBatch::new(held.topic.clone(), events));
            }
        }
        if dropped > 0 {
            tracing::info!(
                records = dropped,
                "Dropped the records of revoked partitions the source held; their new owner reads them from the committed offset."
            );
        }
        true
    }

    fn pause(&mut self) {
        if self.paused {
            return;
        }
        if let Ok(assignment) = self.consumer.assignment()
            && self.consumer.pause(&assignment).is_ok()
        {
            tracing::debug!("A pipeline is behind; partitions paused.");
            self.paused = true;
        }
    }

    fn resume(&mut self) {
        if !self.paused {
            return;
        }
        if let Ok(assignment) = self.consumer.assignment() {
            let _ = self.consumer.resume(&assignment);
        }
        self.paused = false;
    }

    fn commit_all(&self, mode: CommitMode) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let parts = keys(&assignment);
        commit(
            &self.consumer,
            &self.durable,
            self.outboxes.len(),
            &parts,
            mode,
        );
    }

    fn shutdown(mut self, builders: &mut HashMap<Arc<str>, EventBatch>) -> Result<(), SourceError> {
        let never = CancellationToken::new();
        self.deliver(builders, &never)?;
        let (ack_tx, ack_rx) = bounded(self.outboxes.len());
        let mut told = 0;
        for outbox in self.outboxes.iter() {
            // A pipeline that failed is gone: nothing to wait for there.
            if outbox.send(Delivery::Shutdown(ack_tx.clone())).is_ok() {
                told += 1;
            }
        }
        drop(ack_tx);
        for _ in 0..told {
            if ack_rx.recv().is_err() {
                break;
            }
        }
        self.commit_all(CommitMode::Sync);
        self.consumer
            .context()
            .stopped
            .store(true, Ordering::Relaxed);
        self.consumer.unsubscribe();
        tracing::info!("Source stopped; offsets committed.");
        Ok(())
    }
}

/// Keeps in `batch` (records of `topic`) only those of partitions not in
/// `revoked`; returns how many it dropped.
fn retain_owned(topic: &Arc<str>, batch: &mut EventBatch, revoked: &[PartitionKey]) -> usize {
    let gone = |i: usize| {
        let partition = batch.meta(i).partition;
        revoked.iter().any(|(t, p)| t == topic && *p == partition)
    };
    if !(0..batch.len()).any(gone) {
        return 0;
    }
    let mut kept = EventBatch::with_capacity(batch.len(), batch.bytes());
    for i in 0..batch.len() {
        if !gone(i) {
            batch.copy_event_to(i, &mut kept);
        }
    }
    let dropped = batch.len() - kept.len();
    *batch = kept;
    dropped
}

fn add(builders: &mut HashMap<Arc<str>, EventBatch>, m: &BorrowedMessage<'_>) {
    let topic = m.topic();
    let batch = match builders.get_mut(topic) {
        Some(b) => b,
        None => builders.entry(Arc::from(topic)).or_default(),
    };
    let meta = EventMeta {
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
    };
    let payload = m.payload().unwrap_or_default();
    match m.headers() {
        Some(headers) if headers.count() > 0 => {
            let hs: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|h| (h.key, h.value.unwrap_or_default()))
                .collect();
            batch.push_with_headers(payload, meta, hs);
        }
        _ => batch.push(payload, meta),
    }
}

/// The progress line: events consumed since the last one, and the lag.
struct Progress {
    since: Instant,
    events: u64,
    total: u64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            since: Instant::now(),
            events: 0,
            total: 0,
        }
    }

    /// Logs every [`PROGRESS_EVERY`] while there is something to say.
    fn maybe_log(&mut self, lag: i64) {
        let elapsed = self.since.elapsed();
        if elapsed < PROGRESS_EVERY {
            return;
        }
        if self.events > 0 || lag > 0 {
            self.total += self.events;
            let per_sec = (self.events as f64 / elapsed.as_secs_f64()).round() as u64;
            tracing::info!(
                events = self.events,
                per_sec,
                total = self.total,
                lag,
                "Progress."
            );
        }
        metrics::counter!(crate::telemetry::SOURCE_EVENTS).increment(self.events);
        self.events = 0;
        self.since = Instant::now();
    }
}
