//! Part 2, the broker: `sluice broker`, started by this binary as a child
//! process with its data in a fresh folder, filled by an rdkafka producer
//! (`acks=all`, idempotent), then drained by a bare rdkafka consumer that
//! does nothing with the records. The broker's CPU time and peak memory are
//! read from its own `/proc` entry, so they are the broker's alone.
//!
//! Engines side by side, on the same events: the log with its default
//! fsync (every second), the log synced before every acknowledgement, and
//! tansu's in-memory engine, the no-disk ceiling (built only with the
//! `bench-ceiling` cargo feature).

use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::ValueEnum;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::source::consumer_config;

use super::super::events::EventMix;
use super::measure::{cpu_of, peak_rss_of};
use super::{Expected, TOPIC, WorkDir};

/// A storage engine for the embedded broker, as the benchmark runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BrokerEngine {
    /// The log, synced to disk every second (the default).
    Log,
    /// The log, synced before each produce is acknowledged.
    LogFsync,
    /// tansu's in-memory engine: no disk at all, the ceiling (needs a build
    /// with `--features bench-ceiling`).
    TansuMemory,
}

impl BrokerEngine {
    pub(super) fn label(self) -> &'static str {
        match self {
            BrokerEngine::Log => "log, fsync every 1 s",
            BrokerEngine::LogFsync => "log, fsync per request",
            BrokerEngine::TansuMemory => "tansu in-memory (ceiling)",
        }
    }

    /// Whether this binary can run it.
    pub(super) fn built(self) -> bool {
        self != BrokerEngine::TansuMemory || cfg!(feature = "bench-ceiling")
    }
}

/// `sluice broker` as a child process; stopped (SIGTERM) when dropped.
pub(super) struct BrokerProcess {
    child: Child,
    bootstrap: String,
    _work: WorkDir,
}

impl BrokerProcess {
    pub(super) fn start(engine: BrokerEngine) -> anyhow::Result<BrokerProcess> {
        let work = WorkDir::new("broker")?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let bootstrap = format!("127.0.0.1:{port}");
        let exe = std::env::current_exe().context("finding this sluice binary")?;
        let data = work.path().join("data");
        let mut command = Command::new(exe);
        command
            .args(["broker", "--broker-listen", &bootstrap, "--data"])
            .arg(&data)
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(work.path().join("broker.log"))?);
        match engine {
            BrokerEngine::Log => {}
            BrokerEngine::LogFsync => {
                command.args(["--log-flush", "request"]);
            }
            BrokerEngine::TansuMemory => {
                command.args(["--engine", "tansu-memory"]);
            }
        }
        let mut child = command.spawn().context("starting `sluice broker`")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            let log = std::fs::read_to_string(work.path().join("broker.log")).unwrap_or_default();
            bail!("`sluice broker` ({}) did not start: {log}", engine.label());
        }
        Ok(BrokerProcess {
            child,
            bootstrap,
            _work: work,
        })
    }

    pub(super) fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// CPU seconds (user + system) the broker process has used so far.
    pub(super) fn cpu(&self) -> f64 {
        cpu_of(self.child.id())
    }

    /// The broker's peak resident memory so far.
    pub(super) fn peak_rss(&self) -> Option<u64> {
        peak_rss_of(self.child.id())
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("warning: the benchmark broker did not stop within 30 s; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
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
/// the partitions, idempotent with `acks=all`, and waits until every one is
/// acknowledged. Returns the time taken (generation included) and what the
/// lake should get from them.
pub(super) fn produce(
    bootstrap: &str,
    events: u64,
    seed: u64,
) -> anyhow::Result<(Duration, Expected)> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
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
pub(super) fn drain(bootstrap: &str, events: u64, group: &str) -> anyhow::Result<DrainRun> {
    let consumer: BaseConsumer = consumer_config(bootstrap, group)
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
