//! The lake writer: buffers rows per (table, topic, partition) as Parquet
//! in memory, and commits finished files to their Delta table, exactly once.
//!
//! Rows enter through [`LakeWriter::append`] as Arrow batches with the Kafka
//! partition and offset of every row. They are encoded into an open file per
//! (table, topic, partition) straight away, on an encoder thread
//! (`encode.rs`), compressed, so a buffer costs about what its file will. A file is sealed when it reaches
//! [`RollPolicy::max_rows`], when the open files together outgrow
//! [`RollPolicy::max_bytes`] (the largest is sealed), when it is
//! [`RollPolicy::max_age`] old, when the next row belongs to another UTC
//! day, or when the schema or metadata of the rows changes. Sealed files are
//! written into their table's folder and committed, one commit per table
//! with every sealed file of it; what leaves is a [`Durable`] for each file
//! committed, saying up to which offset the caller may commit to Kafka.
//!
//! Exactly once rests on these rules, kept here:
//! - a commit adds a table's files and, in the same Delta commit, records
//!   per Kafka partition the last offset they hold (a `txn` action, see
//!   `table_log.rs`): rows and progress are durable together;
//! - a file holds one topic-partition and a contiguous offset range, and a
//!   file boundary never splits rows of the same offset (one event a plugin
//!   split into several rows), so "offset ≤ the recorded offset" means
//!   "already written" for every row;
//! - a row at or below the last offset already taken for its partition (in
//!   the table's log, read when the partition is first seen, or buffered
//!   since) is dropped as a replay. So `append` may be retried after an
//!   error, and a restarted pipeline may replay from an older Kafka commit;
//! - a commit refused because another writer recorded progress for one of
//!   its partitions meanwhile (this writer lost the partition and is a
//!   zombie) is retried without the rows that writer already committed.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMicrosecondType};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde_json::Value;

use super::LakeError;
use super::append_log::{AppendLog, Committed, NewFile};
use super::encode::{EncodePool, FileEncoder};
use super::layout::{PartName, TableDir, app_id, check_topic, date_of, day_of, file_tag};
use super::stats::file_stats;
use super::store::{Lake, SCHEMA_KEY};

/// When an open file is sealed and published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollPolicy {
    /// Rows per file, at most (a run of rows with one offset may overshoot).
    pub max_rows: usize,
    /// Memory all open files of this writer may hold together: the Parquet
    /// bytes encoded so far plus each file's buffered row group. Past it,
    /// the largest open file is sealed. So memory stays bounded however
    /// many (table, partition) files are open, and no file grows past it.
    pub max_bytes: usize,
    /// The longest a row waits in memory before its file is published: a
    /// quiet table is still queryable within this.
    pub max_age: Duration,
}

impl Default for RollPolicy {
    fn default() -> Self {
        RollPolicy {
            max_rows: 1_000_000,
            max_bytes: 128 * 1024 * 1024,
            max_age: Duration::from_secs(10),
        }
    }
}

/// Rows bound for one table from one Kafka topic, with where each came from.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub topic: &'a str,
    /// Must have a `timestamp` column, `Timestamp(Microsecond, _)` in UTC:
    /// the `date=` directory comes from it.
    pub batch: &'a RecordBatch,
    /// The Kafka partition of each row.
    pub partitions: &'a [i32],
    /// The Kafka offset of each row; non-decreasing within a partition.
    /// All rows of one offset (an event a plugin split) come in one call:
    /// a later call's rows at that offset are taken for a replay.
    pub offsets: &'a [i64],
}

/// A file now in place: its rows survive a crash, and the caller may commit
/// `last_offset + 1` for the partition once every table reading it is past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    pub dir: TableDir,
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub rows: usize,
    /// The file's URL.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    dir: TableDir,
    topic: String,
    partition: i32,
}

/// A file being filled.
struct OpenFile {
    encoder: FileEncoder,
    schema: SchemaRef,
    metadata: Vec<(String, String)>,
    day: i64,
    first_offset: i64,
    last_offset: i64,
    /// Every row's offset, in row order: what a fenced commit trims by.
    offsets: Vec<i64>,
    rows: usize,
    opened: Instant,
}

