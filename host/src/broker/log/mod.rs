//! The broker's log: for every partition, append-only segment files that
//! hold the record batches exactly as producers sent them, under
//! `<data>/log/<topic>-<partition>/`.
//!
//! In: produced batches, checked here (format, CRC, size, compression,
//! idempotent sequences) and given offsets. Out: whole stored batches for a
//! fetch, read straight from the files with no per-record work, the first
//! one whole even when larger than the fetch asked for (KIP-74).
//!
//! - `segment.rs` and `index.rs`: the files, in Kafka's own formats;
//! - `partition.rs`: appends, reads, retention and recovery of one partition;
//! - `producers.rs`: idempotent producers' sequences (KIP-98, KIP-360);
//! - `batch.rs` and `inflate.rs`: what a batch must be to be taken;
//! - `flush.rs`: when bytes are forced to disk; `topic_config.rs`: the
//!   per-topic settings under Kafka's names.
//!
//! A produce is acknowledged once its batch is in the segment file. After a
//! crash each partition's last segment is read through with CRC checks and a
//! torn last batch cut off; after a clean stop (marked by `.clean-shutdown`)
//! the index files are trusted.

mod batch;
mod flush;
mod index;
mod inflate;
mod partition;
mod producers;
mod segment;
mod topic_config;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tansu_sans_io::ErrorCode;
use tansu_sans_io::record::deflated;
use tokio::sync::Notify;
use tracing::{info, warn};
use uuid::Uuid;

use super::meta::{MetaError, Metadata, TopicRecord};
pub use batch::BatchFault;
use batch::{BatchHeader, HEADER_LEN};
pub use flush::FlushPolicy;
pub use partition::{Partition, ProducerSnapshot, ReadError};
pub use topic_config::{ConfigFault, TopicConfig};

/// Marks a log closed cleanly; removed as soon as the log is opened again.
const CLEAN_SHUTDOWN: &str = ".clean-shutdown";

/// Kafka's `producer.id.expiration.ms`: a producer silent this long is forgotten.
const PRODUCER_EXPIRY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "segment {} is corrupt at byte {position} (after offset {after_offset}): {fault}; the broker does not skip damaged data: move the partition's folder aside to start it empty, or cut the file there (`truncate -s {position} {}`) to keep the batches before it",
        path.display(),
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        position: u64,
        after_offset: i64,
        fault: BatchFault,
    },
    #[error("partition {} takes no writes until the broker restarts: {why}", path.display())]
    Broken { path: PathBuf, why: String },
    #[error(transparent)]
    Meta(#[from] MetaError),
}

/// Why a produced batch was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("no partition {partition} of topic `{topic}`")]
    UnknownTopicOrPartition { topic: String, partition: i32 },
    #[error("{reason}")]
    Refused { code: ErrorCode, reason: String },
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl ProduceError {
    /// The error code the producer gets.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProduceError::UnknownTopicOrPartition { .. } => ErrorCode::UnknownTopicOrPartition,
            ProduceError::Refused { code, .. } => *code,
            ProduceError::Storage(_) => ErrorCode::KafkaStorageError,
        }
    }
}

/// Why a topic was not created or changed.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic `{0}` already exists")]
    Exists(String),
    #[error("no topic `{0}`")]
    Unknown(String),
    #[error("invalid topic `{name}`: {reason}")]
    Invalid { name: String, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigFault),
    #[error(transparent)]
    Storage(#[from] LogError),
}

impl TopicError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TopicError::Exists(_) => ErrorCode::TopicAlreadyExists,
            TopicError::Unknown(_) => ErrorCode::UnknownTopicOrPartition,
            TopicError::Invalid { .. } => ErrorCode::InvalidTopicException,
            TopicError::Config(_) => ErrorCode::InvalidConfig,
            TopicError::Storage(_) => ErrorCode::KafkaStorageError,
        }
    }
}

impl From<MetaError> for TopicError {
    fn from(e: MetaError) -> Self {
        TopicError::Storage(e.into())
    }
}

/// The log's broker-wide settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSettings {
    pub flush: FlushPolicy,
    /// What a topic gets unless it sets its own.
    pub defaults: TopicConfig,
}

/// A topic: its partitions and its settings.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    settings: RwLock<(TopicConfig, BTreeMap<String, String>)>,
    partitions: Vec<Arc<Partition>>,
}

