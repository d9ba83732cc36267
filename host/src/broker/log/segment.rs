//! One segment of a partition: `<base offset, 20 digits>.log` holding whole
//! record batches back to back, with its sparse indexes beside it once it
//! is closed (`.index`, `.timeindex`).
//!
//! Only the last segment of a partition takes appends. A write that fails
//! part-way (a full disk) is cut back off, so the file always ends on a
//! whole batch while the broker runs; after a crash, [`Segment::recover`]
//! finds the last whole batch by CRC.

use std::fs::File;
use std::io::{ErrorKind, IoSlice, Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::warn;

use super::LogError;
use super::batch::{self, BatchFault, BatchHeader, HEADER_LEN};
use super::index::SegmentIndex;

/// What a crash left at the end of a segment, cut off by [`Segment::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub position: u64,
    pub bytes: u64,
    pub fault: BatchFault,
}

#[derive(Debug)]
pub struct Segment {
    base: i64,
    log_path: PathBuf,
    file: Arc<File>,
    /// Bytes of whole batches; the file has no more than this.
    size: u64,
    /// One past the last offset held.
    next_offset: i64,
    index: SegmentIndex,
    /// The max timestamp of the first batch: `segment.ms` counts from it.
    first_timestamp: Option<i64>,
}

pub fn stem(base: i64) -> String {
    format!("{base:020}")
}