/// A finished file waiting to be committed.
struct SealedFile {
    key: Key,
    day: i64,
    name: PartName,
    /// Written under this name in the table's folder (`None`: not yet).
    written: Option<String>,
    rows: usize,
    bytes: Bytes,
    /// Its `stats` for the Delta log.
    stats: Value,
    schema: SchemaRef,
    metadata: Vec<(String, String)>,
    offsets: Vec<i64>,
    /// When sealing began: flush latency runs from here until the file is
    /// committed (the footer, the put, the commit, any retries).
    sealing: Instant,
}

/// Writes rows into the lake's Parquet files, exactly once. One per
/// pipeline; methods take `&mut self`. Rows are encoded on the process's
/// encoder threads (`encode.rs`) while the caller goes on; sealing a file
/// waits for its encoding, and writing and committing it happen on the
/// calling task.
pub struct LakeWriter {
    lake: Lake,
    policy: RollPolicy,
    /// The pipeline writing: part of every progress app id.
    pipeline: String,
    incarnation: u32,
    open: HashMap<Key, OpenFile>,
    sealed: VecDeque<SealedFile>,
    /// Files committed since the caller last heard: kept across an error.
    unreported: Vec<Durable>,
    /// Per key seen so far: the last offset taken, in the lake or buffered.
    taken: HashMap<Key, Option<i64>>,
    /// The Delta logs of the tables written, by table name.
    logs: HashMap<String, AppendLog>,
    /// Where each (topic, partition) ended when it was assigned.
    ends: HashMap<(String, i32), i64>,
    /// Per table, the version whose progress this writer has checked its
    /// sealed files against (its own last commit, or a check after a read).
    checked: HashMap<String, u64>,
}

impl std::fmt::Debug for LakeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeWriter")
            .field("lake", &self.lake)
            .field("policy", &self.policy)
            .field("open_files", &self.open.len())
            .field("sealed_files", &self.sealed.len())
            .finish_non_exhaustive()
    }
}

impl LakeWriter {
    /// The writer of `pipeline`, whose name keys its progress in every table.
    pub fn new(lake: Lake, policy: RollPolicy, pipeline: &str) -> LakeWriter {
        LakeWriter {
            lake,
            policy,
            pipeline: pipeline.to_string(),
            incarnation: 0,
            open: HashMap::new(),
            sealed: VecDeque::new(),
            unreported: Vec::new(),
            taken: HashMap::new(),
            logs: HashMap::new(),
            checked: HashMap::new(),
            ends: HashMap::new(),
        }
    }

    /// Records progress under another incarnation: after a topic was reset,
    /// its offsets start again from nothing.
    pub fn with_incarnation(mut self, incarnation: u32) -> LakeWriter {
        self.incarnation = incarnation;
        self
    }

