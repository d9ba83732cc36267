//! The log against real segment files in a temporary directory: appends and
//! reads across segments, crashes (a log dropped without closing, files
//! damaged by hand), retention, idempotent producers across restarts, and
//! the batches it must refuse.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tansu_sans_io::ErrorCode;
use tansu_sans_io::record::deflated;

use super::batch::{BatchHeader, HEADER_LEN, crc_of, to_deflated};
use super::*;
use crate::broker::meta::{META_FILE, Metadata};

const TOPIC: &str = "events";

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut v = zigzag(v);
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The records of a batch in Kafka's v2 encoding.
fn encode_records(values: &[Vec<u8>], timestamp_step: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let mut body = vec![0u8]; // attributes
        varint(&mut body, i as i64 * timestamp_step);
        varint(&mut body, i as i64);
        varint(&mut body, -1); // no key
        varint(&mut body, value.len() as i64);
        body.extend_from_slice(value);
        varint(&mut body, 0); // no headers
        varint(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    out
}

/// A producer's batch as tansu hands it to the log.
#[derive(Clone, Copy)]
struct Spec {
    producer: Option<(i64, i16, i32)>,
    timestamp: i64,
    codec: i16,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            producer: None,
            timestamp: 1_700_000_000_000,
            codec: 0,
        }
    }
}

fn batch_of(values: &[Vec<u8>], spec: Spec) -> deflated::Batch {
    let raw = encode_records(values, 1);
    let records = match spec.codec {
        0 => raw,
        4 => zstd::encode_all(&raw[..], 1).unwrap(),
        other => panic!("codec {other} not used here"),
    };
    let (producer_id, producer_epoch, base_sequence) = spec.producer.unwrap_or((-1, -1, -1));
    let mut header = BatchHeader {
        base_offset: 0,
        batch_length: (HEADER_LEN - 12 + records.len()) as i32,
        magic: 2,
        crc: 0,
        attributes: spec.codec,
        last_offset_delta: values.len() as i32 - 1,
        base_timestamp: spec.timestamp,
        max_timestamp: spec.timestamp + values.len() as i64 - 1,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count: values.len() as i32,
    };
    header.crc = crc_of(&header.encode(), &records);
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(&records);
    to_deflated(&header, Bytes::from(bytes))
}

fn values(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{i:0size$}").into_bytes()).collect()
}

fn settings(segment_bytes: u64) -> LogSettings {
    LogSettings {
        flush: FlushPolicy::Never,
        defaults: TopicConfig {
            segment_bytes,
            ..TopicConfig::default()
        },
    }
}

fn open(dir: &Path, settings: LogSettings) -> Log {
    let meta = Arc::new(Metadata::open(&dir.join(META_FILE)).unwrap());
    Log::open(&dir.join("log"), meta, settings).unwrap()
}

fn open_with_topic(dir: &Path, settings: LogSettings, partitions: i32) -> Log {
    let log = open(dir, settings);
    if log.topic(TOPIC).is_none() {
        log.create_topic(TOPIC, partitions, BTreeMap::new(), false)
            .unwrap();
    }
    log
}

fn append(log: &Log, batch: &deflated::Batch) -> Result<i64, ProduceError> {
    futures::executor::block_on(log.append(TOPIC, 0, batch))
}

/// Every offset readable from `from`, by walking fetches as a consumer does.
fn offsets_from(log: &Log, from: i64, max_bytes: usize) -> Vec<i64> {
    let partition = log.partition(TOPIC, 0).unwrap();
    let (_, end) = partition.bounds();
    let mut next = from;
    let mut seen = Vec::new();
    while next < end {
        let fetched = partition.read(next, max_bytes).unwrap();
        assert!(!fetched.batches.is_empty(), "no batch at {next} of {end}");
        for b in &fetched.batches {
            for offset in b.base_offset..=b.base_offset + i64::from(b.last_offset_delta) {
                if offset >= next {
                    seen.push(offset);
                }
            }
            next = b.base_offset + i64::from(b.last_offset_delta) + 1;
        }
    }
    seen
}

