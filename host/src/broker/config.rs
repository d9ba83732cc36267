//! What the embedded broker needs to know: where its data lives, where it
//! listens and which topics must exist.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::BrokerError;

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

/// The SQLite file's name inside the data directory.
const DB_FILE: &str = "broker.db";

/// A topic the broker creates on start if it does not exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    /// Fixed once the topic exists: tansu cannot add partitions later.
    pub partitions: i32,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        Self {
            name: name.into(),
            partitions,
        }
    }

    /// Kafka's own rules, checked before anything is written, so a bad name
    /// fails with its reason instead of as a protocol error code later.
    pub(super) fn validate(&self) -> Result<(), BrokerError> {
        let invalid = |reason: &str| BrokerError::InvalidTopic {
            topic: self.name.clone(),
            reason: reason.to_owned(),
        };
        if self.name.is_empty() {
            return Err(invalid("a topic name cannot be empty"));
        }
        if self.name.len() > 249 {
            return Err(invalid("a topic name has at most 249 characters"));
        }
        if self.name == "." || self.name == ".." {
            return Err(invalid("`.` and `..` are not topic names"));
        }
        if !self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(invalid(
                "a topic name uses only ASCII letters, digits, `.`, `_` and `-`",
            ));
        }
        if self.partitions < 1 {
            return Err(invalid(&format!(
                "{} partitions: a topic needs at least one",
                self.partitions
            )));
        }
        Ok(())
    }
}

/// How to run the embedded broker. `Default` is what `sluice serve` uses:
/// `./data`, `127.0.0.1:9092`, topic `events` with 4 partitions.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Created if missing; holds `broker.db` and its WAL files.
    pub data_dir: PathBuf,
    /// Port 0 picks a free port; [`RunningBroker::local_addr`](super::RunningBroker::local_addr) tells which.
    pub listen: SocketAddr,
    /// The `host:port` clients are told to connect to in metadata responses.
    /// `None` advertises the bound address, which is right unless the broker
    /// listens on an unspecified address (`0.0.0.0`) behind a name.
    pub advertised: Option<String>,
    pub topics: Vec<TopicSpec>,
    /// Kafka's cluster id, reported to clients and keyed into the SQLite rows:
    /// changing it on an existing data directory hides the old topics.
    pub cluster_id: String,
    /// How often tansu's retention and compaction pass runs (tansu's default).
    pub maintenance_interval: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            listen: DEFAULT_LISTEN,
            advertised: None,
            topics: vec![TopicSpec::new(DEFAULT_TOPIC, DEFAULT_TOPIC_PARTITIONS)],
            cluster_id: "sluice".to_owned(),
            maintenance_interval: Duration::from_secs(600),
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

    /// Where the SQLite database lives for a given data directory.
    pub fn db_path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(DB_FILE)
    }
}