    fn app_id(&self, key: &Key) -> String {
        app_id(&self.pipeline, &key.topic, key.partition, self.incarnation)
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Appends rows to their open files and publishes every file that is
    /// due. `metadata` is written into the footer of the file the rows go
    /// to; rows with other metadata than the open file's start a new file,
    /// so each file's metadata (plugin versions, say) is exact.
    ///
    /// Returns the files now in place. If the rows are at fault, nothing of
    /// this call is appended. If publishing failed, the rows are kept and
    /// publishing resumes on the next call; retrying this call is harmless,
    /// its rows are then dropped as replays.
    pub async fn append(
        &mut self,
        dir: &TableDir,
        rows: Rows<'_>,
        metadata: &[(String, String)],
    ) -> Result<Vec<Durable>, LakeError> {
        let batch = rows.batch;
        let invalid = |reason: String| LakeError::InvalidRows {
            dir: dir.to_string(),
            reason,
        };
        check_topic(rows.topic)?;
        if rows.partitions.len() != batch.num_rows() || rows.offsets.len() != batch.num_rows() {
            return Err(invalid(format!(
                "{} rows, {} partitions and {} offsets",
                batch.num_rows(),
                rows.partitions.len(),
                rows.offsets.len()
            )));
        }
        let days = days_of(batch).map_err(invalid)?;

        // Group rows by partition, keeping their order.
        let mut groups: Vec<(i32, Vec<u32>)> = Vec::new();
        for (row, &partition) in rows.partitions.iter().enumerate() {
            let row = u32::try_from(row).map_err(|_| invalid("too many rows".into()))?;
            match groups.iter_mut().find(|(p, _)| *p == partition) {
                Some((_, indices)) => indices.push(row),
                None => groups.push((partition, vec![row])),
            }
        }

        // Check everything before changing anything.
        let mut plans = Vec::with_capacity(groups.len());
        for (partition, indices) in groups {
            let key = Key {
                dir: dir.clone(),
                topic: rows.topic.to_string(),
                partition,
            };
            let taken = self.first_sight(&key).await?;
            let mut previous: Option<i64> = None;
            let mut keep = Vec::with_capacity(indices.len());
            for &row in &indices {
                let offset = rows.offsets[row as usize];
                if let Some(previous) = previous.filter(|&p| offset < p) {
                    return Err(LakeError::OffsetsBackwards {
                        dir: dir.to_string(),
                        topic: rows.topic.to_string(),
                        partition,
                        previous,
                        offset,
                    });
                }
                previous = Some(offset);
                if taken.is_none_or(|t| offset > t) {
                    keep.push(row);
                }
            }
            let replayed = indices.len() - keep.len();
            plans.push((key, keep, replayed));
        }

        for (key, keep, replayed) in plans {
            if replayed > 0 {
                tracing::warn!(
                    table = %key.dir,
                    topic = %key.topic,
                    partition = key.partition,
                    replayed,
                    "Dropped rows at offsets already taken."
                );
            }
            let Some(&last) = keep.last() else {
                continue;
            };
            self.taken
                .insert(key.clone(), Some(rows.offsets[last as usize]));
            let first = keep[0] as usize;
            let part = if keep.len() == batch.num_rows() {
                batch.clone()
            } else if last as usize - first + 1 == keep.len() {
                // One run of rows (the caller grouped them by partition):
                // a view, no copy.
                batch.slice(first, keep.len())
            } else {
                take_record_batch(batch, &UInt32Array::from(keep.clone()))
                    .map_err(|e| invalid(e.to_string()))?
            };
            let offsets: Vec<i64> = keep.iter().map(|&r| rows.offsets[r as usize]).collect();
            let part_days: Vec<i64> = keep.iter().map(|&r| days[r as usize]).collect();
            // One run per UTC day, in row order.
            let mut start = 0;
            while start < part_days.len() {
                let day = part_days[start];
                let len = part_days[start..].iter().take_while(|&&d| d == day).count();
                self.append_run(
                    &key,
                    day,
                    &part.slice(start, len),
                    &offsets[start..start + len],
                    metadata,
                )?;
                start += len;
            }
        }

        self.seal_over_budget()?;
        self.seal_due(Instant::now())?;
        self.publish().await
    }

    /// Seals files older than [`RollPolicy::max_age`] at `now` and publishes
    /// them. Call it at [`LakeWriter::next_due`], so a quiet table flushes.
    pub async fn flush_due(&mut self, now: Instant) -> Result<Vec<Durable>, LakeError> {
        self.seal_due(now)?;
        self.publish().await
    }

    /// Seals and publishes every open file: at shutdown, or before giving up
    /// partitions in a consumer-group rebalance.
    pub async fn flush_all(&mut self) -> Result<Vec<Durable>, LakeError> {
        let keys: Vec<Key> = self.open.keys().cloned().collect();
        for key in keys {
            self.seal(&key)?;
        }
        self.publish().await
    }

    /// Publishes the files of `partitions` of `topic` and forgets what it
    /// knew of their progress: call it when a consumer-group rebalance takes
    /// them away, so that if they come back, their progress is read afresh
    /// from the lake (another process may have written meanwhile).
    pub async fn release(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<Durable>, LakeError> {
        let mine = |k: &Key| k.topic == topic && partitions.contains(&k.partition);
        let keys: Vec<Key> = self.open.keys().filter(|k| mine(k)).cloned().collect();
        for key in keys {
            self.seal(&key)?;
        }
        let durable = self.publish().await?;
        self.taken.retain(|k, _| !mine(k));
        Ok(durable)
    }

    /// When the oldest open file falls due; `None` with nothing open. Sealed
    /// files that failed to publish are due at once.
    pub fn next_due(&self) -> Option<Instant> {
        if !self.sealed.is_empty() {
            return Some(Instant::now());
        }
        self.open
            .values()
            .map(|f| f.opened + self.policy.max_age)
            .min()
    }

    /// Rows held in memory, open or sealed, not yet in place.
    pub fn buffered_rows(&self) -> usize {
        self.open.values().map(|f| f.rows).sum::<usize>()
            + self.sealed.iter().map(|f| f.rows).sum::<usize>()
    }

    /// The first offset of `topic`/`partition` held in memory and not yet in
    /// place, in any table: everything before it that was appended is
    /// durable. The pipeline commits no further than this.
    pub fn first_pending_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let open = self
            .open
            .iter()
            .filter(|(k, _)| k.topic == topic && k.partition == partition)
            .map(|(_, f)| f.first_offset);
        let sealed = self
            .sealed
            .iter()
            .filter(|f| f.key.topic == topic && f.key.partition == partition)
            .map(|f| f.name.first_offset);
        open.chain(sealed).min()
    }

    /// Where a partition ended (its high watermark) when it was assigned: a
    /// table recording progress at or past it is from an earlier life of
    /// the topic ([`LakeError::TopicReset`]).
    pub fn partition_ends_at(&mut self, topic: &str, partition: i32, end: i64) {
        self.ends.insert((topic.to_string(), partition), end);
    }

    /// The first time a (table, topic, partition) comes by: learns its
    /// progress from the table's Delta log, read afresh (another process
    /// may have written the partition before it came here).
    async fn first_sight(&mut self, key: &Key) -> Result<Option<i64>, LakeError> {
        if let Some(last) = self.taken.get(key) {
            return Ok(*last);
        }
        let app_id = self.app_id(key);
        let table = key.dir.table_name().to_string();
        let last = match self.logs.get_mut(&table) {
            Some(log) => {
                log.refresh().await?;
                log.txn_version(&app_id).await?
            }
            None => match AppendLog::open(&self.lake, &key.dir).await? {
                Some(log) => {
                    let last = log.txn_version(&app_id).await?;
                    self.logs.insert(table.clone(), log);
                    last
                }
                None => None,
            },
        };
        if let (Some(recorded), Some(&end)) =
            (last, self.ends.get(&(key.topic.to_string(), key.partition)))
            && recorded >= end
        {
            return Err(LakeError::TopicReset {
                table,
                pipeline: self.pipeline.to_string(),
                topic: key.topic.to_string(),
                partition: key.partition,
                recorded,
                end,
                incarnation: self.incarnation,
                next: self.incarnation + 1,
            });
        }
        self.taken.insert(key.clone(), last);
        Ok(last)
    }

    /// Appends rows of one partition and one day, splitting across files as
    /// the row limit says, but never between rows of the same offset.
    fn append_run(
        &mut self,
        key: &Key,
        day: i64,
        rows: &RecordBatch,
        offsets: &[i64],
        metadata: &[(String, String)],
    ) -> Result<(), LakeError> {
        let starts_new_file = self.open.get(key).is_some_and(|open| {
            open.day != day || open.schema != rows.schema() || open.metadata != metadata
        });
        if starts_new_file {
            self.seal(key)?;
        }
        let mut start = 0;
        while start < offsets.len() {
            if !self.open.contains_key(key) {
                let file = self.open_file(key, day, rows.schema(), metadata, offsets[start])?;
                self.open.insert(key.clone(), file);
            }
            let Some(open) = self.open.get_mut(key) else {
                break;
            };
            let room = self.policy.max_rows.saturating_sub(open.rows).max(1);
            let mut end = (start + room).min(offsets.len());
            while end < offsets.len() && offsets[end] == offsets[end - 1] {
                end += 1;
            }
            open.encoder
                .write(rows.slice(start, end - start))
                .map_err(|source| LakeError::Encode {
                    dir: key.dir.to_string(),
                    source,
                })?;
            open.offsets.extend_from_slice(&offsets[start..end]);
            open.rows += end - start;
            open.last_offset = offsets[end - 1];
            if open.rows >= self.policy.max_rows {
                self.seal(key)?;
            }
            start = end;
        }
        Ok(())
    }

    /// Seals the largest open files until all of them together fit in
    /// [`RollPolicy::max_bytes`].
    fn seal_over_budget(&mut self) -> Result<(), LakeError> {
        loop {
            let mut total = 0;
            let mut largest: Option<(usize, &Key)> = None;
            for (key, open) in &self.open {
                let size = open.encoder.size();
                total += size;
                if largest.is_none_or(|(most, _)| size > most) {
                    largest = Some((size, key));
                }
            }
            match largest {
                Some((_, key)) if total > self.policy.max_bytes => {
                    let key = key.clone();
                    self.seal(&key)?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn open_file(
        &self,
        key: &Key,
        day: i64,
        schema: SchemaRef,
        metadata: &[(String, String)],
        first_offset: i64,
    ) -> Result<OpenFile, LakeError> {
        let writer = ArrowWriter::try_new(
            Vec::new(),
            schema.clone(),
            Some(parquet_properties(metadata)),
        )
        .map_err(|source| LakeError::Encode {
            dir: key.dir.to_string(),
            source,
        })?;
        Ok(OpenFile {
            encoder: EncodePool::shared().file(writer),
            schema,
            metadata: metadata.to_vec(),
            day,
            first_offset,
            last_offset: first_offset,
            offsets: Vec::new(),
            rows: 0,
            opened: Instant::now(),
        })
    }

    fn seal_due(&mut self, now: Instant) -> Result<(), LakeError> {
        let due: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, f)| now.saturating_duration_since(f.opened) >= self.policy.max_age)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.seal(&key)?;
        }
        Ok(())
    }

    /// Finishes the open file of `key` and queues it for committing.
    fn seal(&mut self, key: &Key) -> Result<(), LakeError> {
        let Some(open) = self.open.remove(key) else {
            return Ok(());
        };
        let sealing = Instant::now();
        let encode = |source| LakeError::Encode {
            dir: key.dir.to_string(),
            source,
        };
        let (bytes, footer) = open.encoder.finish().map_err(encode)?;
        let stats = file_stats(open.schema.fields(), &footer);
        self.sealed.push_back(SealedFile {
            key: key.clone(),
            day: open.day,
            name: PartName {
                topic: key.topic.clone(),
                partition: key.partition,
                first_offset: open.first_offset,
                last_offset: open.last_offset,
            },
            written: None,
            rows: open.rows,
            bytes: Bytes::from(bytes),
            stats,
            schema: open.schema,
            metadata: open.metadata,
            offsets: open.offsets,
            sealing,
        });
        Ok(())
    }

    /// Commits sealed files, table by table in the order they were sealed;
    /// stops at the first failure, so no later file of a partition
    /// overtakes an earlier one.
    async fn publish(&mut self) -> Result<Vec<Durable>, LakeError> {
        while let Some(first) = self.sealed.front() {
            let dir = first.key.dir.clone();
            self.commit_table(&dir).await?;
        }
        Ok(std::mem::take(&mut self.unreported))
    }

    /// Writes every sealed file of `dir`'s table into its folder and
    /// commits them, with the progress of their partitions, as one version.
    async fn commit_table(&mut self, dir: &TableDir) -> Result<(), LakeError> {
        let table = dir.table_name().to_string();
        let mut mine: Vec<SealedFile> = Vec::new();
        let mut rest = VecDeque::with_capacity(self.sealed.len());
        for file in self.sealed.drain(..) {
            if file.key.dir.table_name() == table {
                mine.push(file);
            } else {
                rest.push_back(file);
            }
        }
        self.sealed = rest;
        let outcome = self.try_commit(dir, &mut mine).await;
        // What is not committed goes back in front, in order.
        for file in mine.into_iter().rev() {
            self.sealed.push_front(file);
        }
        outcome
    }

    async fn try_commit(
        &mut self,
        dir: &TableDir,
        files: &mut Vec<SealedFile>,
    ) -> Result<(), LakeError> {
        let table = dir.table_name().to_string();
        if !self.logs.contains_key(&table) {
            let newest = files.last().expect("a table with sealed files");
            let text = schema_text(&newest.metadata);
            let log =
                AppendLog::open_or_create(&self.lake, dir, &newest.schema, text.as_deref()).await?;
            self.logs.insert(table.clone(), log);
        }
        // Whether this commit already changed the table's schema.
        let mut widened = false;
        loop {
            // The fence, first line: the snapshot may already hold another
            // writer's commits for these partitions (read when this writer
            // came by another partition of the table), which delta-rs's
            // conflict check would not see, as they are not new to it.
            let version = self.logs[&table].version();
            if self.checked.get(&table) != Some(&version) {
                let mut app_ids: Vec<String> = files.iter().map(|f| self.app_id(&f.key)).collect();
                app_ids.sort();
                app_ids.dedup();
                let mut recorded = Vec::with_capacity(app_ids.len());
                for app_id in app_ids {
                    let last = self.logs[&table].txn_version(&app_id).await?;
                    recorded.push((app_id, last));
                }
                self.drop_committed(dir, files, &recorded).await?;
                self.checked.insert(table.clone(), version);
                if files.is_empty() {
                    return Ok(());
                }
            }
            for file in files.iter_mut().filter(|f| f.written.is_none()) {
                let name = file.name.tagged_file_name(&file_tag());
                let path = format!("{}/{name}", file.key.dir.partition_path(file.day));
                let writing = Instant::now();
                self.lake
                    .put_table_file(dir, &path, file.bytes.clone())
                    .await?;
                metrics::histogram!(crate::telemetry::FILE_WRITE_SECONDS, "table" => table.clone())
                    .record(writing.elapsed().as_secs_f64());
                file.written = Some(path);
            }
            let mut progress: Vec<(String, i64)> = Vec::new();
            for file in files.iter() {
                let app_id = self.app_id(&file.key);
                match progress.iter_mut().find(|(a, _)| *a == app_id) {
                    Some((_, last)) => *last = (*last).max(file.name.last_offset),
                    None => progress.push((app_id, file.name.last_offset)),
                }
            }
            let now_ms = chrono::Utc::now().timestamp_millis();
            let new_files: Vec<NewFile> = files
                .iter()
                .map(|f| NewFile {
                    path: f.written.clone().expect("written above"),
                    size: f.bytes.len() as i64,
                    partition_values: f.key.dir.partition_values(f.day),
                    stats: f.stats.clone(),
                    modified_ms: now_ms,
                })
                .collect();
            let log = self.logs.get_mut(&table).expect("opened above");
            // New columns (a plugin version that added some): a schema
            // change commit first, then the rows.
            if let Some((schema, text)) = widened_schema(log, files)? {
                if widened {
                    return Err(LakeError::Delta {
                        op: "change the schema of",
                        table,
                        source: Box::new(deltalake::DeltaTableError::Generic(
                            "the log still lacks the new columns after the schema change"
                                .to_string(),
                        )),
                    });
                }
                match log.widen(&self.lake, &schema, text.as_deref()).await? {
                    Committed::Version(_) => widened = true,
                    Committed::Conflict => log.refresh().await?,
                }
                continue;
            }
            let info = commit_info(&self.pipeline, self.incarnation, files);
            let committing = Instant::now();
            let committed = log.commit(&new_files, &progress, &info).await?;
            metrics::histogram!(crate::telemetry::COMMIT_SECONDS, "table" => table.clone())
                .record(committing.elapsed().as_secs_f64());
            match committed {
                Committed::Version(version) => {
                    self.checked.insert(table.clone(), version);
                    for file in files.drain(..) {
                        self.committed(file, version);
                    }
                    return Ok(());
                }
                // Another commit took the version: read it, and the check
                // above drops what another writer committed for these
                // partitions (the zombie fence).
                Committed::Conflict => log.refresh().await?,
            }
        }
    }

    /// After a fenced commit: drops from `files` the rows another writer
    /// recorded meanwhile (`recorded`: app id → last offset), trimming a
    /// file that holds some of them, and takes that writer's progress.
    async fn drop_committed(
        &mut self,
        dir: &TableDir,
        files: &mut Vec<SealedFile>,
        recorded: &[(String, Option<i64>)],
    ) -> Result<(), LakeError> {
        let mut kept = Vec::with_capacity(files.len());
        for mut file in files.drain(..) {
            let app_id = self.app_id(&file.key);
            let theirs = recorded
                .iter()
                .find(|(a, _)| *a == app_id)
                .and_then(|(_, v)| *v);
            let Some(theirs) = theirs.filter(|&t| t >= file.name.first_offset) else {
                kept.push(file);
                continue;
            };
            let taken = self.taken.entry(file.key.clone()).or_insert(None);
            *taken = Some(taken.map_or(theirs, |t| t.max(theirs)));
            let dropped = file.offsets.iter().filter(|&&o| o <= theirs).count();
            tracing::warn!(
                table = %file.key.dir,
                topic = %file.key.topic,
                partition = file.key.partition,
                committed_by_another = theirs,
                dropped,
                "Another writer committed this partition meanwhile (this one lost it in a rebalance); dropped the rows it already holds."
            );
            if let Some(path) = file.written.take() {
                self.lake.delete_table_file(dir, &path).await?;
            }
            if file.name.last_offset > theirs {
                file = trim(file, theirs)?;
                kept.push(file);
            }
        }
        *files = kept;
        Ok(())
    }

    fn committed(&mut self, file: SealedFile, version: u64) {
        let url = self
            .lake
            .table_file_url(&file.key.dir, file.written.as_deref().unwrap_or_default());
        metrics::histogram!(crate::telemetry::FLUSH_SECONDS, "table" => file.key.dir.to_string())
            .record(file.sealing.elapsed().as_secs_f64());
        tracing::info!(
            table = %file.key.dir,
            topic = %file.key.topic,
            partition = file.key.partition,
            first_offset = file.name.first_offset,
            last_offset = file.name.last_offset,
            rows = file.rows,
            bytes = file.bytes.len(),
            date = %date_of(file.day),
            version,
            "Committed a file."
        );
        self.unreported.push(Durable {
            dir: file.key.dir,
            topic: file.key.topic,
            partition: file.key.partition,
            first_offset: file.name.first_offset,
            last_offset: file.name.last_offset,
            rows: file.rows,
            url,
        });
    }
}

/// The Hive column list a file's rows were written with, if recorded.
fn schema_text(metadata: &[(String, String)]) -> Option<String> {
    metadata
        .iter()
        .find(|(k, _)| k == SCHEMA_KEY)
        .map(|(_, v)| v.clone())
}

/// The table's schema widened to the newest file's, when that file has
/// columns the table has not (a plugin version that added columns).
fn widened_schema(
    log: &AppendLog,
    files: &[SealedFile],
) -> Result<Option<(SchemaRef, Option<String>)>, LakeError> {
    let Some(newest) = files.last() else {
        return Ok(None);
    };
    let current = log.schema()?;
    let added = newest
        .schema
        .fields()
        .iter()
        .any(|f| current.field_with_name(f.name()).is_err());
    Ok(added.then(|| (newest.schema.clone(), schema_text(&newest.metadata))))
}

/// What a commit records about who wrote it: the pipeline, its
/// incarnation, and the plugin versions of its files.
fn commit_info(pipeline: &str, incarnation: u32, files: &[SealedFile]) -> Vec<(String, Value)> {
    let mut plugins: Vec<String> = Vec::new();
    for file in files {
        for (key, value) in &file.metadata {
            if key == "sluice.plugins" && !plugins.contains(value) {
                plugins.push(value.clone());
            }
        }
    }
    let rows: usize = files.iter().map(|f| f.rows).sum();
    vec![
        ("sluice.pipeline".to_string(), Value::from(pipeline)),
        ("sluice.incarnation".to_string(), Value::from(incarnation)),
        ("sluice.plugins".to_string(), Value::from(plugins)),
        ("sluice.rows".to_string(), Value::from(rows)),
    ]
}

/// `file` without its rows at or below `upto`: decoded from its bytes,
/// filtered and encoded again.
fn trim(file: SealedFile, upto: i64) -> Result<SealedFile, LakeError> {
    let encode = |source| LakeError::Encode {
        dir: file.key.dir.to_string(),
        source,
    };
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file.bytes.clone())
            .and_then(|b| b.build())
            .map_err(encode)?;
    let mut writer = ArrowWriter::try_new(
        Vec::new(),
        file.schema.clone(),
        Some(parquet_properties(&file.metadata)),
    )
    .map_err(encode)?;
    let mut row = 0usize;
    let mut offsets = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| encode(e.into()))?;
        let slice = &file.offsets[row..row + batch.num_rows()];
        row += batch.num_rows();
        let keep = BooleanArray::from(slice.iter().map(|&o| o > upto).collect::<Vec<_>>());
        let kept = filter_record_batch(&batch, &keep).map_err(|e| encode(e.into()))?;
        offsets.extend(slice.iter().copied().filter(|&o| o > upto));
        writer.write(&kept).map_err(encode)?;
    }
    let footer = writer.finish().map_err(encode)?;
    let bytes = std::mem::take(writer.inner_mut());
    Ok(SealedFile {
        name: PartName {
            first_offset: *offsets.first().unwrap_or(&file.name.first_offset),
            ..file.name
        },
        written: None,
        rows: offsets.len(),
        bytes: Bytes::from(bytes),
        stats: file_stats(file.schema.fields(), &footer),
        offsets,
        ..file
    })
}