#[test]
fn batches_get_consecutive_offsets_and_read_back_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_topic(dir.path(), settings(2048), 1);
    let mut bases = Vec::new();
    for _ in 0..50 {
        bases.push(append(&log, &batch_of(&values(5, 40), Spec::default())).unwrap());
    }
    assert_eq!(bases, (0..50).map(|i| i * 5).collect::<Vec<_>>());
    let files = std::fs::read_dir(dir.path().join("log/events-0"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert!(files > 5, "2 KiB segments roll: {files} segments");
    assert_eq!(offsets_from(&log, 0, 1000), (0..250).collect::<Vec<_>>());
    // A read from inside a batch starts with the batch holding it.
    let partition = log.partition(TOPIC, 0).unwrap();
    let fetched = partition.read(123, 1).unwrap();
    assert_eq!(
        fetched.batches.len(),
        1,
        "max_bytes 1 still gives a whole batch"
    );
    assert_eq!(fetched.batches[0].base_offset, 120);
    assert_eq!(
        partition.read(250, 1000).unwrap().batches.len(),
        0,
        "the high watermark is empty"
    );
    assert!(matches!(
        partition.read(251, 1000),
        Err(ReadError::OutOfRange {
            high_watermark: 250,
            ..
        })
    ));
}

#[test]
fn a_batch_larger_than_the_fetch_comes_whole() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_topic(dir.path(), settings(1 << 30), 1);
    log.alter_topic(
        TOPIC,
        &[("max.message.bytes".into(), Some((20 << 20).to_string()))],
    )
    .unwrap();
    append(&log, &batch_of(&values(1, 10), Spec::default())).unwrap();
    let big = vec![vec![b'x'; 10 << 20]];
    assert_eq!(append(&log, &batch_of(&big, Spec::default())).unwrap(), 1);
    let fetched = log.partition(TOPIC, 0).unwrap().read(1, 1 << 20).unwrap();
    assert_eq!(fetched.batches.len(), 1);
    assert!(fetched.bytes > 10 << 20, "{} bytes", fetched.bytes);
}

#[test]
fn a_crash_mid_write_leaves_a_torn_tail_that_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_with_topic(dir.path(), settings(1 << 30), 1);
        for _ in 0..10 {
            append(&log, &batch_of(&values(3, 20), Spec::default())).unwrap();
        }
        // Dropped without `close`: what kill -9 leaves.
    }
    let segment = dir.path().join("log/events-0/00000000000000000000.log");
    let whole = std::fs::metadata(&segment).unwrap().len();
    // Half a batch, as a write cut short.
    let partial = batch_of(&values(3, 20), Spec::default());
    let mut bytes = BatchHeader::of(&partial, 30).encode().to_vec();
    bytes.extend_from_slice(&partial.record_data[..10]);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    std::io::Write::write_all(&mut file, &bytes).unwrap();
    drop(file);

    let log = open_with_topic(dir.path(), settings(1 << 30), 1);
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        whole,
        "the torn tail is gone"
    );
    assert_eq!(log.partition(TOPIC, 0).unwrap().bounds(), (0, 30));
    assert_eq!(
        append(&log, &batch_of(&values(2, 20), Spec::default())).unwrap(),
        30
    );
    assert_eq!(offsets_from(&log, 0, 1 << 20), (0..32).collect::<Vec<_>>());
}

#[test]
fn a_corrupt_batch_in_the_middle_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_with_topic(dir.path(), settings(1 << 30), 1);
        for _ in 0..10 {
            append(&log, &batch_of(&values(3, 20), Spec::default())).unwrap();
        }
    }
    let segment = dir.path().join("log/events-0/00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let batch_len = bytes.len() / 10;
    bytes[batch_len * 4 + 70] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();

    let meta = Arc::new(Metadata::open(&dir.path().join(META_FILE)).unwrap());
    let error = Log::open(&dir.path().join("log"), meta, settings(1 << 30)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("00000000000000000000.log"), "{message}");
    assert!(
        message.contains(&format!("byte {}", batch_len * 4)),
        "{message}"
    );
    assert!(message.contains("CRC"), "{message}");
    assert_eq!(std::fs::read(&segment).unwrap(), bytes, "nothing is cut");
}

