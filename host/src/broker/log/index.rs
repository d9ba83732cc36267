//! A segment's two sparse indexes, kept in memory and written beside the
//! segment in Kafka's own file formats when it is closed:
//!
//! - `<base>.index`: 8-byte entries, relative offset (i32) then byte
//!   position (i32), one per [`INDEX_INTERVAL`] bytes of log, each naming
//!   the first offset of a batch and where that batch starts;
//! - `<base>.timeindex`: 12-byte entries, timestamp (i64) then relative
//!   offset (i32): the largest timestamp seen up to and including the batch
//!   at that offset.
//!
//! A fetch finds the batch holding an offset by a binary search here and a
//! short walk over batch headers from the entry found. `ListOffsets` by
//! timestamp finds, with the time index, the first batch that can hold a
//! record at or after the timestamp.

use std::path::Path;

use super::batch::BatchHeader;

/// Bytes of log between two offset index entries (Kafka's `index.interval.bytes`).
pub const INDEX_INTERVAL: u64 = 4096;

const OFFSET_ENTRY: usize = 8;
const TIME_ENTRY: usize = 12;

/// An offset index entry: the batch whose first offset is `base + relative`
/// starts at `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative: u32,
    pub position: u32,
}

/// A time index entry: no batch up to and including the one starting at
/// `base + relative` holds a timestamp above `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative: u32,
}

#[derive(Debug, Clone, Default)]
pub struct SegmentIndex {
    offsets: Vec<OffsetEntry>,
    times: Vec<TimeEntry>,
    bytes_since_entry: u64,
    bytes_since_time_entry: u64,
    /// The largest batch max timestamp in the segment, -1 when empty.
    max_timestamp: i64,
}

/// Why an index file on disk cannot be used (it is then rebuilt).
#[derive(Debug, thiserror::Error)]
pub enum IndexFault {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("{len} bytes is not a whole number of {entry}-byte entries")]
    Size { len: usize, entry: usize },
    #[error("entry {at} goes backwards or past the end of the segment")]
    Order { at: usize },
}

impl SegmentIndex {
    pub fn new() -> SegmentIndex {
        SegmentIndex {
            max_timestamp: -1,
            ..SegmentIndex::default()
        }
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    pub fn entries(&self) -> usize {
        self.offsets.len()
    }

    /// Notes a batch appended at `position` of the segment starting at `base`.
    pub fn on_append(&mut self, base: i64, header: &BatchHeader, position: u32) {
        let relative = (header.base_offset - base) as u32;
        let len = header.total_len() as u64;
        if self.offsets.is_empty() || self.bytes_since_entry >= INDEX_INTERVAL {
            self.offsets.push(OffsetEntry { relative, position });
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += len;
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            let entry = TimeEntry {
                timestamp: header.max_timestamp,
                relative,
            };
            // Any entry holding the running maximum is right; a new one per
            // index interval keeps the walk from it short.
            match self.times.last_mut() {
                Some(last) if self.bytes_since_time_entry < INDEX_INTERVAL => *last = entry,
                _ => {
                    self.times.push(entry);
                    self.bytes_since_time_entry = 0;
                }
            }
        }
        self.bytes_since_time_entry += len;
    }

    /// Where to start walking batch headers to find `relative`: the position
    /// of the last indexed batch starting at or before it.
    pub fn position_for(&self, relative: u32) -> u32 {
        match self.offsets.partition_point(|e| e.relative <= relative) {
            0 => 0,
            n => self.offsets[n - 1].position,
        }
    }

    /// Where to start walking batch headers to find the first record with a
    /// timestamp at or after `timestamp`: every batch up to the entry found
    /// holds only earlier timestamps.
    pub fn position_for_time(&self, timestamp: i64) -> u32 {
        let before = self.times.partition_point(|e| e.timestamp < timestamp);
        if before == 0 {
            return 0;
        }
        self.position_for(self.times[before - 1].relative)
    }

    pub fn write(&self, offset_path: &Path, time_path: &Path) -> std::io::Result<()> {
        let mut offsets = Vec::with_capacity(self.offsets.len() * OFFSET_ENTRY);
        for e in &self.offsets {
            offsets.extend_from_slice(&(e.relative as i32).to_be_bytes());
            offsets.extend_from_slice(&(e.position as i32).to_be_bytes());
        }
        let mut times = Vec::with_capacity(self.times.len() * TIME_ENTRY);
        for e in &self.times {
            times.extend_from_slice(&e.timestamp.to_be_bytes());
            times.extend_from_slice(&(e.relative as i32).to_be_bytes());
        }
        write_synced(offset_path, &offsets)?;
        write_synced(time_path, &times)
    }

    /// Reads both index files of a segment of `segment_len` bytes, checking
    /// that entries only go forward and stay inside the segment.
    pub fn read(
        offset_path: &Path,
        time_path: &Path,
        segment_len: u64,
    ) -> Result<SegmentIndex, IndexFault> {
        let bytes = std::fs::read(offset_path)?;
        if bytes.len() % OFFSET_ENTRY != 0 {
            return Err(IndexFault::Size {
                len: bytes.len(),
                entry: OFFSET_ENTRY,
            });
        }
        let mut offsets: Vec<OffsetEntry> = Vec::with_capacity(bytes.len() / OFFSET_ENTRY);
        for (at, chunk) in bytes.chunks_exact(OFFSET_ENTRY).enumerate() {
            let relative = i32::from_be_bytes(chunk[0..4].try_into().expect("4 bytes"));
            let position = i32::from_be_bytes(chunk[4..8].try_into().expect("4 bytes"));
            let entry = OffsetEntry {
                relative: relative as u32,
                position: position as u32,
            };
            let forward = offsets.last().is_none_or(|last| {
                entry.relative > last.relative && entry.position > last.position
            });
            if relative < 0 || position < 0 || u64::from(entry.position) >= segment_len || !forward
            {
                return Err(IndexFault::Order { at });
            }
            offsets.push(entry);
        }
        let bytes = std::fs::read(time_path)?;
        if bytes.len() % TIME_ENTRY != 0 {
            return Err(IndexFault::Size {
                len: bytes.len(),
                entry: TIME_ENTRY,
            });
        }
        let mut times: Vec<TimeEntry> = Vec::with_capacity(bytes.len() / TIME_ENTRY);
        for (at, chunk) in bytes.chunks_exact(TIME_ENTRY).enumerate() {
            let timestamp = i64::from_be_bytes(chunk[0..8].try_into().expect("8 bytes"));
            let relative = i32::from_be_bytes(chunk[8..12].try_into().expect("4 bytes"));
            let forward = times
                .last()
                .is_none_or(|last| timestamp >= last.timestamp && relative as u32 >= last.relative);
            if relative < 0 || !forward {
                return Err(IndexFault::Order { at });
            }
            times.push(TimeEntry {
                timestamp,
                relative: relative as u32,
            });
        }
        let max_timestamp = times.last().map_or(-1, |e| e.timestamp);
        Ok(SegmentIndex {
            offsets,
            times,
            // A closed segment takes no more appends.
            bytes_since_entry: 0,
            bytes_since_time_entry: 0,
            max_timestamp,
        })
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, synced,
/// so a crash leaves either the old file or the whole new one.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_data()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base_offset: i64, count: i32, len: usize, max_timestamp: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: (len - 12) as i32,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: max_timestamp,
            max_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: count,
        }
    }