impl Topic {
    pub fn partitions(&self) -> &[Arc<Partition>] {
        &self.partitions
    }

    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    pub fn config(&self) -> TopicConfig {
        self.settings.read().unwrap_or_else(|p| p.into_inner()).0
    }

    /// The configs set on the topic itself.
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }
}

#[derive(Debug)]
pub struct Log {
    root: PathBuf,
    meta: Arc<Metadata>,
    settings: LogSettings,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    appended: Notify,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Log {
    /// Opens the log under `root` for the topics `meta` knows, recovering
    /// what a crash left behind.
    pub fn open(root: &Path, meta: Arc<Metadata>, settings: LogSettings) -> Result<Log, LogError> {
        std::fs::create_dir_all(root).map_err(|source| LogError::Io {
            action: "create",
            path: root.to_owned(),
            source,
        })?;
        let marker = root.join(CLEAN_SHUTDOWN);
        let clean = marker.exists();
        let mut topics = BTreeMap::new();
        for record in meta.topics()? {
            let config = settings
                .defaults
                .with_overrides(&record.configs)
                .unwrap_or_else(|fault| {
                    warn!(topic = %record.name, %fault, "A stored topic config is no longer valid; using the defaults.");
                    settings.defaults
                });
            let mut partitions = Vec::with_capacity(record.partitions as usize);
            for index in 0..record.partitions {
                let dir = Partition::dir_in(root, &record.name, index);
                let partition = if dir.exists() {
                    let snapshot = meta
                        .producer_snapshot(&record.name, index)?
                        .and_then(|json| serde_json::from_str::<ProducerSnapshot>(&json).ok());
                    let log_start = meta.log_start(&record.name, index)?;
                    let opened =
                        Partition::open(root, &record.name, index, clean, snapshot, log_start)?;
                    if let Some(torn) = opened.torn {
                        warn!(
                            topic = %record.name,
                            partition = index,
                            position = torn.position,
                            bytes = torn.bytes,
                            fault = %torn.fault,
                            "Cut a torn batch off the end of the log: a write the crash interrupted, never acknowledged."
                        );
                    }
                    opened.partition
                } else {
                    warn!(partition = %dir.display(), "A partition's folder is missing; starting it empty.");
                    Partition::create(root, &record.name, index)?
                };
                partitions.push(Arc::new(partition));
            }
            topics.insert(
                record.name.clone(),
                Arc::new(Topic {
                    name: record.name,
                    id: record.id,
                    settings: RwLock::new((config, record.configs)),
                    partitions,
                }),
            );
        }
        if clean {
            std::fs::remove_file(&marker).map_err(|source| LogError::Io {
                action: "remove",
                path: marker.clone(),
                source,
            })?;
            segment::sync_dir(root)?;
        }
        Ok(Log {
            root: root.to_owned(),
            meta,
            settings,
            topics: RwLock::new(topics),
            appended: Notify::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn settings(&self) -> &LogSettings {
        &self.settings
    }

    pub fn meta(&self) -> &Arc<Metadata> {
        &self.meta
    }

    /// Woken after every append: fetches waiting for data listen here.
    pub fn appended(&self) -> &Notify {
        &self.appended
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|t| t.id == id)
            .cloned()
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.topic(topic)?.partition(index).cloned()
    }

    /// Creates a topic with `partitions` partitions and Kafka configs.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Uuid, TopicError> {
        validate_topic_name(name)?;
        if partitions < 1 {
            return Err(TopicError::Invalid {
                name: name.to_owned(),
                reason: format!("{partitions} partitions: a topic needs at least one"),
            });
        }
        let config = self.settings.defaults.with_overrides(&configs)?;
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if topics.contains_key(name) {
            return Err(TopicError::Exists(name.to_owned()));
        }
        let id = Uuid::new_v4();
        if validate_only {
            return Ok(id);
        }
        let mut created = Vec::with_capacity(partitions as usize);
        for index in 0..partitions {
            let dir = Partition::dir_in(&self.root, name, index);
            if dir.exists() {
                // Left by a topic of this name that was deleted while its
                // files could not be: never mix its batches into a new topic.
                let aside = dir.with_extension(format!("deleted-{}", Uuid::new_v4().simple()));
                std::fs::rename(&dir, &aside).map_err(|source| LogError::Io {
                    action: "move aside",
                    path: dir.clone(),
                    source,
                })?;
            }
            created.push(Arc::new(Partition::create(&self.root, name, index)?));
        }
        let record = TopicRecord {
            name: name.to_owned(),
            id,
            partitions,
            configs: configs.clone(),
        };
        if !self.meta.insert_topic(&record)? {
            return Err(TopicError::Exists(name.to_owned()));
        }
        topics.insert(
            name.to_owned(),
            Arc::new(Topic {
                name: name.to_owned(),
                id,
                settings: RwLock::new((config, configs)),
                partitions: created,
            }),
        );
        info!(topic = %name, partitions, %id, "Topic created.");
        Ok(id)
    }

    /// Deletes a topic and its files.
    pub fn delete_topic(&self, name: &str) -> Result<(), TopicError> {
        let topic = self
            .topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        self.meta
            .remove_topic(name, topic.partitions.len() as i32)?;
        for partition in &topic.partitions {
            if let Err(error) = std::fs::remove_dir_all(partition.dir()) {
                warn!(partition = %partition.dir().display(), %error, "Cannot delete a deleted topic's files.");
            }
        }
        info!(topic = %name, "Topic deleted.");
        Ok(())
    }

    /// Sets (`Some`) or removes (`None`) a topic's own configs.
    pub fn alter_topic(
        &self,
        name: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<(), TopicError> {
        let topic = self
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_owned()))?;
        let mut overrides = topic.overrides();
        for (key, value) in changes {
            match value {
                Some(value) => overrides.insert(key.clone(), value.clone()),
                None => overrides.remove(key),
            };
        }
        let config = self.settings.defaults.with_overrides(&overrides)?;
        self.meta.update_topic(&TopicRecord {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            configs: overrides.clone(),
        })?;
        *topic.settings.write().unwrap_or_else(|p| p.into_inner()) = (config, overrides);
        info!(topic = %name, "Topic config changed.");
        Ok(())
    }

    /// Checks and appends a produced batch; returns its base offset. Under
    /// the sync-per-request policy, returns once it is synced.
    pub async fn append(
        &self,
        topic: &str,
        index: i32,
        batch: &deflated::Batch,
    ) -> Result<i64, ProduceError> {
        let unknown = || ProduceError::UnknownTopicOrPartition {
            topic: topic.to_owned(),
            partition: index,
        };
        let found = self.topic(topic).ok_or_else(unknown)?;
        let partition = found.partition(index).ok_or_else(unknown)?.clone();
        let config = found.config();
        let header = check_batch(batch, &config).inspect_err(|e| {
            warn!(topic, partition = index, reason = %e, "Refused a produced batch.");
        })?;
        let appended = match partition.append(header, &batch.record_data, &config) {
            Ok(appended) => appended,
            Err(partition::AppendError::Refused { code }) => {
                return Err(ProduceError::Refused {
                    code,
                    reason: format!("{code:?}"),
                });
            }
            Err(partition::AppendError::Storage(error)) => {
                tracing::error!(topic, partition = index, %error, "Cannot append to the log.");
                return Err(error.into());
            }
        };
        if let Some(snapshot) = &appended.rolled {
            self.save_snapshots(&[(topic, index, snapshot)]);
        }
        if !appended.duplicate {
            self.appended.notify_waiters();
        }
        if self.settings.flush == FlushPolicy::EveryRequest {
            partition.sync_through(appended.next_offset).await?;
        }
        Ok(appended.base_offset)
    }

    fn save_snapshots(&self, snapshots: &[(&str, i32, &ProducerSnapshot)]) {
        let rows: Vec<(&str, i32, String)> = snapshots
            .iter()
            .filter_map(|(t, p, s)| serde_json::to_string(s).ok().map(|json| (*t, *p, json)))
            .collect();
        if let Err(error) = self.meta.save_producer_snapshots(&rows) {
            // Not fatal: a restart replays more batch headers instead.
            warn!(%error, "Cannot keep the producers' snapshot.");
        }
    }

    /// Moves a partition's log start (DeleteRecords) and keeps it.
    pub fn delete_records(&self, topic: &str, index: i32, before: i64) -> Result<i64, ReadError> {
        let partition = self.partition(topic, index).ok_or(ReadError::OutOfRange {
            offset: before,
            log_start: -1,
            high_watermark: -1,
        })?;
        let log_start = partition.delete_before(before)?;
        self.meta
            .set_log_start(topic, index, log_start)
            .map_err(|e| ReadError::Storage(e.into()))?;
        Ok(log_start)
    }

    /// Retention and producer expiry over every partition.
    pub fn maintain(&self) {
        let now = now_ms();
        for topic in self.topics() {
            let config = topic.config();
            for partition in topic.partitions() {
                if let Err(error) = partition.apply_retention(&config, now) {
                    warn!(topic = %topic.name, partition = partition.index(), %error, "Retention failed.");
                }
                let forgotten =
                    partition.forget_idle_producers(now - PRODUCER_EXPIRY.as_millis() as i64);
                if forgotten > 0 {
                    info!(topic = %topic.name, partition = partition.index(), forgotten, "Forgot idle producers.");
                }
            }
        }
    }

    /// Syncs every partition written to since its last sync (the interval policy).
    pub fn sync_dirty(&self) {
        for topic in self.topics() {
            for partition in topic.partitions() {
                if let Err(error) = partition.sync_if_dirty() {
                    tracing::error!(%error, "Cannot sync the log to disk.");
                }
            }
        }
    }

    /// A clean stop: every active segment's indexes written and synced, the
    /// producers kept, and the log marked clean so the next start trusts it.
    pub fn close(&self) -> Result<(), LogError> {
        let mut snapshots = Vec::new();
        for topic in self.topics() {
            for partition in topic.partitions() {
                snapshots.push((topic.name.clone(), partition.index(), partition.close()?));
            }
        }
        let rows: Vec<(&str, i32, &ProducerSnapshot)> = snapshots
            .iter()
            .map(|(t, p, s)| (t.as_str(), *p, s))
            .collect();
        self.save_snapshots(&rows);
        let marker = self.root.join(CLEAN_SHUTDOWN);
        std::fs::write(&marker, b"").map_err(|source| LogError::Io {
            action: "write",
            path: marker,
            source,
        })?;
        segment::sync_dir(&self.root)
    }
}

/// Kafka's own rules for topic names.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let invalid = |reason: &str| TopicError::Invalid {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(invalid("a topic name cannot be empty"));
    }
    if name.len() > 249 {
        return Err(invalid("a topic name has at most 249 characters"));
    }
    if name == "." || name == ".." {
        return Err(invalid("`.` and `..` are not topic names"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid(
            "a topic name uses only ASCII letters, digits, `.`, `_` and `-`",
        ));
    }
    Ok(())
}