/// The base offset a `.log` file name stands for, if it is one of ours.
pub fn base_of(file_name: &str) -> Option<i64> {
    let stem = file_name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LogError {
    let path = path.to_owned();
    move |source| LogError::Io {
        action,
        path,
        source,
    }
}

impl Segment {
    fn paths(dir: &Path, base: i64) -> (PathBuf, PathBuf, PathBuf) {
        let stem = stem(base);
        (
            dir.join(format!("{stem}.log")),
            dir.join(format!("{stem}.index")),
            dir.join(format!("{stem}.timeindex")),
        )
    }

    /// A new, empty segment file (which must not exist).
    pub fn create(dir: &Path, base: i64) -> Result<Segment, LogError> {
        let (log_path, _, _) = Segment::paths(dir, base);
        let file = File::options()
            .create_new(true)
            .append(true)
            .read(true)
            .open(&log_path)
            .map_err(io_error("create", &log_path))?;
        sync_dir(dir)?;
        Ok(Segment {
            base,
            log_path,
            file: Arc::new(file),
            size: 0,
            next_offset: base,
            index: SegmentIndex::new(),
            first_timestamp: None,
        })
    }

    fn open_file(log_path: &Path) -> Result<(File, u64), LogError> {
        let file = File::options()
            .append(true)
            .read(true)
            .open(log_path)
            .map_err(io_error("open", log_path))?;
        let len = file
            .metadata()
            .map_err(io_error("read the size of", log_path))?
            .len();
        Ok((file, len))
    }

    /// Opens a segment that was closed cleanly: its index files are read
    /// and checked, or rebuilt from the batch headers when missing or
    /// damaged. `next_offset` is the base of the segment after it.
    pub fn open_closed(dir: &Path, base: i64, next_offset: i64) -> Result<Segment, LogError> {
        let (log_path, index_path, time_path) = Segment::paths(dir, base);
        let (file, size) = Segment::open_file(&log_path)?;
        let index = match SegmentIndex::read(&index_path, &time_path, size) {
            Ok(index) if index.entries() > 0 || size == 0 => index,
            Ok(_) => rebuild(
                &file,
                &log_path,
                base,
                size,
                &index_path,
                &time_path,
                "empty",
            )?,
            Err(fault) => rebuild(
                &file,
                &log_path,
                base,
                size,
                &index_path,
                &time_path,
                &fault.to_string(),
            )?,
        };
        let first_timestamp = if size > 0 {
            Some(read_header(&file, &log_path, 0)?.max_timestamp)
        } else {
            None
        };
        Ok(Segment {
            base,
            log_path,
            file: Arc::new(file),
            size,
            next_offset,
            index,
            first_timestamp,
        })
    }

    /// Opens the last segment of a partition after an unclean stop: every
    /// batch is read and its CRC checked. A damaged or partial batch at the
    /// very end (what a crash mid-write leaves) is cut off and returned; one
    /// with whole batches after it is corruption, reported and not skipped.
    pub fn recover(dir: &Path, base: i64) -> Result<(Segment, Option<TornTail>), LogError> {
        let (log_path, _, _) = Segment::paths(dir, base);
        let (file, len) = Segment::open_file(&log_path)?;
        let mut segment = Segment {
            base,
            log_path: log_path.clone(),
            file: Arc::new(file),
            size: 0,
            next_offset: base,
            index: SegmentIndex::new(),
            first_timestamp: None,
        };
        let file = segment.file.clone();
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &*file);
        let mut bytes = Vec::with_capacity(1 << 20);
        let mut position = 0u64;
        let torn = loop {
            if position == len {
                break None;
            }
            let remaining = len - position;
            bytes.clear();
            let header_len = remaining.min(HEADER_LEN as u64) as usize;
            bytes.resize(header_len, 0);
            reader
                .read_exact(&mut bytes)
                .map_err(io_error("read", &log_path))?;
            let fault = match BatchHeader::parse(&bytes) {
                Err(fault) => fault,
                Ok(header) if (header.total_len() as u64) > remaining => BatchFault::Truncated {
                    claimed: header.total_len(),
                    have: remaining as usize,
                },
                Ok(header) => {
                    bytes.resize(header.total_len(), 0);
                    reader
                        .read_exact(&mut bytes[HEADER_LEN..])
                        .map_err(io_error("read", &log_path))?;
                    match batch::verify(&bytes) {
                        Ok(header) if header.base_offset == segment.next_offset => {
                            segment.note_appended(&header, position);
                            position += header.total_len() as u64;
                            continue;
                        }
                        Ok(header) => BatchFault::Offset {
                            expected: segment.next_offset,
                            found: header.base_offset,
                        },
                        Err(fault) => fault,
                    }
                }
            };
            // A fault that reaches the end of the file, or is followed by
            // nothing but zeros, is a write the crash cut short.
            let ends_file = match &fault {
                BatchFault::ShortHeader { .. } | BatchFault::Truncated { .. } => true,
                _ => {
                    let header = BatchHeader::parse(&bytes).ok();
                    header.is_some_and(|h| position + h.total_len() as u64 >= len)
                        || zeros_from(&segment.file, position, len)
                }
            };
            if !ends_file {
                return Err(LogError::Corrupt {
                    path: log_path,
                    position,
                    after_offset: segment.next_offset - 1,
                    fault,
                });
            }
            break Some(TornTail {
                position,
                bytes: len - position,
                fault,
            });
        };
        drop(reader);
        if let Some(tail) = &torn {
            segment
                .file
                .set_len(tail.position)
                .map_err(io_error("cut the torn tail off", &log_path))?;
            segment
                .file
                .sync_all()
                .map_err(io_error("sync", &log_path))?;
        }
        Ok((segment, torn))
    }

    fn note_appended(&mut self, header: &BatchHeader, position: u64) {
        if position == 0 {
            self.first_timestamp = Some(header.max_timestamp);
        }
        self.index.on_append(self.base, header, position as u32);
        self.size = position + header.total_len() as u64;
        self.next_offset = header.last_offset() + 1;
    }

    /// Appends one batch. On failure nothing of it stays in the file (or, if
    /// even cutting it back fails, the error says so and the partition must
    /// stop taking writes).
    pub fn append(
        &mut self,
        header: &BatchHeader,
        encoded: &[u8; HEADER_LEN],
        records: &[u8],
    ) -> Result<(), AppendFailure> {
        let position = self.size;
        if let Err(source) = write_all_vectored(&self.file, &[encoded, records]) {
            let cut = self.file.set_len(position);
            return Err(AppendFailure {
                source,
                left_torn: cut.is_err(),
            });
        }
        if self.first_timestamp.is_none() {
            self.first_timestamp = Some(header.max_timestamp);
        }
        self.index.on_append(self.base, header, position as u32);
        self.size = position + header.total_len() as u64;
        self.next_offset = header.last_offset() + 1;
        Ok(())
    }

    /// Writes the index files and syncs the segment: it takes no more appends.
    pub fn close(&self, dir: &Path) -> Result<(), LogError> {
        let (_, index_path, time_path) = Segment::paths(dir, self.base);
        self.file
            .sync_data()
            .map_err(io_error("sync", &self.log_path))?;
        self.index
            .write(&index_path, &time_path)
            .map_err(io_error("write the index of", &self.log_path))
    }

    /// Removes the segment's files (retention). A reader holding the file
    /// open goes on reading it.
    pub fn remove(&self, dir: &Path) -> Result<(), LogError> {
        let (log_path, index_path, time_path) = Segment::paths(dir, self.base);
        for path in [index_path, time_path] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(io_error("delete", &path)(e));
                }
                _ => {}
            }
        }
        std::fs::remove_file(&log_path).map_err(io_error("delete", &log_path))
    }

    pub fn base(&self) -> i64 {
        self.base
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn max_timestamp(&self) -> i64 {
        self.index.max_timestamp()
    }

    pub fn first_timestamp(&self) -> Option<i64> {
        self.first_timestamp
    }

    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.log_path
    }

    pub fn index(&self) -> &SegmentIndex {
        &self.index
    }

    /// Where to start walking headers to reach `offset` (in this segment).
    pub fn position_for(&self, offset: i64) -> u64 {
        u64::from(self.index.position_for((offset - self.base).max(0) as u32))
    }

    pub fn position_for_time(&self, timestamp: i64) -> u64 {
        u64::from(self.index.position_for_time(timestamp))
    }

    /// The same segment, known to end before `next_offset`.
    pub fn with_next_offset(self, next_offset: i64) -> Segment {
        Segment {
            next_offset,
            ..self
        }
    }
}

