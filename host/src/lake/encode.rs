//! Parquet encoding off the pipeline thread, on a small pool of threads
//! sized to the machine.
//!
//! A batch of rows enters an open file through [`FileEncoder::write`],
//! which queues it and returns at once: the pipeline thread goes on with
//! the next batch (its plugins and decoding) while an encoder thread turns
//! this one into Parquet pages. What leaves is the file's bytes and footer,
//! from [`FileEncoder::finish`], which waits for the file's queue to drain.
//!
//! The ordering rules, kept here:
//! - every batch of one file is encoded by one thread, in the order it was
//!   written (the file is pinned to a thread when it opens, and each thread
//!   takes its jobs first in, first out), so a file's rows keep their order;
//! - `finish` returns only once the file is complete, so files are sealed,
//!   and so committed, in the order the writer seals them: one partition's
//!   files land in offset order however many threads encode;
//! - a thread's queue is bounded, so a writer faster than its encoders
//!   waits instead of holding unencoded batches without limit.
//!
//! An encoding error (a bug: the writer checks schemas before writing) is
//! kept by the file and returned by its next `write` or its `finish`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;

type Job = Box<dyn FnOnce() + Send>;

/// Jobs a thread's queue holds before a writer waits: a few batches of
/// each of the files pinned to it.
const QUEUE_JOBS: usize = 16;

/// The encoder threads of this process, shared by every lake writer.
pub(super) struct EncodePool {
    threads: Vec<SyncSender<Job>>,
    next: AtomicUsize,
}

impl EncodePool {
    /// The process's pool: one thread per core, made on first use.
    pub(super) fn shared() -> &'static EncodePool {
        static POOL: OnceLock<EncodePool> = OnceLock::new();
        POOL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            EncodePool::new(cores)
        })
    }

    fn new(threads: usize) -> EncodePool {
        let threads = (0..threads.max(1))
            .map(|i| {
                let (jobs, queue) = sync_channel::<Job>(QUEUE_JOBS);
                std::thread::Builder::new()
                    .name(format!("sluice-encode-{i}"))
                    .spawn(move || {
                        for job in queue {
                            job();
                        }
                    })
                    .expect("spawning a Parquet encoder thread");
                jobs
            })
            .collect();
        EncodePool {
            threads,
            next: AtomicUsize::new(0),
        }
    }

    /// A file encoded by `writer`, pinned to the next thread in turn.
    pub(super) fn file(&self, writer: ArrowWriter<Vec<u8>>) -> FileEncoder {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        FileEncoder {
            thread: self.threads[turn].clone(),
            shared: Arc::new(Shared {
                writer: Mutex::new(Some(writer)),
                failed: AtomicBool::new(false),
                error: Mutex::new(None),
                encoded: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
            }),
        }
    }
}

/// One open Parquet file, encoded on its pool thread.
pub(super) struct FileEncoder {
    thread: SyncSender<Job>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Taken by `finish`.
    writer: Mutex<Option<ArrowWriter<Vec<u8>>>>,
    /// Set with `error`; read without a lock on every write.
    failed: AtomicBool,
    error: Mutex<Option<ParquetError>>,
    /// Bytes the writer holds: pages written plus its row group in progress.
    encoded: AtomicUsize,
    /// Bytes of batches queued and not yet encoded.
    queued: AtomicUsize,
}

impl Shared {
    fn fail(&self, error: ParquetError) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(error);
        self.failed.store(true, Ordering::Release);
    }

    /// The error an earlier job hit, if any.
    fn check(&self) -> Result<(), ParquetError> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        let slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        Err(ParquetError::General(match &*slot {
            Some(error) => format!("an earlier batch of this file failed to encode: {error}"),
            None => "an earlier batch of this file failed to encode".to_string(),
        }))
    }
}

