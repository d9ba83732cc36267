//! The storage contract, run against local disk in a temporary directory,
//! and against HDFS when `SLUICE_TEST_HDFS=hdfs://namenode:8020/path` is set.

use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, TimeUnit};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;

use super::*;
use crate::schema::Schema;
use crate::table::{DeadLetter, DecodeLimits, Event, TableDecoder, dead_letter_batch};

const SCHEMA: &str = "accept string, host string, user_agent string, event_type string, \
     username string, item_type string, item_quality string, inventory array<string>, \
     user_info struct<session_datetime:string, inventory:array<string>>";

const EVENT: &str = r#"{"username": "user1", "event_type": "buy_item", "Accept": "*/*", "User-Agent": "ApacheBench/2.3", "item_type": "shield", "Host": "user1.comcast.com", "inventory": ["sword", "potion"], "item_quality": "common", "user_info": {"session_datetime": "2018-08-13 02:16:20", "inventory": []}}"#;

/// 2018-08-13T02:16:20Z.
const T0: i64 = 1_534_126_580_000;
const DAY_MS: i64 = 86_400_000;
const TOPIC: &str = "events";
const PIPELINE: &str = "test";

struct Batch {
    batch: RecordBatch,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
}

impl Batch {
    fn rows(&self) -> Rows<'_> {
        Rows {
            topic: TOPIC,
            batch: &self.batch,
            partitions: &self.partitions,
            offsets: &self.offsets,
        }
    }
}

/// Reference events at (partition, offset, timestamp in ms).
fn events(at: &[(i32, i64, i64)]) -> Batch {
    let schema = Schema::parse(SCHEMA).unwrap();
    let mut decoder = TableDecoder::new("events_buy", &schema, DecodeLimits::default()).unwrap();
    let events: Vec<Event<'_>> = at
        .iter()
        .map(|&(partition, offset, timestamp_ms)| Event {
            json: EVENT.as_bytes(),
            timestamp_ms,
            partition,
            offset,
        })
        .collect();
    let decoded = decoder.decode(&events).unwrap();
    assert!(decoded.rejected.is_empty());
    Batch {
        batch: decoded.batch,
        partitions: decoded.partitions,
        offsets: decoded.offsets,
    }
}

/// Events of one partition on 2018-08-13.
fn run(partition: i32, offsets: std::ops::Range<i64>) -> Batch {
    let at: Vec<_> = offsets.map(|o| (partition, o, T0 + o)).collect();
    events(&at)
}

fn table() -> TableDir {
    TableDir::table("events_buy").unwrap()
}

fn no_metadata() -> Vec<(String, String)> {
    Vec::new()
}

/// Every file under a table but its Delta log, hidden ones too, as
/// `date=…/name` with a data file's random tag left out, sorted.
async fn all_names(lake: &Lake, dir: &TableDir) -> Vec<String> {
    let prefix = lake.dir_path(dir);
    let objects: Vec<_> = lake
        .object_store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .unwrap();
    let mut names: Vec<String> = objects
        .iter()
        .map(|o| {
            let mut parts: Vec<String> = o
                .location
                .prefix_match(&prefix)
                .unwrap()
                .map(|p| p.as_ref().to_string())
                .collect();
            let last = parts.last_mut().unwrap();
            if let Some(name) = PartName::parse(last) {
                *last = name.file_name();
            }
            parts.join("/")
        })
        .filter(|name| !name.starts_with("_delta_log/"))
        .collect();
    names.sort();
    names
}

/// The Kafka progress the table's Delta log records for this pipeline:
/// partition → last offset written.
async fn progress(lake: &Lake, dir: &TableDir) -> std::collections::BTreeMap<i32, i64> {
    let mut progress = std::collections::BTreeMap::new();
    let Some(log) = TableLog::open(lake, dir).await.unwrap() else {
        return progress;
    };
    for partition in 0..8 {
        let id = app_id(PIPELINE, TOPIC, partition, 0);
        if let Some(last) = log.txn_version(&id).await.unwrap() {
            progress.insert(partition, last);
        }
    }
    progress
}

/// A data file's name without its tag: `part-events-0-0-99.parquet`.
fn untagged(url: &str) -> String {
    let (folder, name) = url.rsplit_once('/').unwrap();
    format!("{folder}/{}", PartName::parse(name).unwrap().file_name())
}

async fn put(lake: &Lake, dir: &TableDir, name: &str, bytes: &'static [u8]) {
    let mut path = lake.dir_path(dir);
    for part in name.split('/') {
        path = path.join(part);
    }
    lake.object_store()
        .put(&path, PutPayload::from_static(bytes))
        .await
        .unwrap();
}

