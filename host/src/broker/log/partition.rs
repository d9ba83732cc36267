//! One partition's log: its segments in offset order (the last one takes
//! appends), the log start offset, and its idempotent producers.
//!
//! Appends and the bookkeeping of reads hold the partition's lock briefly;
//! the reads themselves (`pread`) happen outside it, on a handle to the
//! segment file taken under it. A record below the high watermark never
//! changes, and a segment deleted by retention stays readable through an
//! open handle, so a read never sees a half-written or vanished batch.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tansu_sans_io::ErrorCode;
use tansu_sans_io::record::deflated;
use tracing::{info, warn};

use super::LogError;
use super::batch::{self, BatchHeader};
use super::producers::{Producers, SequenceCheck};
use super::segment::{self, Segment, TornTail, read_header};
use super::topic_config::TopicConfig;

/// The idempotent producers of a partition as of an offset: taken when a
/// segment closes and at a clean stop, so a restart replays only the batch
/// headers written after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerSnapshot {
    pub offset: i64,
    pub producers: Producers,
}

/// A batch taken into the log.
#[derive(Debug)]
pub struct Appended {
    pub base_offset: i64,
    /// A retry of a batch the log already holds: nothing was written.
    pub duplicate: bool,
    /// One past the batch's last offset.
    pub next_offset: i64,
    /// Set when this append closed a segment: the snapshot to keep.
    pub rolled: Option<ProducerSnapshot>,
}

/// Why a batch was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The producer gets this Kafka error code; the log is fine.
    #[error("{code:?}")]
    Refused { code: ErrorCode },
    /// The disk failed the write; the producer gets a storage error.
    #[error(transparent)]
    Storage(#[from] LogError),
}

/// Why a read returned no batches.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("offset {offset} is outside the log ({log_start} to {high_watermark})")]
    OutOfRange {
        offset: i64,
        log_start: i64,
        high_watermark: i64,
    },
    #[error(transparent)]
    Storage(#[from] LogError),
}

/// Whole batches read from one segment, starting with the one holding the
/// offset asked for.
#[derive(Debug, Default)]
pub struct Fetched {
    pub batches: Vec<deflated::Batch>,
    pub bytes: usize,
}

#[derive(Debug)]
struct State {
    segments: Vec<Segment>,
    log_start: i64,
    producers: Producers,
    /// Set when a failed write could not be cut back off the segment: no
    /// more appends until a restart recovers the segment.
    broken: Option<String>,
    /// Whether anything was appended since the last sync.
    unsynced: bool,
}

impl State {
    fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a partition always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a partition always has a segment")
    }

    fn high_watermark(&self) -> i64 {
        self.active().next_offset()
    }

    fn snapshot(&self) -> ProducerSnapshot {
        ProducerSnapshot {
            offset: self.high_watermark(),
            producers: self.producers.clone(),
        }
    }
}

#[derive(Debug)]
pub struct Partition {
    topic: String,
    index: i32,
    dir: PathBuf,
    state: Mutex<State>,
    /// Serialises syncs for the sync-per-request policy; holds the offset
    /// known to be on disk.
    synced: tokio::sync::Mutex<i64>,
}