impl FileEncoder {
    /// Queues `batch` for encoding; waits only while the thread's queue is
    /// full. Returns the error of an earlier batch of this file, if any.
    pub(super) fn write(&self, batch: RecordBatch) -> Result<(), ParquetError> {
        self.shared.check()?;
        let size = batch.get_array_memory_size();
        self.shared.queued.fetch_add(size, Ordering::Relaxed);
        let shared = self.shared.clone();
        self.send(Box::new(move || {
            let mut slot = shared.writer.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(writer) = slot.as_mut()
                && !shared.failed.load(Ordering::Acquire)
            {
                match writer.write(&batch) {
                    Ok(()) => shared.encoded.store(
                        writer.bytes_written() + writer.memory_size(),
                        Ordering::Relaxed,
                    ),
                    Err(error) => shared.fail(error),
                }
            }
            shared.queued.fetch_sub(size, Ordering::Relaxed);
        }))
    }

    /// The memory the file holds now: encoded bytes and queued batches.
    pub(super) fn size(&self) -> usize {
        self.shared.encoded.load(Ordering::Relaxed) + self.shared.queued.load(Ordering::Relaxed)
    }

    /// Waits for every queued batch, then writes the footer: the file's
    /// bytes and its metadata.
    pub(super) fn finish(self) -> Result<(Vec<u8>, ParquetMetaData), ParquetError> {
        let (done, result) = sync_channel(1);
        let shared = self.shared.clone();
        self.send(Box::new(move || {
            let finished = shared.check().and_then(|()| {
                let mut slot = shared.writer.lock().unwrap_or_else(|e| e.into_inner());
                let mut writer = slot
                    .take()
                    .ok_or_else(|| ParquetError::General("the file was finished twice".into()))?;
                let footer = writer.finish()?;
                Ok((std::mem::take(writer.inner_mut()), footer))
            });
            // The writer gave up waiting only if it is gone itself.
            let _ = done.send(finished);
        }))?;
        result.recv().map_err(|_| gone())?
    }

    fn send(&self, job: Job) -> Result<(), ParquetError> {
        self.thread.send(job).map_err(|_| gone())
    }
}

/// An encoder thread died (a panic while encoding).
fn gone() -> ParquetError {
    ParquetError::General("the Parquet encoder thread stopped".into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batch(from: i64, rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let values = Int64Array::from_iter_values(from..from + rows);
        RecordBatch::try_new(schema, vec![Arc::new(values)]).unwrap()
    }

    fn read_back(bytes: Vec<u8>) -> Vec<i64> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        reader
            .flat_map(|b| {
                let b = b.unwrap();
                let column = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                column.values().to_vec()
            })
            .collect()
    }

    #[test]
    fn files_on_a_shared_pool_keep_their_rows_in_order() {
        let pool = EncodePool::new(2);
        let files: Vec<FileEncoder> = (0..5)
            .map(|_| {
                pool.file(ArrowWriter::try_new(Vec::new(), batch(0, 1).schema(), None).unwrap())
            })
            .collect();
        // Interleaved, as a writer with many open files writes them.
        for round in 0..40 {
            for file in &files {
                file.write(batch(round * 100, 100)).unwrap();
            }
        }
        for file in files {
            let (bytes, footer) = file.finish().unwrap();
            assert_eq!(footer.file_metadata().num_rows(), 4000);
            assert_eq!(read_back(bytes), (0..4000).collect::<Vec<i64>>());
        }
    }

    #[test]
    fn an_encoding_error_comes_back_from_the_next_write_or_finish() {
        let pool = EncodePool::new(1);
        let file = pool.file(ArrowWriter::try_new(Vec::new(), batch(0, 1).schema(), None).unwrap());
        file.write(batch(0, 10)).unwrap();
        // Another schema: the encoder refuses it.
        let other = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        let strings = arrow::array::StringArray::from(vec!["a"]);
        file.write(RecordBatch::try_new(other, vec![Arc::new(strings)]).unwrap())
            .unwrap();
        let error = file.finish().unwrap_err().to_string();
        assert!(error.contains("failed to encode"), "{error}");
    }
}
