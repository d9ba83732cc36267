//! The source against librdkafka's mock cluster: rebalances are the fault
//! injected here.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::{Delivery, DurableOffsets, KafkaSource, PartitionKey, consumer_config, inbox};

const PARTITIONS: i32 = 4;

fn produce(brokers: &str, records: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for i in 0..records {
        let payload = format!(r#"{{"event_type": "join_guild", "i": {i}}}"#);
        let mut record = BaseRecord::<(), _>::to("events")
            .payload(&payload)
            .partition(i as i32 % PARTITIONS);
        while let Err((_, back)) = producer.send(record) {
            producer.poll(Duration::from_millis(10));
            record = back;
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// What one pipeline saw: batches holding records of partitions it did not
/// own at the time, and how many revocations came.
#[derive(Debug, Default)]
struct Seen {
    stray_records: usize,
    revocations: usize,
    records: usize,
    partitions: std::collections::BTreeSet<i32>,
}

/// A pipeline's end of the channel that only checks ownership. A `stuck`
/// one takes its first batch, then nothing until some pipeline has seen a
/// revocation: the source holds a batch for it meanwhile.
fn pipeline(
    inbox: Receiver<Delivery>,
    stuck: bool,
    revoked: Arc<AtomicUsize>,
    batches: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut owned: HashSet<PartitionKey> = HashSet::new();
        let mut seen = Seen::default();
        while let Ok(delivery) = inbox.recv() {
            match delivery {
                Delivery::Assigned(parts) => owned.extend(parts.into_iter().map(|(key, _)| key)),
                Delivery::Revoked(parts, ack) => {
                    for p in &parts {
                        owned.remove(p);
                    }
                    seen.revocations += 1;
                    revoked.fetch_add(1, Ordering::Relaxed);
                    let _ = ack.send(());
                }
                Delivery::Batch(batch) => {
                    for i in 0..batch.events.len() {
                        let key = (batch.topic.clone(), batch.events.meta(i).partition);
                        seen.partitions.insert(key.1);
                        if !owned.contains(&key) {
                            seen.stray_records += 1;
                        }
                    }
                    seen.records += batch.events.len();
                    batches.fetch_add(1, Ordering::Relaxed);
                    while stuck && revoked.load(Ordering::Relaxed) == 0 {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                Delivery::Shutdown(ack) => {
                    let _ = ack.send(());
                    break;
                }
            }
        }
        seen
    })
}

/// The review's case: the source holds a batch for a slow pipeline (the
/// fast one has it already) when a second member joins and the rebalance
/// callback revokes every partition inside `poll()`. The held records must
/// not reach the slow pipeline after its `Revoked`: the new owner reads
/// them too.
#[test]
fn no_record_of_a_revoked_partition_reaches_a_pipeline_after_the_revocation() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", PARTITIONS, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    produce(&brokers, 10_000);
    let (fast_tx, fast_rx) = inbox();
    let (slow_tx, slow_rx) = inbox();
    let revoked = Arc::new(AtomicUsize::new(0));
    let batches = Arc::new(AtomicUsize::new(0));
    let fast = pipeline(fast_rx, false, revoked.clone(), batches.clone());
    let slow = pipeline(slow_rx, true, revoked.clone(), batches.clone());
    let config = consumer_config(&brokers, "rebalance-test");
    let source = KafkaSource::new(
        &config,
        vec!["events".to_string()],
        100,
        vec![fast_tx, slow_tx],
        DurableOffsets::default(),
    )
    .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let running = {
        let stop = stop.clone();
        std::thread::spawn(move || source.run(&stop))
    };

    // The slow pipeline is stuck from its first batch on, so the source
    // polls while it holds a batch for it. A second member joins once the
    // source owns every partition (the group's first rebalance waits 3 s
    // for more members).
    let deadline = Instant::now() + Duration::from_secs(30);
    while batches.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let other: BaseConsumer = consumer_config(&brokers, "rebalance-test")
        .create()
        .unwrap();
    other.subscribe(&["events"]).unwrap();
    // Until both pipelines saw the revocation, and a little after.
    let deadline = Instant::now() + Duration::from_secs(60);
    while revoked.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
        let _ = other.poll(Duration::from_millis(100));
    }
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let _ = other.poll(Duration::from_millis(100));
    }
    stop.cancel();
    running.join().unwrap().unwrap();
    drop(other);
    let fast = fast.join().unwrap();
    let slow = slow.join().unwrap();
    assert!(
        fast.revocations > 0 && slow.revocations > 0,
        "no rebalance happened: {fast:?} {slow:?}"
    );
    assert!(slow.records > 0, "{slow:?}");
    assert_eq!(fast.stray_records, 0, "fast pipeline: {fast:?}");
    assert_eq!(slow.stray_records, 0, "slow pipeline: {slow:?}");
}

/// A pipeline slower than the fetcher fills librdkafka's queue; the fetcher
/// must then come back within milliseconds, not librdkafka's default second,
/// or end to end runs at one queue (32 MiB) per second.
#[test]
fn a_full_fetch_queue_is_refilled_within_milliseconds() {
    let config = consumer_config("127.0.0.1:9092", "group");
    let backoff: u64 = config
        .get("fetch.queue.backoff.ms")
        .expect("set by the source")
        .parse()
        .unwrap();
    let queue_kib: u64 = config
        .get("queued.max.messages.kbytes")
        .unwrap()
        .parse()
        .unwrap();
    assert!(backoff <= 50, "{backoff} ms");
    assert!(
        queue_kib <= 64 * 1024,
        "{queue_kib} KiB: backpressure must reach Kafka"
    );
}