#[test]
fn a_clean_close_is_trusted_and_lost_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_with_topic(dir.path(), settings(4096), 1);
        for _ in 0..40 {
            append(&log, &batch_of(&values(4, 50), Spec::default())).unwrap();
        }
        log.close().unwrap();
    }
    assert!(dir.path().join("log/.clean-shutdown").exists());
    for entry in std::fs::read_dir(dir.path().join("log/events-0")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "index") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let log = open_with_topic(dir.path(), settings(4096), 1);
    assert_eq!(log.partition(TOPIC, 0).unwrap().bounds(), (0, 160));
    assert_eq!(offsets_from(&log, 0, 5000), (0..160).collect::<Vec<_>>());
    assert_eq!(offsets_from(&log, 77, 5000), (77..160).collect::<Vec<_>>());
}

#[test]
fn retention_deletes_old_segments_and_moves_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_topic(dir.path(), settings(2048), 1);
    let old = Spec {
        timestamp: 1_000,
        ..Spec::default()
    };
    for _ in 0..20 {
        append(&log, &batch_of(&values(5, 40), old)).unwrap();
    }
    let now = Spec {
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
        ..Spec::default()
    };
    for _ in 0..20 {
        append(&log, &batch_of(&values(5, 40), now)).unwrap();
    }
    log.alter_topic(TOPIC, &[("retention.ms".into(), Some("3600000".into()))])
        .unwrap();
    log.maintain();
    let partition = log.partition(TOPIC, 0).unwrap();
    let (start, end) = partition.bounds();
    assert!(
        start > 0 && start <= 100,
        "old records go, new ones stay: start {start}"
    );
    assert_eq!(end, 200);
    assert!(matches!(
        partition.read(0, 1000),
        Err(ReadError::OutOfRange { .. })
    ));
    assert_eq!(
        offsets_from(&log, start, 1000),
        (start..200).collect::<Vec<_>>()
    );

    log.alter_topic(TOPIC, &[("retention.bytes".into(), Some("3000".into()))])
        .unwrap();
    log.maintain();
    let (start, _) = partition.bounds();
    assert!(start >= 100, "only about 3000 bytes stay: start {start}");
    let size = partition.size();
    assert!(
        (3000..3000 + 2048 + 300).contains(&size),
        "{size} bytes stay"
    );
}

#[test]
fn a_retried_batch_is_acknowledged_once_even_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let idempotent = |sequence| Spec {
        producer: Some((7, 0, sequence)),
        ..Spec::default()
    };
    {
        let log = open_with_topic(dir.path(), settings(1024), 1);
        for i in 0..10 {
            assert_eq!(
                append(&log, &batch_of(&values(3, 30), idempotent(i * 3))).unwrap(),
                i64::from(i) * 3
            );
        }
        // The last ack was lost: the producer sends the batch again.
        assert_eq!(
            append(&log, &batch_of(&values(3, 30), idempotent(27))).unwrap(),
            27
        );
        assert_eq!(log.partition(TOPIC, 0).unwrap().bounds().1, 30);
    }
    // A crash (no close); the producer retries again after the restart.
    let log = open_with_topic(dir.path(), settings(1024), 1);
    assert_eq!(
        append(&log, &batch_of(&values(3, 30), idempotent(27))).unwrap(),
        27
    );
    assert_eq!(
        log.partition(TOPIC, 0).unwrap().bounds().1,
        30,
        "no second copy"
    );
    let gap = append(&log, &batch_of(&values(1, 30), idempotent(40))).unwrap_err();
    assert_eq!(gap.code(), ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(
        append(&log, &batch_of(&values(1, 30), idempotent(30))).unwrap(),
        30
    );
    // A bumped epoch starts again at sequence 0.
    let bumped = Spec {
        producer: Some((7, 1, 0)),
        ..Spec::default()
    };
    assert_eq!(append(&log, &batch_of(&values(1, 30), bumped)).unwrap(), 31);
    let fenced = append(&log, &batch_of(&values(1, 30), idempotent(31))).unwrap_err();
    assert_eq!(fenced.code(), ErrorCode::InvalidProducerEpoch);
}