/// A failed append: why, and whether a partial batch may remain in the file.
#[derive(Debug)]
pub struct AppendFailure {
    pub source: std::io::Error,
    pub left_torn: bool,
}

/// Reads the batch header at `position`.
pub fn read_header(file: &File, path: &Path, position: u64) -> Result<BatchHeader, LogError> {
    let mut bytes = [0u8; HEADER_LEN];
    file.read_exact_at(&mut bytes, position)
        .map_err(io_error("read", path))?;
    BatchHeader::parse(&bytes).map_err(|fault| LogError::Corrupt {
        path: path.to_owned(),
        position,
        after_offset: -1,
        fault,
    })
}

/// Rebuilds a closed segment's indexes from its batch headers and writes them.
fn rebuild(
    file: &File,
    log_path: &Path,
    base: i64,
    size: u64,
    index_path: &Path,
    time_path: &Path,
    why: &str,
) -> Result<SegmentIndex, LogError> {
    warn!(segment = %log_path.display(), reason = why, "Rebuilding a segment's index.");
    let mut index = SegmentIndex::new();
    let mut position = 0u64;
    while position < size {
        let header = read_header(file, log_path, position)?;
        if position + header.total_len() as u64 > size {
            return Err(LogError::Corrupt {
                path: log_path.to_owned(),
                position,
                after_offset: header.base_offset - 1,
                fault: BatchFault::Truncated {
                    claimed: header.total_len(),
                    have: (size - position) as usize,
                },
            });
        }
        index.on_append(base, &header, position as u32);
        position += header.total_len() as u64;
    }
    index
        .write(index_path, time_path)
        .map_err(io_error("write the index of", log_path))?;
    Ok(index)
}

/// True if the file holds only zero bytes from `from` to `len`.
fn zeros_from(file: &File, from: u64, len: u64) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < len {
        let n = ((len - at) as usize).min(buf.len());
        if file.read_exact_at(&mut buf[..n], at).is_err() {
            return false;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return false;
        }
        at += n as u64;
    }
    true
}

/// `write_all` for several buffers at once: one system call for a batch's
/// header and records in the usual case, no copy of the records.
fn write_all_vectored(mut file: &File, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut slices = &mut slices[..];
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes a file's creation, rename or removal in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("sync the folder", dir))
}