    /// 100 batches of 10 records and 1000 bytes, at base 500.
    fn filled() -> (SegmentIndex, Vec<(i64, u32)>) {
        let mut index = SegmentIndex::new();
        let mut starts = Vec::new();
        for i in 0..100i64 {
            let base = 500 + i * 10;
            let position = (i * 1000) as u32;
            index.on_append(500, &header(base, 10, 1000, 1_000 + i), position);
            starts.push((base, position));
        }
        (index, starts)
    }

    #[test]
    fn an_offset_is_found_at_or_before_its_batch() {
        let (index, starts) = filled();
        assert!(index.entries() < 30, "sparse: {} entries", index.entries());
        for offset in 500..1500i64 {
            let position = index.position_for((offset - 500) as u32);
            let (_, batch_start) = starts
                .iter()
                .rev()
                .find(|(base, _)| *base <= offset)
                .copied()
                .unwrap();
            assert!(position <= batch_start, "offset {offset}");
            assert!(
                batch_start - position <= INDEX_INTERVAL as u32 + 1000,
                "offset {offset}: a walk of {} bytes",
                batch_start - position
            );
        }
    }

    #[test]
    fn a_timestamp_is_found_at_or_before_its_batch() {
        let (index, starts) = filled();
        for i in 0..100i64 {
            let position = index.position_for_time(1_000 + i);
            assert!(position <= starts[i as usize].1, "timestamp {}", 1_000 + i);
        }
        assert_eq!(index.max_timestamp(), 1_099);
    }

    #[test]
    fn the_files_round_trip_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = filled();
        let (o, t) = (dir.path().join("0.index"), dir.path().join("0.timeindex"));
        index.write(&o, &t).unwrap();
        let back = SegmentIndex::read(&o, &t, 100_000).unwrap();
        assert_eq!(back.offsets, index.offsets);
        assert_eq!(back.times, index.times);
        assert_eq!(back.max_timestamp(), 1_099);
        // The segment is shorter than the index claims.
        assert!(matches!(
            SegmentIndex::read(&o, &t, 50_000),
            Err(IndexFault::Order { .. })
        ));
        std::fs::write(&o, [0u8; 7]).unwrap();
        assert!(matches!(
            SegmentIndex::read(&o, &t, 100_000),
            Err(IndexFault::Size { len: 7, .. })
        ));
    }
}