/// The Parquet settings of every file, in one place: Snappy, as the
/// reference's Hive tables used; row groups capped at 1Mi rows or 128 MiB,
/// Hive's and Spark's `parquet.block.size`; dictionary encoding and page
/// statistics on (the defaults), so engines can prune, except for
/// `raw_event`: every value differs, so a dictionary is wasted hashing, and
/// min/max of whole events prune nothing.
pub(super) fn parquet_properties(metadata: &[(String, String)]) -> WriterProperties {
    let key_values = (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect()
    });
    let raw_event = ColumnPath::from(crate::table::RAW_EVENT);
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1024 * 1024))
        .set_max_row_group_bytes(Some(128 * 1024 * 1024))
        .set_key_value_metadata(key_values)
        .set_column_dictionary_enabled(raw_event.clone(), false)
        .set_column_statistics_enabled(raw_event, EnabledStatistics::None)
        .build()
}

/// The UTC day of each row, from its `timestamp` column.
fn days_of(batch: &RecordBatch) -> Result<Vec<i64>, String> {
    let column = batch
        .column_by_name(crate::table::TIMESTAMP)
        .ok_or("there is no `timestamp` column")?;
    match column.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, tz) if tz.as_deref().is_none_or(is_utc) => {}
        other => {
            return Err(format!(
                "`timestamp` is {other}, not a UTC timestamp in microseconds"
            ));
        }
    }
    let timestamps = column.as_primitive::<TimestampMicrosecondType>();
    if timestamps.null_count() > 0 {
        return Err("`timestamp` has nulls".into());
    }
    Ok(timestamps.values().iter().map(|&t| day_of(t)).collect())
}

fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "+00:00" | "Z" | "Etc/UTC")
}