/// What opening a partition found.
#[derive(Debug)]
pub struct Opened {
    pub partition: Partition,
    pub torn: Option<TornTail>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Partition {
    /// The folder of a partition's segments: `<topic>-<partition>`, as Kafka names it.
    pub fn dir_in(root: &Path, topic: &str, index: i32) -> PathBuf {
        root.join(format!("{topic}-{index}"))
    }

    /// A new, empty partition.
    pub fn create(root: &Path, topic: &str, index: i32) -> Result<Partition, LogError> {
        let dir = Partition::dir_in(root, topic, index);
        std::fs::create_dir_all(&dir).map_err(|source| LogError::Io {
            action: "create",
            path: dir.clone(),
            source,
        })?;
        segment::sync_dir(root)?;
        let segment = Segment::create(&dir, 0)?;
        Ok(Partition::with(
            topic,
            index,
            dir,
            vec![segment],
            0,
            Producers::default(),
        ))
    }

    fn with(
        topic: &str,
        index: i32,
        dir: PathBuf,
        segments: Vec<Segment>,
        log_start: i64,
        producers: Producers,
    ) -> Partition {
        let synced = segments.last().map_or(0, Segment::next_offset);
        Partition {
            topic: topic.to_owned(),
            index,
            dir,
            state: Mutex::new(State {
                segments,
                log_start,
                producers,
                broken: None,
                unsynced: false,
            }),
            synced: tokio::sync::Mutex::new(synced),
        }
    }

    /// Opens an existing partition. After an unclean stop (`clean` false)
    /// the last segment is read through with CRC checks and a torn tail cut
    /// off; otherwise its index files are trusted, as those of the closed
    /// segments are. Producers come from `snapshot` plus the batches after it.
    pub fn open(
        root: &Path,
        topic: &str,
        index: i32,
        clean: bool,
        snapshot: Option<ProducerSnapshot>,
        log_start: i64,
    ) -> Result<Opened, LogError> {
        let dir = Partition::dir_in(root, topic, index);
        let mut bases = segment_bases(&dir)?;
        if bases.is_empty() {
            // Every segment gone (removed by hand): start again where it ended.
            warn!(partition = %dir.display(), "No segments; starting the partition empty.");
            let segment = Segment::create(&dir, log_start)?;
            return Ok(Opened {
                partition: Partition::with(
                    topic,
                    index,
                    dir,
                    vec![segment],
                    log_start,
                    Producers::default(),
                ),
                torn: None,
            });
        }
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len());
        for pair in bases.windows(2) {
            segments.push(Segment::open_closed(&dir, pair[0], pair[1])?);
        }
        let last = *bases.last().expect("not empty");
        let (active, torn) = match clean {
            true => match open_active_clean(&dir, last) {
                Ok(segment) => (segment, None),
                Err(error) => {
                    warn!(%error, "The last segment does not match its index after a clean stop; checking every batch.");
                    Segment::recover(&dir, last)?
                }
            },
            false => Segment::recover(&dir, last)?,
        };
        segments.push(active);
        let log_start = log_start.max(segments[0].base());
        let high_watermark = segments.last().map_or(0, Segment::next_offset);
        let snapshot =
            snapshot.filter(|s| s.offset <= high_watermark && s.offset >= segments[0].base());
        let (from, mut producers) = match snapshot {
            Some(s) => (s.offset, s.producers),
            None => (segments[0].base(), Producers::default()),
        };
        replay_producers(&segments, from, &mut producers)?;
        Ok(Opened {
            partition: Partition::with(topic, index, dir, segments, log_start, producers),
            torn,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn index(&self) -> i32 {
        self.index
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Log start and high watermark.
    pub fn bounds(&self) -> (i64, i64) {
        let state = self.lock();
        (state.log_start, state.high_watermark())
    }

    /// Bytes of log held.
    #[cfg(test)]
    pub fn size(&self) -> u64 {
        self.lock().segments.iter().map(Segment::size).sum()
    }

    /// Appends a checked batch (`header` from the producer, base offset not
    /// yet set) unless it is a retry of one already held.
    pub fn append(
        &self,
        mut header: BatchHeader,
        records: &[u8],
        config: &TopicConfig,
    ) -> Result<Appended, AppendError> {
        let now = now_ms();
        let mut state = self.lock();
        if let Some(why) = &state.broken {
            return Err(LogError::Broken {
                path: self.dir.clone(),
                why: why.clone(),
            }
            .into());
        }
        match state.producers.check(&header) {
            Err(code) => return Err(AppendError::Refused { code }),
            Ok(SequenceCheck::Duplicate { base_offset }) => {
                return Ok(Appended {
                    base_offset,
                    duplicate: true,
                    next_offset: state.high_watermark(),
                    rolled: None,
                });
            }
            Ok(SequenceCheck::Append) => {}
        }
        let len = header.total_len() as u64;
        let active = state.active();
        let full = active.size() + len > config.segment_bytes;
        // As Kafka does: the records' own time since the segment's first
        // batch, so a replay of old events does not roll every batch.
        let old = active
            .first_timestamp()
            .is_some_and(|first| header.max_timestamp.saturating_sub(first) >= config.segment_ms);
        let rolled = if !active.is_empty() && (full || old) {
            Some(self.roll(&mut state)?)
        } else {
            None
        };
        header.base_offset = state.high_watermark();
        let encoded = header.encode();
        if let Err(failure) = state.active_mut().append(&header, &encoded, records) {
            let path = state.active().path().to_owned();
            if failure.left_torn {
                state.broken = Some(format!(
                    "a failed write ({}) could not be cut back off",
                    failure.source
                ));
            }
            return Err(LogError::Io {
                action: "append to",
                path,
                source: failure.source,
            }
            .into());
        }
        state.producers.record(&header, now);
        state.unsynced = true;
        Ok(Appended {
            base_offset: header.base_offset,
            duplicate: false,
            next_offset: header.last_offset() + 1,
            rolled,
        })
    }

    /// Closes the active segment and starts the next one at the high
    /// watermark. Returns the producers as of that offset, to be kept.
    fn roll(&self, state: &mut State) -> Result<ProducerSnapshot, LogError> {
        let next = state.high_watermark();
        state.active().close(&self.dir)?;
        let segment = Segment::create(&self.dir, next)?;
        state.segments.push(segment);
        Ok(state.snapshot())
    }

    /// Whole batches from the one holding `offset`, about `max_bytes` of
    /// them, but always the first whole (KIP-74). Empty at the high watermark.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Fetched, ReadError> {
        let (file, path, position, end) = {
            let state = self.lock();
            let high_watermark = state.high_watermark();
            if offset < state.log_start || offset > high_watermark {
                return Err(ReadError::OutOfRange {
                    offset,
                    log_start: state.log_start,
                    high_watermark,
                });
            }
            if offset == high_watermark {
                return Ok(Fetched::default());
            }
            let at = state.segments.partition_point(|s| s.base() <= offset) - 1;
            let segment = &state.segments[at];
            (
                segment.file().clone(),
                segment.path().to_owned(),
                segment.position_for(offset),
                segment.size(),
            )
        };
        let mut position = position;
        let first = loop {
            if position >= end {
                return Ok(Fetched::default());
            }
            let header = read_header(&file, &path, position)?;
            if header.last_offset() >= offset {
                break header;
            }
            position += header.total_len() as u64;
        };
        let want = (max_bytes as u64)
            .min(end - position)
            .max(first.total_len() as u64);
        let mut buf = BytesMut::zeroed(want as usize);
        use std::os::unix::fs::FileExt as _;
        file.read_exact_at(&mut buf, position)
            .map_err(|source| LogError::Io {
                action: "read",
                path: path.clone(),
                source,
            })?;
        let bytes: Bytes = buf.freeze();
        let mut fetched = Fetched::default();
        let mut at = 0usize;
        while at + batch::HEADER_LEN <= bytes.len() {
            let header = BatchHeader::parse(&bytes[at..]).map_err(|fault| LogError::Corrupt {
                path: path.clone(),
                position: position + at as u64,
                after_offset: offset,
                fault,
            })?;
            let len = header.total_len();
            if at + len > bytes.len() {
                break;
            }
            fetched
                .batches
                .push(batch::to_deflated(&header, bytes.slice(at..at + len)));
            at += len;
        }
        fetched.bytes = at;
        Ok(fetched)
    }

    /// The first offset whose record has a timestamp at or after
    /// `timestamp`, and that timestamp; `None` if every record is older.
    pub fn offset_for_time(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let candidates: Vec<(Arc<std::fs::File>, PathBuf, u64, u64)> = {
            let state = self.lock();
            state
                .segments
                .iter()
                .filter(|s| s.max_timestamp() >= timestamp && s.next_offset() > state.log_start)
                .map(|s| {
                    (
                        s.file().clone(),
                        s.path().to_owned(),
                        s.position_for_time(timestamp),
                        s.size(),
                    )
                })
                .collect()
        };
        let log_start = self.lock().log_start;
        for (file, path, mut position, end) in candidates {
            while position < end {
                let header = read_header(&file, &path, position)?;
                let len = header.total_len() as u64;
                if header.max_timestamp >= timestamp && header.last_offset() >= log_start {
                    let mut bytes = BytesMut::zeroed(len as usize);
                    use std::os::unix::fs::FileExt as _;
                    file.read_exact_at(&mut bytes, position)
                        .map_err(|source| LogError::Io {
                            action: "read",
                            path: path.clone(),
                            source,
                        })?;
                    let batch = batch::to_deflated(&header, bytes.freeze());
                    let records: Vec<tansu_sans_io::record::Record> = Vec::try_from(batch)
                        .map_err(|e| LogError::Corrupt {
                            path: path.clone(),
                            position,
                            after_offset: header.base_offset - 1,
                            fault: batch::BatchFault::Records(e.to_string()),
                        })?;
                    for record in records {
                        let offset = header.base_offset + i64::from(record.offset_delta);
                        let at = header.base_timestamp + record.timestamp_delta;
                        if at >= timestamp && offset >= log_start {
                            return Ok(Some((offset, at)));
                        }
                    }
                }
                position += len;
            }
        }
        Ok(None)
    }

    /// Deletes closed segments past `retention.ms` or beyond
    /// `retention.bytes`, oldest first. An expired active segment is closed
    /// first so it can go too. Returns what was deleted.
    pub fn apply_retention(&self, config: &TopicConfig, now_ms: i64) -> Result<Vec<i64>, LogError> {
        let removed: Vec<Segment> = {
            let mut state = self.lock();
            let expired = |s: &Segment| {
                config.retention_ms >= 0 && !s.is_empty() && {
                    let newest = match s.max_timestamp() {
                        t if t >= 0 => t,
                        _ => file_mtime_ms(s.path()),
                    };
                    newest < now_ms - config.retention_ms
                }
            };
            if expired(state.active()) && state.broken.is_none() {
                let snapshot = self.roll(&mut state)?;
                // The snapshot of a retention roll is not needed: the
                // producers are unchanged and kept by the next one.
                drop(snapshot);
            }
            let mut total: u64 = state.segments.iter().map(Segment::size).sum();
            let mut remove = 0;
            for s in &state.segments[..state.segments.len() - 1] {
                let over_size = config.retention_bytes >= 0
                    && total - s.size() >= config.retention_bytes as u64;
                if expired(s) || over_size {
                    remove += 1;
                    total -= s.size();
                } else {
                    break;
                }
            }
            let removed: Vec<Segment> = state.segments.drain(..remove).collect();
            if let Some(first) = state.segments.first() {
                state.log_start = state.log_start.max(first.base());
            }
            removed
        };
        let mut bases = Vec::with_capacity(removed.len());
        for segment in removed {
            segment.remove(&self.dir)?;
            bases.push(segment.base());
        }
        if !bases.is_empty() {
            segment::sync_dir(&self.dir)?;
            info!(
                topic = %self.topic,
                partition = self.index,
                segments = bases.len(),
                log_start = self.bounds().0,
                "Retention deleted old segments."
            );
        }
        Ok(bases)
    }

    /// Moves the log start up to `offset` (DeleteRecords), deleting the
    /// segments wholly below it. Returns the new log start.
    pub fn delete_before(&self, offset: i64) -> Result<i64, ReadError> {
        let (removed, log_start) = {
            let mut state = self.lock();
            let high_watermark = state.high_watermark();
            let offset = if offset == -1 { high_watermark } else { offset };
            if offset < 0 || offset > high_watermark {
                return Err(ReadError::OutOfRange {
                    offset,
                    log_start: state.log_start,
                    high_watermark,
                });
            }
            state.log_start = state.log_start.max(offset);
            let keep_from = state.segments[..state.segments.len() - 1]
                .iter()
                .take_while(|s| s.next_offset() <= state.log_start)
                .count();
            let removed: Vec<Segment> = state.segments.drain(..keep_from).collect();
            (removed, state.log_start)
        };
        for segment in &removed {
            segment.remove(&self.dir)?;
        }
        Ok(log_start)
    }

    /// Syncs the active segment if anything was appended since the last
    /// sync (the interval policy's tick).
    pub fn sync_if_dirty(&self) -> Result<(), LogError> {
        let (file, path) = {
            let mut state = self.lock();
            if !state.unsynced {
                return Ok(());
            }
            state.unsynced = false;
            (
                state.active().file().clone(),
                state.active().path().to_owned(),
            )
        };
        file.sync_data().map_err(|source| {
            self.lock().unsynced = true;
            LogError::Io {
                action: "sync",
                path,
                source,
            }
        })
    }

    /// Returns once everything up to `offset` is synced to disk, syncing
    /// if needed; concurrent callers share one sync (the per-request policy).
    pub async fn sync_through(&self, offset: i64) -> Result<(), LogError> {
        let mut synced = self.synced.lock().await;
        if *synced >= offset {
            return Ok(());
        }
        let (file, path, target) = {
            let mut state = self.lock();
            state.unsynced = false;
            (
                state.active().file().clone(),
                state.active().path().to_owned(),
                state.high_watermark(),
            )
        };
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|source| LogError::Io {
                action: "sync",
                path,
                source,
            })?;
        *synced = target;
        Ok(())
    }

    /// A clean stop: the active segment's indexes are written and it is
    /// synced. Returns the producers to keep.
    pub fn close(&self) -> Result<ProducerSnapshot, LogError> {
        let state = self.lock();
        state.active().close(&self.dir)?;
        Ok(state.snapshot())
    }

    pub fn forget_idle_producers(&self, before_ms: i64) -> usize {
        self.lock().producers.expire(before_ms)
    }
}

fn file_mtime_ms(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(i64::MAX, |d| d.as_millis() as i64)
}

/// The base offsets of the segment files in a partition's folder. Left-over
/// temporary index files from a crash are removed.
fn segment_bases(dir: &Path) -> Result<Vec<i64>, LogError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LogError::Io {
        action: "list",
        path: dir.to_owned(),
        source,
    })?;
    let mut bases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LogError::Io {
            action: "list",
            path: dir.to_owned(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(base) = segment::base_of(&name) {
            bases.push(base);
        } else if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(bases)
}

/// Opens the last segment after a clean stop: its index files, then a walk
/// over the headers after the last indexed batch to find the end, and the
/// last batch's CRC checked.
fn open_active_clean(dir: &Path, base: i64) -> Result<Segment, LogError> {
    // A closed segment's opening reads its index; its end is then found by
    // walking, since no next segment says where it stops.
    let probe = Segment::open_closed(dir, base, base)?;
    let mut position = u64::from(probe.index().position_for(u32::MAX));
    let size = probe.size();
    let mut next = base;
    let mut last = None;
    while position < size {
        let header = read_header(probe.file(), probe.path(), position)?;
        next = header.last_offset() + 1;
        last = Some((position, header));
        position += header.total_len() as u64;
    }
    if position != size {
        return Err(LogError::Corrupt {
            path: probe.path().to_owned(),
            position,
            after_offset: next - 1,
            fault: batch::BatchFault::Truncated {
                claimed: position as usize,
                have: size as usize,
            },
        });
    }
    if let Some((position, header)) = last {
        let mut bytes = vec![0u8; header.total_len()];
        use std::os::unix::fs::FileExt as _;
        probe
            .file()
            .read_exact_at(&mut bytes, position)
            .map_err(|source| LogError::Io {
                action: "read",
                path: probe.path().to_owned(),
                source,
            })?;
        batch::verify(&bytes).map_err(|fault| LogError::Corrupt {
            path: probe.path().to_owned(),
            position,
            after_offset: header.base_offset - 1,
            fault,
        })?;
    }
    Ok(probe.with_next_offset(next))
}

/// Replays the producer ids and sequences of every batch from `from` on.
fn replay_producers(
    segments: &[Segment],
    from: i64,
    producers: &mut Producers,
) -> Result<(), LogError> {
    for segment in segments.iter().filter(|s| s.next_offset() > from) {
        let mut position = segment.position_for(from.max(segment.base()));
        while position < segment.size() {
            let header = read_header(segment.file(), segment.path(), position)?;
            if header.base_offset >= from {
                let written = header.max_timestamp.max(0);
                producers.record(&header, written);
            }
            position += header.total_len() as u64;
        }
    }
    Ok(())
}
