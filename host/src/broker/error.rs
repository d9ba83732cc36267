//! Why the embedded broker could not start or stopped, naming the path,
//! address or topic involved and what to do about it.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::log::{LogError, TopicError};
use super::meta::MetaError;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot create the broker data directory {}: {source}", path.display())]
    CreateDataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "broker data directory {} is in use by another sluice broker (it holds {}); stop that broker or pass another data directory",
        path.display(),
        lock.display()
    )]
    DataDirInUse { path: PathBuf, lock: PathBuf },

    #[error("cannot lock the broker data directory with {}: {source}", lock.display())]
    LockDataDir {
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{} holds the log of an earlier sluice broker (tansu's SQLite engine), which this sluice cannot read; its broker keeps the log in {}/log now. Nothing was changed or deleted. If the events in it are already in the lake, move broker.db (and broker.db-wal, broker.db-shm) out of the data directory and start again; otherwise run the earlier sluice until its pipelines have caught up first",
        path.display(),
        data_dir.display()
    )]
    LegacyData { path: PathBuf, data_dir: PathBuf },

    #[error(
        "cannot listen on {addr}: address in use; is another sluice broker running? pass --broker-listen"
    )]
    AddressInUse { addr: SocketAddr },

    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid advertised listener `{advertised}`: {reason}; expected host:port")]
    InvalidAdvertised { advertised: String, reason: String },

    #[error("cannot open the broker's metadata: {0}")]
    Meta(#[from] MetaError),

    #[error("cannot open the broker's log: {0}")]
    Log(#[from] LogError),

    #[error("invalid topic `{topic}`: {reason}")]
    InvalidTopic { topic: String, reason: String },

    #[error("cannot create topic `{topic}` with {partitions} partitions: {source}")]
    CreateTopic {
        topic: String,
        partitions: i32,
        #[source]
        source: Box<TopicError>,
    },

    #[error(
        "topic `{topic}` in {} has {existing} partitions but {configured} are configured; the broker cannot change a topic's partitions: configure {existing}, or use a new data directory",
        path.display()
    )]
    PartitionsMismatch {
        topic: String,
        existing: i32,
        configured: i32,
        path: PathBuf,
    },

    #[error(
        "this sluice was built without the in-memory ceiling engine; build it with `cargo build --release --features bench-ceiling`"
    )]
    EngineNotBuilt,

    #[error("cannot start tansu's in-memory engine: {0}")]
    Ceiling(String),

    #[error("cannot build the broker's request handlers: {source}")]
    Services {
        #[source]
        source: tansu_broker::Error,
    },

    #[error("the broker task on {addr} ended abnormally: {source}")]
    Task {
        addr: SocketAddr,
        #[source]
        source: tokio::task::JoinError,
    },
}