/// Reads a file back: its rows, and its Parquet metadata.
async fn read_back(
    lake: &Lake,
    file: &LakeFile,
) -> (Vec<RecordBatch>, ParquetRecordBatchReaderBuilder<Bytes>) {
    let bytes = lake.read(&file.path).await.unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
    let batches = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (batches, builder)
}

/// Rows in the files of a table's current version.
async fn rows_in(lake: &Lake, dir: &TableDir) -> usize {
    let mut rows = 0;
    for file in lake.files(dir).await.unwrap() {
        rows += read_back(lake, &file)
            .await
            .0
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>();
    }
    rows
}

fn spans(durable: &[Durable]) -> Vec<(i32, i64, i64)> {
    durable
        .iter()
        .map(|d| (d.partition, d.first_offset, d.last_offset))
        .collect()
}

async fn writes_readable_nested_snappy_files(lake: Lake) {
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    let lineage = vec![(
        "sluice.plugins".to_string(),
        "game_events@1.2.0".to_string(),
    )];
    let durable = writer
        .append(&table(), run(0, 0..100).rows(), &lineage)
        .await
        .unwrap();
    assert!(durable.is_empty(), "nothing is due yet");
    assert!(all_names(&lake, &table()).await.is_empty());

    let durable = writer.flush_all().await.unwrap();
    assert_eq!(spans(&durable), [(0, 0, 99)]);
    assert_eq!(durable[0].rows, 100);
    assert!(
        untagged(&durable[0].url)
            .ends_with("events_buy/date=2018-08-13/part-events-0-0-99.parquet"),
        "{}",
        durable[0].url
    );
    assert_eq!(
        all_names(&lake, &table()).await,
        ["date=2018-08-13/part-events-0-0-99.parquet"]
    );

    let files = lake.files(&table()).await.unwrap();
    let (batches, builder) = read_back(&lake, &files[0]).await;
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        100
    );
    let schema = builder.schema();
    assert!(matches!(
        schema.field_with_name("user_info").unwrap().data_type(),
        DataType::Struct(fields) if fields.len() == 2
    ));
    assert!(matches!(
        schema.field_with_name("inventory").unwrap().data_type(),
        DataType::List(_)
    ));
    assert_eq!(
        schema.field_with_name("timestamp").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let metadata = builder.metadata();
    for column in metadata.row_group(0).columns() {
        assert_eq!(column.compression(), Compression::SNAPPY);
    }
    // Nested all the way down in Parquet too: user_info.inventory.list.item.
    let leaves: Vec<String> = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.path().string())
        .collect();
    assert!(
        leaves
            .iter()
            .any(|p| p.starts_with("user_info.inventory.list.")),
        "{leaves:?}"
    );
    let kv = metadata.file_metadata().key_value_metadata().unwrap();
    assert!(
        kv.iter()
            .any(|e| e.key == "sluice.plugins" && e.value.as_deref() == Some("game_events@1.2.0"))
    );
    assert_eq!(progress(&lake, &table()).await, [(0, 99)].into());
}

async fn rolls_by_rows_without_splitting_an_offset(lake: Lake) {
    let policy = RollPolicy {
        max_rows: 10,
        ..RollPolicy::default()
    };
    let mut writer = LakeWriter::new(lake.clone(), policy, PIPELINE);
    let durable = writer
        .append(&table(), run(0, 0..25).rows(), &no_metadata())
        .await
        .unwrap();
    assert_eq!(spans(&durable), [(0, 0, 9), (0, 10, 19)]);
    assert_eq!(writer.buffered_rows(), 5);
    let durable = writer.flush_all().await.unwrap();
    assert_eq!(spans(&durable), [(0, 20, 24)]);

    // One event split into three rows stays in one file.
    let policy = RollPolicy {
        max_rows: 2,
        ..RollPolicy::default()
    };
    let mut writer = LakeWriter::new(lake.clone(), policy, PIPELINE);
    let split = events(&[
        (0, 30, T0),
        (0, 30, T0),
        (0, 30, T0),
        (0, 31, T0),
        (0, 31, T0),
    ]);
    let durable = writer
        .append(&table(), split.rows(), &no_metadata())
        .await
        .unwrap();
    assert_eq!(spans(&durable), [(0, 30, 30), (0, 31, 31)]);
    assert_eq!(durable[0].rows, 3);
    assert_eq!(progress(&lake, &table()).await[&0], 31);
}

