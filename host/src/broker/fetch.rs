//! The Fetch request, served here rather than by tansu's `FetchService`.
//!
//! tansu's version sleeps half the wait after every fetch that found data,
//! caps a response at 5 MiB, and fails the whole request when one partition
//! is out of range. Kafka's semantics, kept here:
//!
//! - answer as soon as `min_bytes` are there; else wait, woken by the next
//!   append, until `max_wait_ms`;
//! - at most `partition_max_bytes` per partition and `max_bytes` in all,
//!   except that the first batch of the first partition with data comes
//!   whole whatever its size (KIP-74), so a large record never stalls;
//! - errors per partition: an offset outside the log gets
//!   `OFFSET_OUT_OF_RANGE` with the log's bounds, so the client resets by
//!   its `auto.offset.reset`;
//! - no fetch sessions (KIP-227): session id 0 tells clients to send full
//!   requests.
//!
//! [`FetchSource`] is what the service reads: sluice's log, or (for the
//! benchmark's no-disk ceiling) another engine.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rama::{Context, Service};
use tansu_sans_io::fetch_request::FetchTopic;
use tansu_sans_io::fetch_response::{FetchableTopicResponse, PartitionData};
use tansu_sans_io::record::deflated::{self, Frame};
use tansu_sans_io::{ApiKey, ErrorCode, FetchRequest, FetchResponse};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::log::{Log, ReadError};

/// What one partition gave a fetch.
#[derive(Debug, Default)]
pub struct PartitionRead {
    pub error: Option<ErrorCode>,
    pub high_watermark: i64,
    pub log_start: i64,
    pub batches: Vec<deflated::Batch>,
    pub bytes: usize,
}

/// Where fetched batches come from.
#[async_trait]
pub trait FetchSource: Clone + Debug + Send + Sync + 'static {
    /// The topic a fetch names (by name up to version 12, by id after), as
    /// its name and id.
    async fn topic(&self, topic: &FetchTopic) -> Option<(String, [u8; 16])>;

    /// Whole batches from `offset`, about `max_bytes` of them (always the
    /// first whole), and the partition's bounds.
    async fn read(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> PartitionRead;

    /// Woken after appends, if the source can say; otherwise waits poll.
    fn appended(&self) -> Option<&Notify>;
}

#[async_trait]
impl FetchSource for Arc<Log> {
    async fn topic(&self, topic: &FetchTopic) -> Option<(String, [u8; 16])> {
        let found = match (&topic.topic, &topic.topic_id) {
            (Some(name), _) if !name.is_empty() => self.as_ref().topic(name),
            (_, Some(id)) => self.topic_by_id(uuid::Uuid::from_bytes(*id)),
            _ => None,
        }?;
        Some((found.name.clone(), found.id.into_bytes()))
    }

    async fn read(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> PartitionRead {
        let Some(partition) = self.partition(topic, partition) else {
            return PartitionRead {
                error: Some(ErrorCode::UnknownTopicOrPartition),
                high_watermark: -1,
                log_start: -1,
                ..PartitionRead::default()
            };
        };
        let (log_start, high_watermark) = partition.bounds();
        let mut read = PartitionRead {
            high_watermark,
            log_start,
            ..PartitionRead::default()
        };
        if max_bytes == 0 {
            return read;
        }
        match partition.read(offset, max_bytes) {
            Ok(fetched) => {
                read.batches = fetched.batches;
                read.bytes = fetched.bytes;
            }
            Err(ReadError::OutOfRange { .. }) => read.error = Some(ErrorCode::OffsetOutOfRange),
            Err(ReadError::Storage(error)) => {
                tracing::error!(topic, partition = partition.index(), offset, %error, "Cannot read the log.");
                read.error = Some(ErrorCode::KafkaStorageError);
            }
        }
        read
    }

    fn appended(&self) -> Option<&Notify> {
        Some(Log::appended(self))
    }
}

/// Any tansu storage engine as a fetch source, through its `Storage`
/// calls: how the benchmark's in-memory ceiling is served.
#[cfg(feature = "bench-ceiling")]
#[derive(Clone, Debug)]
pub struct StorageSource<S>(pub S);

#[cfg(feature = "bench-ceiling")]
#[async_trait]
impl<S: tansu_storage::Storage> FetchSource for StorageSource<S> {
    async fn topic(&self, topic: &FetchTopic) -> Option<(String, [u8; 16])> {
        let id = tansu_storage::TopicId::from(topic);
        let metadata = self.0.metadata(Some(&[id])).await.ok()?;
        let found = metadata.topics().first()?;
        if found.error_code != i16::from(ErrorCode::None) {
            return None;
        }
        Some((found.name.clone()?, found.topic_id.unwrap_or_default()))
    }

