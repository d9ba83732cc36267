//! Why the embedded broker could not start or stopped, naming the path,
//! address or topic involved and what to do about it.

use std::net::SocketAddr;
use std::path::PathBuf;

/// tansu's errors print their `Debug` form as `Display`; they are kept as
/// the source so the cause chain still carries them.
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
        "cannot keep broker data in {}: {reason}; pass a data directory whose path is ASCII without spaces, `?` or `#`",
        path.display()
    )]
    UnsupportedDataDir { path: PathBuf, reason: String },

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

    #[error("cannot open the broker's SQLite database {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: libsql::Error,
    },

    #[error(
        "the broker's SQLite database {} stayed locked for {waited:?}; is another program (a sqlite3 shell?) writing to it?",
        path.display()
    )]
    DatabaseLocked {
        path: PathBuf,
        waited: std::time::Duration,
    },

    #[error("cannot open the broker's SQLite storage {}: {source}", path.display())]
    OpenStorage {
        path: PathBuf,
        #[source]
        source: tansu_storage::Error,
    },

    #[error("cannot register the broker in {}: {source}", path.display())]
    Register {
        path: PathBuf,
        #[source]
        source: tansu_storage::Error,
    },

    #[error("invalid topic `{topic}`: {reason}")]
    InvalidTopic { topic: String, reason: String },

    #[error("cannot create topic `{topic}` with {partitions} partitions: {source}")]
    CreateTopic {
        topic: String,
        partitions: i32,
        #[source]
        source: tansu_storage::Error,
    },

    #[error("cannot read topic `{topic}` back from the broker's storage: {reason}")]
    DescribeTopic { topic: String, reason: String },

    #[error(
        "topic `{topic}` in {} has {existing} partitions but {configured} are configured; tansu cannot change a topic's partitions: configure {existing}, or use a new data directory",
        path.display()
    )]
    PartitionsMismatch {
        topic: String,
        existing: i32,
        configured: i32,
        path: PathBuf,
    },

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