/// Encoding runs on a pool of threads, many files at once; one
/// partition's files must still land in offset order, each commit taking
/// its progress forward, with every row once.
async fn files_land_in_offset_order_with_parallel_encoding(lake: Lake) {
    let policy = RollPolicy {
        max_rows: 7,
        ..RollPolicy::default()
    };
    let other = TableDir::table("events_other").unwrap();
    let mut writer = LakeWriter::new(lake.clone(), policy, PIPELINE);
    let mut durable = Vec::new();
    for round in 0..40i64 {
        // Three partitions interleaved in each batch, into two tables.
        let at: Vec<_> = (0..12)
            .map(|i| (i as i32 % 3, round * 4 + i / 3, T0 + round))
            .collect();
        for dir in [table(), other.clone()] {
            durable.extend(
                writer
                    .append(&dir, events(&at).rows(), &no_metadata())
                    .await
                    .unwrap(),
            );
        }
    }
    durable.extend(writer.flush_all().await.unwrap());

    for dir in [table(), other.clone()] {
        // As reported: per partition, each file starts where the last ended.
        for partition in 0..3 {
            let mine: Vec<(i64, i64)> = durable
                .iter()
                .filter(|d| d.dir == dir && d.partition == partition)
                .map(|d| (d.first_offset, d.last_offset))
                .collect();
            assert_eq!(mine.first().map(|m| m.0), Some(0), "{dir} {partition}");
            assert_eq!(mine.last().map(|m| m.1), Some(159), "{dir} {partition}");
            for pair in mine.windows(2) {
                assert_eq!(pair[1].0, pair[0].1 + 1, "{dir} {partition}: {mine:?}");
            }
        }
        // As committed: each commit moves every partition's progress forward.
        let history = TableLog::history(&lake, &dir, 1000).await.unwrap().unwrap();
        let mut last: std::collections::HashMap<String, i64> = Default::default();
        for commit in history.iter().rev() {
            for (app, offset) in &commit.progress {
                let before = last.insert(app.clone(), *offset);
                assert!(before.is_none_or(|b| b < *offset), "{dir}: {history:?}");
            }
        }
        assert_eq!(rows_in(&lake, &dir).await, 40 * 12);
        assert_eq!(
            progress(&lake, &dir).await,
            [(0, 159), (1, 159), (2, 159)].into()
        );
    }
}

async fn rolls_by_age(lake: Lake) {
    let policy = RollPolicy {
        max_age: Duration::from_secs(10),
        ..RollPolicy::default()
    };
    let mut writer = LakeWriter::new(lake.clone(), policy, PIPELINE);
    let before = Instant::now();
    assert_eq!(writer.next_due(), None);
    writer
        .append(&table(), run(0, 0..5).rows(), &no_metadata())
        .await
        .unwrap();
    let due = writer.next_due().unwrap();
    assert!(
        due >= before + Duration::from_secs(10) && due <= Instant::now() + Duration::from_secs(10)
    );
    assert!(writer.flush_due(Instant::now()).await.unwrap().is_empty());
    let durable = writer
        .flush_due(Instant::now() + Duration::from_secs(11))
        .await
        .unwrap();
    assert_eq!(spans(&durable), [(0, 0, 4)]);
    assert_eq!(writer.next_due(), None);
}

async fn rolls_by_bytes(lake: Lake) {
    let policy = RollPolicy {
        max_bytes: 1,
        ..RollPolicy::default()
    };
    let mut writer = LakeWriter::new(lake.clone(), policy, PIPELINE);
    let first = writer
        .append(&table(), run(0, 0..3).rows(), &no_metadata())
        .await
        .unwrap();
    let second = writer
        .append(&table(), run(0, 3..6).rows(), &no_metadata())
        .await
        .unwrap();
    assert_eq!(spans(&first), [(0, 0, 2)]);
    assert_eq!(spans(&second), [(0, 3, 5)]);
}

async fn splits_files_at_utc_midnight(lake: Lake) {
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    let midnight = (T0 / DAY_MS + 1) * DAY_MS;
    // A late event (offset 2) comes back to the previous day.
    let batch = events(&[
        (0, 0, midnight - 2),
        (0, 1, midnight - 1),
        (0, 2, midnight),
        (0, 3, midnight - 3),
        (0, 4, midnight + 5),
    ]);
    let mut durable = writer
        .append(&table(), batch.rows(), &no_metadata())
        .await
        .unwrap();
    durable.extend(writer.flush_all().await.unwrap());
    assert_eq!(
        spans(&durable),
        [(0, 0, 1), (0, 2, 2), (0, 3, 3), (0, 4, 4)]
    );
    assert_eq!(
        all_names(&lake, &table()).await,
        [
            "date=2018-08-13/part-events-0-0-1.parquet",
            "date=2018-08-13/part-events-0-3-3.parquet",
            "date=2018-08-14/part-events-0-2-2.parquet",
            "date=2018-08-14/part-events-0-4-4.parquet",
        ]
    );
}

async fn keeps_partitions_apart(lake: Lake) {
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    let batch = events(&[(0, 10, T0), (1, 7, T0), (0, 11, T0), (1, 8, T0), (2, 0, T0)]);
    writer
        .append(&table(), batch.rows(), &no_metadata())
        .await
        .unwrap();
    let mut durable = writer.flush_all().await.unwrap();
    durable.sort_by_key(|d| d.partition);
    assert_eq!(spans(&durable), [(0, 10, 11), (1, 7, 8), (2, 0, 0)]);
    assert_eq!(
        progress(&lake, &table()).await,
        [(0, 11), (1, 8), (2, 0)].into()
    );
}

