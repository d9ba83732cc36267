//! What can go wrong in the lake, each error naming the path, URL or value
//! at fault, and saying whether retrying can help ([`Transient`]).

use super::retry::{Transient, is_transient_io_error, is_transient_store_error};

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error(
        "invalid lake URL `{url}`: {reason}; use a directory (`./lake`, `file:///abs/path`) or `hdfs://namenode:8020/path`"
    )]
    InvalidUrl { url: String, reason: String },
    #[error(
        "lake directory `{path}` is not writable: {source}; create it or fix its permissions, or point the lake elsewhere"
    )]
    NotWritable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "lake directory `{path}` cannot be read: {source}; check the path (`--lake`, `[lake] url`) and its permissions"
    )]
    NotReadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot reach HDFS at `{url}`: {source}")]
    Connect {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("failed to {op} `{path}`: {source}")]
    Storage {
        op: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("invalid {what} `{name}`: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("rows for `{dir}` are unusable: {reason}")]
    InvalidRows { dir: String, reason: String },
    #[error(
        "offsets of {topic}-{partition} go backwards in `{dir}`: {offset} after {previous}; files must cover increasing offsets"
    )]
    OffsetsBackwards {
        dir: String,
        topic: String,
        partition: i32,
        previous: i64,
        offset: i64,
    },
    #[error(
        "table `{table}` records offset {recorded} of {topic}-{partition} as written (pipeline `{pipeline}`, incarnation {incarnation}), but the partition ends at {end}: the topic was recreated or restored from an older copy, and its offsets started again. Nothing was written or dropped. If the topic is new, set `incarnation = {next}` under [source] in the config and restart: the tables then record its offsets afresh, and the rows already in them stay. If the broker lost its data by mistake, restore it instead"
    )]
    TopicReset {
        table: String,
        pipeline: String,
        topic: String,
        partition: i32,
        recorded: i64,
        end: i64,
        incarnation: u32,
        next: u32,
    },
    #[error("`{path}` is not a readable Parquet file: {source}")]
    Footer {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("cannot encode Parquet for `{dir}`: {source}")]
    Encode {
        dir: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("cannot {op} the Delta table `{table}`: {source}")]
    Delta {
        op: &'static str,
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
}

impl Transient for LakeError {
    fn is_transient(&self) -> bool {
        match self {
            LakeError::Connect { source, .. } | LakeError::Storage { source, .. } => {
                is_transient_store_error(source)
            }
            LakeError::NotWritable { source, .. } | LakeError::NotReadable { source, .. } => {
                is_transient_io_error(source)
            }
            LakeError::Delta { source, .. } => match source.as_ref() {
                deltalake::DeltaTableError::ObjectStore { source } => {
                    is_transient_store_error(source)
                }
                deltalake::DeltaTableError::Io { source } => is_transient_io_error(source),
                deltalake::DeltaTableError::Transaction { .. } => true,
                // The writer's appends go through the kernel (`append_log.rs`).
                deltalake::DeltaTableError::KernelError(e) => is_transient_kernel_error(e),
                _ => false,
            },
            LakeError::InvalidUrl { .. }
            | LakeError::InvalidName { .. }
            | LakeError::InvalidRows { .. }
            | LakeError::OffsetsBackwards { .. }
            | LakeError::TopicReset { .. }
            | LakeError::Footer { .. }
            | LakeError::Encode { .. } => false,
        }
    }
}

/// Whether a Delta kernel error may go away by itself: the storage
/// underneath failed in a way that does.
fn is_transient_kernel_error(error: &delta_kernel::Error) -> bool {
    match error {
        delta_kernel::Error::ObjectStore(source) => is_transient_store_error(source),
        delta_kernel::Error::IOError(source) => is_transient_io_error(source),
        delta_kernel::Error::Backtraced { source, .. } => is_transient_kernel_error(source),
        _ => false,
    }
}