    async fn read(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> PartitionRead {
        let topition = tansu_storage::Topition::new(topic, partition);
        let mut read = PartitionRead::default();
        match self.0.offset_stage(&topition).await {
            Ok(stage) => {
                read.high_watermark = stage.high_watermark();
                read.log_start = stage.log_start();
            }
            Err(_) => {
                read.error = Some(ErrorCode::UnknownTopicOrPartition);
                return read;
            }
        }
        if max_bytes == 0 || offset >= read.high_watermark {
            return read;
        }
        let max = u32::try_from(max_bytes).unwrap_or(u32::MAX);
        let isolation = tansu_sans_io::IsolationLevel::ReadUncommitted;
        match self.0.fetch(&topition, offset, 1, max, isolation).await {
            Ok(batches) => {
                read.bytes = batches.iter().map(|b| b.record_data.len() + 61).sum();
                read.batches = batches;
            }
            Err(_) => read.error = Some(ErrorCode::OffsetOutOfRange),
        }
        read
    }

    fn appended(&self) -> Option<&Notify> {
        None
    }
}

/// How long a fetch waits between looks when its source cannot wake it.
const POLL: Duration = Duration::from_millis(5);

#[derive(Clone, Copy, Debug, Default)]
pub struct FetchService;

impl ApiKey for FetchService {
    const KEY: i16 = FetchRequest::KEY;
}

impl<F: FetchSource> Service<F, FetchRequest> for FetchService {
    type Response = FetchResponse;
    type Error = tansu_storage::Error;

    async fn serve(
        &self,
        ctx: Context<F>,
        request: FetchRequest,
    ) -> Result<FetchResponse, Self::Error> {
        let source = ctx.state().clone();
        let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
        let deadline = Instant::now() + wait;
        let min_bytes = request.min_bytes.max(0) as usize;
        let max_bytes = request.max_bytes.map_or(usize::MAX, |m| m.max(0) as usize);
        let topics = request.topics.unwrap_or_default();
        let mut resolved = Vec::with_capacity(topics.len());
        for topic in &topics {
            resolved.push(source.topic(topic).await);
        }
        loop {
            let notified = source.appended().map(Notify::notified);
            tokio::pin!(notified);
            if let Some(notified) = notified.as_mut().as_pin_mut() {
                notified.enable();
            }
            let (responses, bytes, failed) =
                fetch_once(&source, &topics, &resolved, max_bytes).await;
            let now = Instant::now();
            if bytes >= min_bytes.max(1) || failed || now >= deadline {
                return Ok(FetchResponse::default()
                    .throttle_time_ms(Some(0))
                    .error_code(Some(ErrorCode::None.into()))
                    .session_id(Some(0))
                    .node_endpoints(Some(Vec::new()))
                    .responses(Some(responses)));
            }
            match notified.as_mut().as_pin_mut() {
                Some(notified) => {
                    let _ = tokio::time::timeout_at(deadline, notified).await;
                }
                None => tokio::time::sleep_until(deadline.min(now + POLL)).await,
            }
        }
    }
}

/// One pass over the partitions a fetch names. Returns the answers, the
/// bytes of records in them, and whether a partition answered an error.
async fn fetch_once<F: FetchSource>(
    source: &F,
    topics: &[FetchTopic],
    resolved: &[Option<(String, [u8; 16])>],
    max_bytes: usize,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut budget = max_bytes;
    let mut total = 0usize;
    let mut failed = false;
    let mut responses = Vec::with_capacity(topics.len());
    for (topic, found) in topics.iter().zip(resolved) {
        let partitions = topic.partitions.as_deref().unwrap_or_default();
        let mut answers = Vec::with_capacity(partitions.len());
        for p in partitions {
            let read = match found {
                None => PartitionRead {
                    error: Some(if topic.topic_id.is_some() && topic.topic.is_none() {
                        ErrorCode::UnknownTopicId
                    } else {
                        ErrorCode::UnknownTopicOrPartition
                    }),
                    high_watermark: -1,
                    log_start: -1,
                    ..PartitionRead::default()
                },
                Some((name, _)) => {
                    let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                    let mut read = source.read(name, p.partition, p.fetch_offset, limit).await;
                    // Only the first partition with data may go over the
                    // response's budget (KIP-74).
                    if total > 0 && read.bytes > budget {
                        read.batches.clear();
                        read.bytes = 0;
                    }
                    read
                }
            };
            failed |= read.error.is_some();
            total += read.bytes;
            budget = budget.saturating_sub(read.bytes);
            answers.push(partition_data(p.partition, read));
        }
        responses.push(
            FetchableTopicResponse::default()
                .topic(topic.topic.clone())
                .topic_id(Some(found.as_ref().map_or_else(
                    || topic.topic_id.unwrap_or_default(),
                    |(_, id)| *id,
                )))
                .partitions(Some(answers)),
        );
    }
    (responses, total, failed)
}

fn partition_data(index: i32, read: PartitionRead) -> PartitionData {
    PartitionData::default()
        .partition_index(index)
        .error_code(read.error.unwrap_or(ErrorCode::None).into())
        .high_watermark(read.high_watermark)
        .last_stable_offset(Some(read.high_watermark))
        .log_start_offset(Some(read.log_start))
        .diverging_epoch(None)
        .current_leader(None)
        .snapshot_id(None)
        .aborted_transactions(Some(Vec::new()))
        .preferred_read_replica(Some(-1))
        .records((!read.batches.is_empty()).then_some(Frame {
            batches: read.batches,
        }))
}

#[cfg(test)]
mod tests {
    //! The fetch service over a real log in a temporary directory.

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use rama::{Context, Service as _};
    use tansu_sans_io::fetch_request::{FetchPartition, FetchTopic};
    use tansu_sans_io::{ErrorCode, FetchRequest};