async fn files_the_log_does_not_name_are_not_in_the_table(lake: Lake) {
    // What a crashed writer leaves: a whole file written but never
    // committed, and junk. The log names neither, so no reader sees them
    // and they say nothing about progress.
    put(
        &lake,
        &table(),
        "date=2018-08-13/part-events-0-0-7-0a1b2c3d.parquet",
        b"never committed",
    )
    .await;
    put(&lake, &table(), "date=2018-08-13/notes.txt", b"hello").await;
    assert!(progress(&lake, &table()).await.is_empty());
    assert!(lake.files(&table()).await.unwrap().is_empty());

    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    writer
        .append(&table(), run(0, 0..3).rows(), &no_metadata())
        .await
        .unwrap();
    writer.flush_all().await.unwrap();
    let files = lake.files(&table()).await.unwrap();
    assert_eq!(files.len(), 1);
    let (batches, _) = read_back(&lake, &files[0]).await;
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    assert_eq!(progress(&lake, &table()).await, [(0, 2)].into());
}

async fn progress_survives_a_restart_exactly_once(lake: Lake) {
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    for range in [0..10, 10..20] {
        writer
            .append(&table(), run(0, range).rows(), &no_metadata())
            .await
            .unwrap();
        writer.flush_all().await.unwrap();
    }
    writer
        .append(&table(), run(1, 0..5).rows(), &no_metadata())
        .await
        .unwrap();
    writer.flush_all().await.unwrap();
    assert_eq!(progress(&lake, &table()).await, [(0, 19), (1, 4)].into());

    // A restarted writer replaying from an older Kafka commit drops rows
    // already in the lake.
    drop(writer);
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    writer
        .append(&table(), run(0, 15..25).rows(), &no_metadata())
        .await
        .unwrap();
    let durable = writer.flush_all().await.unwrap();
    assert_eq!(spans(&durable), [(0, 20, 24)]);
    let mut rows = 0;
    for file in lake.files(&table()).await.unwrap() {
        if file.name.as_ref().unwrap().partition == 0 {
            rows += read_back(&lake, &file)
                .await
                .0
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>();
        }
    }
    assert_eq!(rows, 25, "every offset 0..25 exactly once");
}

async fn offsets_going_backwards_are_refused_and_replays_dropped(lake: Lake) {
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    writer
        .append(&table(), run(0, 10..20).rows(), &no_metadata())
        .await
        .unwrap();
    let mixed = events(&[(1, 0, T0), (0, 25, T0), (0, 23, T0)]);
    let err = writer
        .append(&table(), mixed.rows(), &no_metadata())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("offsets of events-0 go backwards in `events_buy`: 23 after 25"),
        "{err}"
    );
    assert!(!err.is_transient());
    // Nothing of the refused call was appended, not even partition 1.
    assert_eq!(writer.buffered_rows(), 10);

    // A replay of buffered offsets (the caller retrying) is dropped.
    writer
        .append(&table(), run(0, 15..22).rows(), &no_metadata())
        .await
        .unwrap();
    assert_eq!(writer.buffered_rows(), 12);
    let durable = writer.flush_all().await.unwrap();
    assert_eq!(spans(&durable), [(0, 10, 21)]);
}

async fn metadata_or_schema_change_starts_a_new_file(lake: Lake) {
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    let v1 = vec![("sluice.plugins".to_string(), "v1".to_string())];
    let v2 = vec![("sluice.plugins".to_string(), "v2".to_string())];
    let first = writer
        .append(&table(), run(0, 0..3).rows(), &v1)
        .await
        .unwrap();
    let second = writer
        .append(&table(), run(0, 3..6).rows(), &v2)
        .await
        .unwrap();
    assert!(first.is_empty());
    assert_eq!(spans(&second), [(0, 0, 2)]);
    let narrower = {
        let b = run(0, 6..8);
        Batch {
            batch: b.batch.project(&[0, 1, 2]).unwrap(),
            ..b
        }
    };
    let third = writer.append(&table(), narrower.rows(), &v2).await.unwrap();
    assert_eq!(spans(&third), [(0, 3, 5)]);
    let last = writer.flush_all().await.unwrap();
    assert_eq!(spans(&last), [(0, 6, 7)]);
    let mut files = lake.files(&table()).await.unwrap();
    files.sort_by_key(|f| f.name.as_ref().unwrap().first_offset);
    let (_, builder) = read_back(&lake, &files[1]).await;
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .clone();
    assert!(kv.iter().any(|e| e.value.as_deref() == Some("v2")));
    let (_, builder) = read_back(&lake, &files[2]).await;
    assert_eq!(builder.schema().fields().len(), 3);
}