/// Everything about a produced batch the log checks before taking it.
fn check_batch(batch: &deflated::Batch, config: &TopicConfig) -> Result<BatchHeader, ProduceError> {
    let refuse = |code: ErrorCode, reason: String| ProduceError::Refused { code, reason };
    let header = BatchHeader::of(batch, 0);
    if header.magic != 2 {
        return Err(refuse(
            ErrorCode::UnsupportedForMessageFormat,
            BatchFault::Magic(header.magic).to_string(),
        ));
    }
    let total = HEADER_LEN + batch.record_data.len();
    if header.total_len() != total {
        return Err(refuse(
            ErrorCode::CorruptMessage,
            format!(
                "the batch says {} bytes but carries {total}",
                header.total_len()
            ),
        ));
    }
    if total as u64 > config.max_message_bytes {
        return Err(refuse(
            ErrorCode::MessageTooLarge,
            format!(
                "a batch of {total} bytes is over the topic's max.message.bytes ({})",
                config.max_message_bytes
            ),
        ));
    }
    header
        .check_count()
        .map_err(|fault| refuse(ErrorCode::CorruptMessage, fault.to_string()))?;
    let computed = batch::crc_of(&header.encode(), &batch.record_data);
    if computed != header.crc {
        return Err(refuse(
            ErrorCode::CorruptMessage,
            BatchFault::Crc {
                stored: header.crc,
                computed,
            }
            .to_string(),
        ));
    }
    if header.is_transactional() || header.is_control() {
        return Err(refuse(
            ErrorCode::InvalidTxnState,
            "the embedded broker does not support transactions; use Kafka for them".to_owned(),
        ));
    }
    if header.compression() != 0 {
        let limit = config.max_inflated_bytes();
        inflate::inflated_len(header.compression(), &batch.record_data, limit).map_err(
            |fault| {
                let code = match fault {
                    inflate::InflateFault::TooLarge { .. } => ErrorCode::MessageTooLarge,
                    _ => ErrorCode::CorruptMessage,
                };
                refuse(code, format!("a compressed batch refused: {fault}"))
            },
        )?;
    }
    Ok(header)
}