    use super::FetchService;
    use crate::broker::log::{FlushPolicy, Log, LogSettings, TopicConfig};
    use crate::broker::meta::{META_FILE, Metadata};

    fn log_with_topic(dir: &std::path::Path) -> Arc<Log> {
        let meta = Arc::new(Metadata::open(&dir.join(META_FILE)).unwrap());
        let settings = LogSettings {
            flush: FlushPolicy::Never,
            defaults: TopicConfig::default(),
        };
        let log = Arc::new(Log::open(&dir.join("log"), meta, settings).unwrap());
        log.create_topic("t", 2, BTreeMap::new(), false).unwrap();
        log
    }

    /// A batch of one record of `size` bytes, as a producer sends it.
    fn batch(size: usize) -> tansu_sans_io::record::deflated::Batch {
        use tansu_sans_io::record::{Record, deflated, inflated};
        let record = Record::builder().value(Some(bytes::Bytes::from(vec![b'x'; size])));
        deflated::Batch::try_from(inflated::Batch::builder().record(record).build().unwrap())
            .unwrap()
    }

    fn request(wait_ms: i32, max_bytes: i32, partitions: &[(i32, i64)]) -> FetchRequest {
        FetchRequest::default()
            .max_wait_ms(wait_ms)
            .min_bytes(1)
            .max_bytes(Some(max_bytes))
            .topics(Some(vec![
                FetchTopic::default()
                    .topic(Some("t".into()))
                    .partitions(Some(
                        partitions
                            .iter()
                            .map(|&(partition, offset)| {
                                FetchPartition::default()
                                    .partition(partition)
                                    .fetch_offset(offset)
                                    .partition_max_bytes(1 << 20)
                            })
                            .collect(),
                    )),
            ]))
    }

    async fn fetch(log: &Arc<Log>, request: FetchRequest) -> Vec<(i16, usize, i64)> {
        let response = FetchService
            .serve(Context::with_state(log.clone()), request)
            .await
            .unwrap();
        response.responses.unwrap()[0]
            .partitions
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| {
                let batches = p.records.as_ref().map_or(0, |f| f.batches.len());
                (p.error_code, batches, p.high_watermark)
            })
            .collect()
    }

    #[tokio::test]
    async fn only_the_first_partition_with_data_may_go_over_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with_topic(dir.path());
        log.append("t", 0, &batch(50_000)).await.unwrap();
        log.append("t", 1, &batch(50_000)).await.unwrap();
        let answer = fetch(&log, request(0, 1000, &[(0, 0), (1, 0)])).await;
        assert_eq!(
            answer,
            vec![(0, 1, 1), (0, 0, 1)],
            "KIP-74 for the first only"
        );
        let answer = fetch(&log, request(0, 1 << 20, &[(0, 0), (1, 0)])).await;
        assert_eq!(answer, vec![(0, 1, 1), (0, 1, 1)]);
    }

    #[tokio::test]
    async fn an_offset_outside_the_log_is_an_error_for_that_partition_alone() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with_topic(dir.path());
        log.append("t", 0, &batch(10)).await.unwrap();
        let answer = fetch(&log, request(5000, 1 << 20, &[(0, 0), (1, 7)])).await;
        let out_of_range = i16::from(ErrorCode::OffsetOutOfRange);
        assert_eq!(answer, vec![(0, 1, 1), (out_of_range, 0, 0)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_fetch_wakes_when_a_batch_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_with_topic(dir.path());
        let writer = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            writer.append("t", 1, &batch(10)).await.unwrap();
        });
        let started = Instant::now();
        let answer = fetch(&log, request(30_000, 1 << 20, &[(0, 0), (1, 0)])).await;
        assert_eq!(
            answer,
            vec![(0, 0, 0), (0, 1, 1)],
            "the append answers the fetch"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "woken, not timed out"
        );
    }
}