async fn dead_letters_have_their_own_directory(lake: Lake) {
    let dir = TableDir::dead_letters("game_events").unwrap();
    let letter = |offset: i64| DeadLetter {
        raw_event: "not json".into(),
        table: Some("events_buy".into()),
        plugin: Some("is_purchase".into()),
        plugin_version: Some("1.0.0".into()),
        reason: "the event is not JSON".into(),
        topic: TOPIC.into(),
        partition: 2,
        offset,
        timestamp_ms: T0,
    };
    let letters = [letter(5), letter(6)];
    let batch = dead_letter_batch(&letters).unwrap();
    let partitions: Vec<i32> = letters.iter().map(|l| l.partition).collect();
    let offsets: Vec<i64> = letters.iter().map(|l| l.offset).collect();
    let rows = Rows {
        topic: TOPIC,
        batch: &batch,
        partitions: &partitions,
        offsets: &offsets,
    };
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    writer.append(&dir, rows, &no_metadata()).await.unwrap();
    let durable = writer.flush_all().await.unwrap();
    assert!(
        untagged(&durable[0].url).ends_with(
            "_dead_letters/pipeline=game_events/date=2018-08-13/part-events-2-5-6.parquet"
        ),
        "{}",
        durable[0].url
    );
    assert_eq!(progress(&lake, &dir).await, [(2, 6)].into());
    // The dead letters are not part of any table.
    assert!(progress(&lake, &table()).await.is_empty());
    assert!(lake.files(&table()).await.unwrap().is_empty());
}

async fn a_failed_publish_loses_nothing(lake: Lake) {
    let lake = lake.with_retry(Retry::never());
    // A file where the date directory should be makes every write fail.
    put(&lake, &table(), "date=2018-08-13", b"in the way").await;
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    writer
        .append(&table(), run(0, 0..4).rows(), &no_metadata())
        .await
        .unwrap();
    let err = writer.flush_all().await.unwrap_err();
    assert!(
        err.to_string().contains("events_buy/date=2018-08-13"),
        "{err}"
    );
    assert_eq!(writer.buffered_rows(), 4);
    writer
        .append(&table(), run(0, 4..6).rows(), &no_metadata())
        .await
        .unwrap_err();

    // Out of the way: the sealed file goes first, then the newer rows.
    let mut blocker = lake.dir_path(&table());
    blocker = blocker.join("date=2018-08-13");
    lake.object_store().delete(&blocker).await.unwrap();
    let mut durable = writer.flush_all().await.unwrap();
    durable.extend(writer.flush_all().await.unwrap());
    assert_eq!(spans(&durable), [(0, 0, 3), (0, 4, 5)]);
    assert_eq!(writer.buffered_rows(), 0);
}

/// The zombie from the pipeline notes: a writer paused across a rebalance
/// holds rows of a partition that another member took over and committed.
/// Its commit is refused, it drops what the other committed and lands only
/// the rest: every offset once.
async fn a_zombie_writer_is_fenced_and_adds_no_duplicate(lake: Lake) {
    let mut a = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    a.append(&table(), run(0, 0..10).rows(), &no_metadata())
        .await
        .unwrap();
    a.flush_all().await.unwrap();
    a.append(&table(), run(0, 10..35).rows(), &no_metadata())
        .await
        .unwrap();

    let mut b = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    b.append(&table(), run(0, 10..30).rows(), &no_metadata())
        .await
        .unwrap();
    assert_eq!(spans(&b.flush_all().await.unwrap()), [(0, 10, 29)]);

    let durable = a.flush_all().await.unwrap();
    assert_eq!(
        spans(&durable),
        [(0, 30, 34)],
        "the zombie lands only 30..35"
    );
    assert_eq!(progress(&lake, &table()).await, [(0, 34)].into());
    let mut held: Vec<(i64, i64)> = Vec::new();
    for file in lake.files(&table()).await.unwrap() {
        let name = file.name.clone().unwrap();
        held.push((name.first_offset, name.last_offset));
    }
    held.sort();
    assert_eq!(held, [(0, 9), (10, 29), (30, 34)]);
    assert_eq!(
        rows_in(&lake, &table()).await,
        35,
        "every offset 0..35 exactly once"
    );
    // The zombie's refused file is gone from the folder too.
    assert_eq!(all_names(&lake, &table()).await.len(), 3);
}

