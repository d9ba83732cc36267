//! Part 2, the broker's ceiling: the embedded broker (tansu on SQLite) with
//! the topic `events`, filled by an rdkafka producer, then drained by a bare
//! rdkafka consumer that does nothing with the records.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use tokio::runtime::Runtime;

use crate::broker::{BrokerConfig, RunningBroker, TopicSpec};
use crate::source::consumer_config;

use super::super::events::EventMix;
use super::{Expected, TOPIC, WorkDir};

/// An embedded broker on a port of its own, with its data in a fresh
/// directory, and the runtime it runs on (the pipelines of part 3 share it,
/// as in `sluice serve`).
pub(super) struct BrokerFixture {
    pub(super) runtime: Runtime,
    broker: Option<RunningBroker>,
    _work: WorkDir,
}

impl BrokerFixture {
    pub(super) fn start() -> anyhow::Result<BrokerFixture> {
        let work = WorkDir::new("broker")?;
        let runtime = crate::commands::runtime()?;
        let config = BrokerConfig::new(work.path().join("data"))
            .with_listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .with_topics(vec![TopicSpec::new(
                TOPIC,
                crate::broker::DEFAULT_TOPIC_PARTITIONS,
            )]);
        let broker = runtime
            .block_on(crate::broker::start(config))
            .context("starting the embedded broker")?;
        Ok(BrokerFixture {
            runtime,
            broker: Some(broker),
            _work: work,
        })
    }

    pub(super) fn bootstrap(&self) -> String {
        self.broker
            .as_ref()
            .map(RunningBroker::bootstrap_servers)
            .unwrap_or_default()
    }
}

impl Drop for BrokerFixture {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.take()
            && let Err(e) = self.runtime.block_on(broker.shutdown())
        {
            eprintln!("warning: the benchmark broker did not stop cleanly: {e}");
        }
    }
}

/// Counts failed deliveries and keeps the first reason.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_error.lock().expect("delivery error lock");
            first.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Produces `events` events of the mix seeded with `seed`, round robin over
/// the partitions, and waits until every one is acknowledged. Returns the
/// time taken (generation included) and what the lake should get from them.
pub(super) fn produce(
    fixture: &BrokerFixture,
    events: u64,
    seed: u64,
) -> anyhow::Result<(Duration, Expected)> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", fixture.bootstrap())
        .set("acks", "all")
        .set("linger.ms", "5")
        // At 5, librdkafka spins against tansu (issue 4's measurements).
        .set("max.in.flight.requests.per.connection", "2")
        .create_with_context(Deliveries::default())
        .context("creating the benchmark producer")?;
    let partitions = crate::broker::DEFAULT_TOPIC_PARTITIONS as u64;
    let mut mix = EventMix::new(seed);
    let mut json = Vec::with_capacity(512);
    let started = Instant::now();
    for i in 0..events {
        mix.next_event(&mut json);
        let mut record = BaseRecord::<(), [u8]>::to(TOPIC)
            .partition((i % partitions) as i32)
            .payload(&json[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => bail!("producing event {i}: {e}"),
            }
        }
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(600))
        .context("waiting for the broker to acknowledge every event")?;
    let took = started.elapsed();
    let context = producer.context();
    let failed = context.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = context
            .first_error
            .lock()
            .expect("delivery error lock")
            .clone();
        bail!(
            "{failed} of {events} events were not acknowledged; the first: {}",
            first.unwrap_or_default()
        );
    }
    Ok((took, Expected::of(&mix)))
}

/// One drain of the topic by a bare consumer.
#[derive(Debug)]
pub(super) struct DrainRun {
    /// From subscribing to the last record.
    pub(super) wall: Duration,
    /// From subscribing to the first record: joining the group.
    pub(super) first_record: Duration,
}

/// Drains `events` records with a consumer in the fresh group `group`,
/// configured as the pipeline's source is, doing nothing with them.
pub(super) fn drain(fixture: &BrokerFixture, events: u64, group: &str) -> anyhow::Result<DrainRun> {
    let consumer: BaseConsumer = consumer_config(&fixture.bootstrap(), group)
        .create()
        .context("creating the benchmark consumer")?;
    consumer.subscribe(&[TOPIC])?;
    let started = Instant::now();
    let patience = patience(events);
    let mut first_record = None;
    let mut got = 0u64;
    let mut bytes = 0usize;
    while got < events {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first_record.get_or_insert_with(|| started.elapsed());
                bytes += m.payload().map_or(0, <[u8]>::len);
                got += 1;
            }
            Some(Err(e)) => tracing::warn!(error = %e, "Benchmark consumer error."),
            None => {}
        }
        if started.elapsed() > patience {
            bail!("the bare consumer got {got} of {events} events in {patience:?}");
        }
    }
    let wall = started.elapsed();
    std::hint::black_box(bytes);
    consumer.unsubscribe();
    Ok(DrainRun {
        wall,
        first_record: first_record.unwrap_or_default(),
    })
}

/// How long to wait for `events` to pass before calling a run stuck: far
/// beyond the slowest rate measured here (20k events/s).
pub(super) fn patience(events: u64) -> Duration {
    Duration::from_secs(60 + events / 5_000)
}