#[test]
fn bad_batches_are_refused_with_kafkas_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_topic(dir.path(), settings(1 << 30), 1);
    log.alter_topic(
        TOPIC,
        &[("max.message.bytes".into(), Some((1 << 20).to_string()))],
    )
    .unwrap();
    let too_big = batch_of(&[vec![b'x'; 2 << 20]], Spec::default());
    assert_eq!(
        append(&log, &too_big).unwrap_err().code(),
        ErrorCode::MessageTooLarge
    );

    let mut damaged = batch_of(&values(2, 10), Spec::default());
    let mut records = damaged.record_data.to_vec();
    records[3] ^= 1;
    damaged.record_data = Bytes::from(records);
    assert_eq!(
        append(&log, &damaged).unwrap_err().code(),
        ErrorCode::CorruptMessage
    );

    // 64 MiB of zeros in a few KiB of zstd, over the 16 MiB a 1 MiB batch
    // may inflate to: a decompression bomb.
    let bomb = batch_of(
        &[vec![0u8; 64 << 20]],
        Spec {
            codec: 4,
            ..Spec::default()
        },
    );
    assert!(bomb.record_data.len() < 100_000);
    let refused = append(&log, &bomb).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::MessageTooLarge, "{refused}");
    assert!(refused.to_string().contains("inflates"), "{refused}");

    let fine = batch_of(
        &values(100, 100),
        Spec {
            codec: 4,
            ..Spec::default()
        },
    );
    assert_eq!(
        append(&log, &fine).unwrap(),
        0,
        "nothing refused took an offset"
    );
    assert!(matches!(
        futures::executor::block_on(log.append("nope", 0, &fine)),
        Err(ProduceError::UnknownTopicOrPartition { .. })
    ));
}

#[test]
fn an_offset_is_found_by_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with_topic(dir.path(), settings(1500), 1);
    for i in 0..30 {
        let spec = Spec {
            timestamp: 1_000 + i * 10,
            ..Spec::default()
        };
        append(&log, &batch_of(&values(5, 20), spec)).unwrap();
    }
    let partition = log.partition(TOPIC, 0).unwrap();
    // Batch i holds offsets 5i.. with timestamps 1000+10i, +1, ... +4.
    assert_eq!(partition.offset_for_time(0).unwrap(), Some((0, 1_000)));
    assert_eq!(partition.offset_for_time(1_052).unwrap(), Some((27, 1_052)));
    assert_eq!(partition.offset_for_time(1_055).unwrap(), Some((30, 1_060)));
    assert_eq!(partition.offset_for_time(10_000).unwrap(), None);
}

#[test]
fn topics_and_their_configs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), settings(1 << 30));
        let configs = BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]);
        log.create_topic("a", 3, configs, false).unwrap();
        let error = log
            .create_topic("a", 3, BTreeMap::new(), false)
            .unwrap_err();
        assert_eq!(error.code(), ErrorCode::TopicAlreadyExists);
        let bad = BTreeMap::from([("cleanup.policy".to_owned(), "compact".to_owned())]);
        assert_eq!(
            log.create_topic("b", 1, bad, false).unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
        assert!(log.topic("b").is_none());
        log.create_topic("c", 1, BTreeMap::new(), false).unwrap();
        log.delete_topic("c").unwrap();
        log.close().unwrap();
    }
    let log = open(dir.path(), settings(1 << 30));
    let topic = log.topic("a").unwrap();
    assert_eq!(topic.partitions().len(), 3);
    assert_eq!(topic.config().retention_ms, 1000);
    assert!(log.topic("c").is_none());
    assert!(!dir.path().join("log/c-0").exists());
}