/// The same zombie, but it reads the table after the new owner committed
/// (a batch of another partition comes by first): delta-rs sees no
/// conflict then, as the other commit is in its snapshot. The writer's own
/// check of the recorded progress drops the rows all the same.
async fn a_zombie_that_read_the_table_since_is_fenced_too(lake: Lake) {
    let mut a = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    a.append(&table(), run(0, 0..10).rows(), &no_metadata())
        .await
        .unwrap();
    a.flush_all().await.unwrap();
    a.append(&table(), run(0, 10..35).rows(), &no_metadata())
        .await
        .unwrap();
    let mut b = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    b.append(&table(), run(0, 10..30).rows(), &no_metadata())
        .await
        .unwrap();
    b.flush_all().await.unwrap();
    a.append(&table(), run(1, 0..5).rows(), &no_metadata())
        .await
        .unwrap();
    let mut durable = spans(&a.flush_all().await.unwrap());
    durable.sort();
    assert_eq!(durable, [(0, 30, 34), (1, 0, 4)]);
    assert_eq!(progress(&lake, &table()).await, [(0, 34), (1, 4)].into());
    assert_eq!(
        rows_in(&lake, &table()).await,
        40,
        "offsets 0..35 of partition 0 and 0..5 of 1, once"
    );
}

/// The topic was recreated: its partition ends before the offset the
/// table records. The writer refuses, naming both offsets and the setting
/// that resolves it, and drops nothing; under the next incarnation the
/// new offsets are recorded afresh beside the old rows.
async fn a_reset_topic_is_refused_until_a_new_incarnation(lake: Lake) {
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    writer
        .append(&table(), run(0, 0..20).rows(), &no_metadata())
        .await
        .unwrap();
    writer.flush_all().await.unwrap();
    drop(writer);

    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    writer.partition_ends_at(TOPIC, 0, 5);
    let err = writer
        .append(&table(), run(0, 0..3).rows(), &no_metadata())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LakeError::TopicReset {
                recorded: 19,
                end: 5,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    for needle in [
        "records offset 19 of events-0",
        "ends at 5",
        "incarnation = 1",
        "[source]",
    ] {
        assert!(text.contains(needle), "`{needle}` in: {text}");
    }
    assert_eq!(writer.buffered_rows(), 0);

    let mut writer =
        LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE).with_incarnation(1);
    writer.partition_ends_at(TOPIC, 0, 5);
    writer
        .append(&table(), run(0, 0..3).rows(), &no_metadata())
        .await
        .unwrap();
    assert_eq!(spans(&writer.flush_all().await.unwrap()), [(0, 0, 2)]);
    let log = TableLog::open(&lake, &table()).await.unwrap().unwrap();
    let new = log
        .txn_version(&app_id(PIPELINE, TOPIC, 0, 1))
        .await
        .unwrap();
    assert_eq!(new, Some(2));
    assert_eq!(
        progress(&lake, &table()).await,
        [(0, 19)].into(),
        "the old life's stays"
    );
    assert_eq!(rows_in(&lake, &table()).await, 23);
}

/// A lake written by sluice before Delta: files named for their offsets,
/// no log. `convert` registers them in place, takes the progress from their
/// names, and the writer carries on from it.
async fn convert_makes_an_earlier_lake_delta_in_place(lake: Lake) {
    let metadata = vec![
        ("sluice.pipeline".to_string(), PIPELINE.to_string()),
        (SCHEMA_KEY.to_string(), SCHEMA.to_string()),
    ];
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    for (partition, range) in [(0, 0..10), (0, 10..20), (1, 0..5)] {
        writer
            .append(&table(), run(partition, range).rows(), &metadata)
            .await
            .unwrap();
        writer.flush_all().await.unwrap();
    }
    drop(writer);
    // As the previous version left it: untagged names, no `_delta_log`.
    let store = lake.object_store();
    for file in lake.files(&table()).await.unwrap() {
        let old = file.name.as_ref().unwrap().file_name();
        let (folder, _) = file.path.as_ref().rsplit_once('/').unwrap();
        let to = object_store::path::Path::from(format!("{folder}/{old}"));
        store.rename(&file.path, &to).await.unwrap();
    }
    let log = lake.dir_path(&table()).join("_delta_log");
    let entries: Vec<_> = store.list(Some(&log)).try_collect().await.unwrap();
    for entry in entries {
        store.delete(&entry.location).await.unwrap();
    }
    let before = all_names(&lake, &table()).await;
    assert_eq!(unconverted(&lake).await.unwrap(), [table()]);

    let done = convert_lake(&lake).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].files, 3);
    let key = |p: i32| (PIPELINE.to_string(), TOPIC.to_string(), p);
    assert_eq!(done[0].progress, [(key(0), 19), (key(1), 4)].into());
    assert_eq!(progress(&lake, &table()).await, [(0, 19), (1, 4)].into());
    assert_eq!(all_names(&lake, &table()).await, before, "nothing copied");
    assert!(unconverted(&lake).await.unwrap().is_empty());
    assert_eq!(
        lake.recorded_schema(&table()).await.unwrap().as_deref(),
        Some(SCHEMA)
    );

    // Cut off between its two commits: the files are registered, the
    // schema is not. It is unconverted still, and converting again
    // finishes it.
    let second = log.clone().join("00000000000000000001.json");
    store.delete(&second).await.unwrap();
    assert_eq!(lake.recorded_schema(&table()).await.unwrap(), None);
    assert_eq!(unconverted(&lake).await.unwrap(), [table()]);
    let done = convert_lake(&lake).await.unwrap();
    assert_eq!((done.len(), done[0].files, done[0].resumed), (1, 3, true));
    assert_eq!(
        lake.recorded_schema(&table()).await.unwrap().as_deref(),
        Some(SCHEMA)
    );
    assert!(unconverted(&lake).await.unwrap().is_empty());
    assert_eq!(progress(&lake, &table()).await, [(0, 19), (1, 4)].into());

    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    writer
        .append(&table(), run(0, 15..25).rows(), &metadata)
        .await
        .unwrap();
    assert_eq!(spans(&writer.flush_all().await.unwrap()), [(0, 20, 24)]);
}

