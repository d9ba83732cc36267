//! What the embedded broker needs to know: where its data lives, where it
//! listens, which topics must exist and how their logs are kept.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::BrokerError;
use super::log::LogSettings;

/// The port every sluice part agrees on, on loopback only: a broker that
/// other machines reach is real Kafka, not the embedded one.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9092));

/// The topic the game API produces to and the pipelines read.
pub const DEFAULT_TOPIC: &str = "events";

/// Four partitions, so a consumer group can split the topic like Kafka would.
pub const DEFAULT_TOPIC_PARTITIONS: i32 = 4;

/// `tracing` directives to add to the process's default filter: tansu's
/// Kafka decoder logs three INFO lines for every record produced, which at
/// tens of thousands of records a second drowns the log and costs CPU.
pub const TANSU_LOG_DIRECTIVES: &str =
    "tansu_sans_io=warn,tansu_service=warn,tansu_storage=warn,tansu_broker=warn";

/// The segment files' folder inside the data directory.
const LOG_DIR: &str = "log";

/// The file an earlier sluice's broker (tansu's SQLite engine) kept its log in.
pub const LEGACY_DB_FILE: &str = "broker.db";

/// A topic the broker creates on start if it does not exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    /// Fixed once the topic exists: the broker cannot add partitions later.
    pub partitions: i32,
    /// Kafka topic configs (`retention.ms`, ...) set when it is created.
    pub configs: BTreeMap<String, String>,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    pub fn with_config(mut self, name: &str, value: impl ToString) -> Self {
        self.configs.insert(name.to_owned(), value.to_string());
        self
    }

    /// Kafka's own rules, and the configs the log knows, checked before
    /// anything is written, so a bad name fails with its reason instead of
    /// as a protocol error code later.
    pub(super) fn validate(&self, log: &LogSettings) -> Result<(), BrokerError> {
        let invalid = |reason: String| BrokerError::InvalidTopic {
            topic: self.name.clone(),
            reason,
        };
        super::log::validate_topic_name(&self.name).map_err(|e| match e {
            super::log::TopicError::Invalid { reason, .. } => invalid(reason),
            other => invalid(other.to_string()),
        })?;
        if self.partitions < 1 {
            return Err(invalid(format!(
                "{} partitions: a topic needs at least one",
                self.partitions
            )));
        }
        log.defaults
            .with_overrides(&self.configs)
            .map_err(|fault| invalid(fault.to_string()))?;
        Ok(())
    }
}

/// Which storage engine holds the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StorageEngine {
    /// sluice's segment files: the durable one, and the default.
    #[default]
    Log,
    /// tansu's in-memory engine: nothing on disk, lost at exit. The
    /// benchmark's no-disk ceiling; needs the `bench-ceiling` cargo feature.
    TansuMemory,
}

/// How to run the embedded broker. `Default` is what `sluice serve` uses:
/// `./data`, `127.0.0.1:9092`, topic `events` with 4 partitions.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Created if missing; holds `log/` (the segments) and `broker-meta.redb`.
    pub data_dir: PathBuf,
    /// Port 0 picks a free port; [`RunningBroker::local_addr`](super::RunningBroker::local_addr) tells which.
    pub listen: SocketAddr,
    /// The `host:port` clients are told to connect to in metadata responses.
    /// `None` advertises the bound address, which is right unless the broker
    /// listens on an unspecified address (`0.0.0.0`) behind a name.
    pub advertised: Option<String>,
    pub topics: Vec<TopicSpec>,
    /// Kafka's cluster id, reported to clients.
    pub cluster_id: String,
    /// How often retention runs (Kafka's `log.retention.check.interval.ms`).
    pub maintenance_interval: Duration,
    /// fsync policy and the topics' default log settings.
    pub log: LogSettings,
    pub engine: StorageEngine,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            listen: DEFAULT_LISTEN,
            advertised: None,
            topics: vec![TopicSpec::new(DEFAULT_TOPIC, DEFAULT_TOPIC_PARTITIONS)],
            cluster_id: "sluice".to_owned(),
            maintenance_interval: Duration::from_secs(300),
            log: LogSettings::default(),
            engine: StorageEngine::Log,
        }
    }
}

impl BrokerConfig {
    /// The defaults with another data directory: what tests and `--data-dir` want.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    pub fn with_listen(self, listen: SocketAddr) -> Self {
        Self { listen, ..self }
    }

    pub fn with_topics(self, topics: Vec<TopicSpec>) -> Self {
        Self { topics, ..self }
    }

    pub fn with_log(self, log: LogSettings) -> Self {
        Self { log, ..self }
    }

    /// Where the segment files live for a given data directory.
    pub fn log_dir_in(data_dir: &Path) -> PathBuf {
        data_dir.join(LOG_DIR)
    }

    /// Where the metadata store lives for a given data directory.
    pub fn meta_path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(super::meta::META_FILE)
    }
}