/// Enough flushes for checkpoints: each commit is the kernel's append, and
/// what it writes is whole Delta to delta-rs (statistics, progress, the
/// commit's own fields) and to a fresh reader after the checkpoints.
async fn a_long_log_is_checkpointed_and_read_back_whole(lake: Lake) {
    let mut writer = LakeWriter::new(lake.clone(), RollPolicy::default(), PIPELINE);
    let plugins = vec![("sluice.plugins".to_string(), "is_purchase@1#ab".to_string())];
    for flush in 0..25 {
        writer
            .append(&table(), run(0, flush * 2..flush * 2 + 2).rows(), &plugins)
            .await
            .unwrap();
        writer.flush_all().await.unwrap();
    }
    let names = all_log_names(&lake, &table()).await;
    // One checkpoint per `delta.checkpointInterval` (10) commits.
    let checkpoints = names
        .iter()
        .filter(|n| n.ends_with(".checkpoint.parquet"))
        .count();
    assert_eq!(checkpoints, 2, "{names:?}");
    assert!(names.iter().any(|n| n == "_last_checkpoint"), "{names:?}");
    let log = TableLog::open(&lake, &table()).await.unwrap().unwrap();
    let files = log.files().unwrap();
    assert_eq!(files.len(), 25);
    assert!(files.iter().all(|f| f.rows == Some(2)), "{files:?}");
    assert_eq!(progress(&lake, &table()).await, [(0, 49)].into());
    assert_eq!(rows_in(&lake, &table()).await, 50);
    let last = &TableLog::history(&lake, &table(), 1)
        .await
        .unwrap()
        .unwrap()[0];
    assert_eq!(last.operation, "WRITE");
    assert_eq!(last.pipeline.as_deref(), Some(PIPELINE));
    assert_eq!(last.plugins, ["is_purchase@1#ab"]);
    assert_eq!((last.files_added, last.rows_added), (1, 2));
    assert_eq!(last.progress, [(app_id(PIPELINE, TOPIC, 0, 0), 49)]);
}

/// The names in a table's `_delta_log/`.
async fn all_log_names(lake: &Lake, dir: &TableDir) -> Vec<String> {
    let prefix = lake.dir_path(dir).clone().join("_delta_log");
    let objects: Vec<_> = lake
        .object_store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .unwrap();
    objects
        .iter()
        .filter_map(|o| o.location.filename().map(str::to_string))
        .collect()
}

macro_rules! storage_contract {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let lake = super::Lake::open(dir.path().to_str().unwrap()).await.unwrap();
                    super::$name(lake).await;
                }
            )*
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn storage_contract_on_hdfs() {
            let Ok(base) = std::env::var("SLUICE_TEST_HDFS") else {
                println!("skipped: set SLUICE_TEST_HDFS=hdfs://namenode:8020/path to run the storage contract on HDFS");
                return;
            };
            let run = format!(
                "{}/sluice-test-{}-{}",
                base.trim_end_matches('/'),
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
            );
            $(
                let lake = Lake::open(&format!("{run}/{}", stringify!($name))).await.unwrap();
                println!("HDFS: {}", stringify!($name));
                $name(lake).await;
            )*
        }
    };
}

storage_contract!(
    writes_readable_nested_snappy_files,
    rolls_by_rows_without_splitting_an_offset,
    files_land_in_offset_order_with_parallel_encoding,
    rolls_by_age,
    rolls_by_bytes,
    splits_files_at_utc_midnight,
    keeps_partitions_apart,
    files_the_log_does_not_name_are_not_in_the_table,
    progress_survives_a_restart_exactly_once,
    offsets_going_backwards_are_refused_and_replays_dropped,
    metadata_or_schema_change_starts_a_new_file,
    dead_letters_have_their_own_directory,
    a_failed_publish_loses_nothing,
    a_zombie_writer_is_fenced_and_adds_no_duplicate,
    a_zombie_that_read_the_table_since_is_fenced_too,
    convert_makes_an_earlier_lake_delta_in_place,
    a_reset_topic_is_refused_until_a_new_incarnation,
    a_long_log_is_checkpointed_and_read_back_whole,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_that_cannot_be_written_fails_at_open_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let lake = file.join("lake");
    let err = Lake::open(lake.to_str().unwrap()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "lake directory `{}` is not writable",
            lake.display()
        )),
        "{message}"
    );
    assert!(!err.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_opened_to_read_is_never_created_or_written() {
    let dir = tempfile::tempdir().unwrap();
    // Missing: an error naming it, and still missing afterwards.
    let missing = dir.path().join("no-lake");
    let err = Lake::open_to_read(missing.to_str().unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "lake directory `{}` cannot be read",
            missing.display()
        )),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(!missing.exists());
    // A file is not a lake.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let err = Lake::open_to_read(file.to_str().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be read"), "{err}");
    // An existing lake opens without a write probe: its directory is not
    // touched (a probe written and deleted would change its mtime).
    let lake_dir = dir.path().join("lake");
    std::fs::create_dir(&lake_dir).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let before = std::fs::metadata(&lake_dir).unwrap().modified().unwrap();
    let lake = Lake::open_to_read(lake_dir.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(lake.url(), format!("file://{}", lake_dir.display()));
    let after = std::fs::metadata(&lake_dir).unwrap().modified().unwrap();
    assert_eq!(before, after);
    // Lake::open does write its probe there: the check above can fail.
    std::thread::sleep(std::time::Duration::from_millis(20));
    Lake::open(lake_dir.to_str().unwrap()).await.unwrap();
    let written = std::fs::metadata(&lake_dir).unwrap().modified().unwrap();
    assert_ne!(after, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_urls_pick_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/lake", dir.path().display());
    let lake = Lake::open(&url).await.unwrap();
    assert_eq!(lake.url(), url);
    assert_eq!(lake.object_store_url(), "file://");
    assert_eq!(
        lake.table_url(&TableDir::table("events_buy").unwrap()),
        format!("{url}/events_buy")
    );
    assert!(dir.path().join("lake").is_dir());

    for bad in ["s3://bucket/lake", "file://relative", ""] {
        let err = Lake::open(bad).await.unwrap_err();
        assert!(matches!(err, LakeError::InvalidUrl { .. }), "{bad}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hdfs_is_a_transient_error() {
    // Nothing listens on port 1.
    let err = Lake::open("hdfs://127.0.0.1:1/lake").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("hdfs://127.0.0.1:1/lake"), "{err}");
}

/// A commit's storage trouble through the Delta kernel (the writer's
/// appends) is retried as delta-rs's was; a missing file is not.
#[test]
fn kernel_storage_errors_are_transient_as_delta_rs_ones() {
    let delta = |source: delta_kernel::Error| LakeError::Delta {
        op: "commit to",
        table: "events_buy".to_string(),
        source: Box::new(deltalake::DeltaTableError::KernelError(source)),
    };
    let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let store = delta_kernel::Error::ObjectStore(object_store::Error::Generic {
        store: "HDFS",
        source: Box::new(refused()),
    });
    assert!(delta(store).is_transient());
    assert!(delta(delta_kernel::Error::IOError(refused())).is_transient());
    let missing = delta_kernel::Error::FileNotFound("_delta_log/00000000000000000007.json".into());
    assert!(!delta(missing).is_transient());
}

#[derive(Debug)]
struct Flaky(bool);

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "flaky (transient: {})", self.0)
    }
}

impl Transient for Flaky {
    fn is_transient(&self) -> bool {
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_repeats_transient_failures_only() {
    let retry = Retry {
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        give_up_after: Some(Duration::from_secs(5)),
    };
    let mut calls = 0;
    let value = retry
        .run("test", || {
            calls += 1;
            let result = if calls < 4 {
                Err(Flaky(true))
            } else {
                Ok(calls)
            };
            async move { result }
        })
        .await
        .unwrap();
    assert_eq!(value, 4);

    let mut calls = 0;
    let err = retry
        .run("test", || {
            calls += 1;
            async { Err::<(), _>(Flaky(false)) }
        })
        .await
        .unwrap_err();
    assert!(!err.0);
    assert_eq!(calls, 1);

    let brief = Retry {
        give_up_after: Some(Duration::from_millis(20)),
        ..retry
    };
    let started = Instant::now();
    let err = brief
        .run("test", || async { Err::<(), _>(Flaky(true)) })
        .await
        .unwrap_err();
    assert!(err.0);
    assert!(started.elapsed() < Duration::from_secs(1));
}
