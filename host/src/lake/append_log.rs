//! The writer's handle on one table's Delta log: appends through the Delta
//! kernel's own transaction, against a snapshot that never lists the
//! table's files.
//!
//! A flush is one commit: the `add` actions of the files it wrote (with
//! their statistics) and, in the same commit, one `txn` action per Kafka
//! partition: app id from pipeline, topic and partition, version the last
//! offset written, as kafka-delta-ingest does. Rows and progress become
//! durable together.
//!
//! Why the kernel and not delta-rs's `CommitBuilder`: delta-rs keeps every
//! active file in its snapshot and, after each commit, runs them all through
//! log replay again, parsing every file's statistics. A commit cost 34 ms at
//! 400 files and 354 ms at 3,900 (docs/performance.md), so a day of 10 s
//! flushes slowed to a crawl before compaction could catch up. The kernel's
//! snapshot holds the log segment, protocol and metadata only: a commit
//! reads the one new commit file, whatever the table's size. What needs the
//! file list (queries, compaction, vacuum, history) keeps using delta-rs
//! ([`TableLog`]).
//!
//! The commit is put-if-absent at the next version. When another process
//! got there first the kernel reports a conflict: [`Committed::Conflict`].
//! The writer then refreshes and checks the `txn` versions of its
//! partitions before it tries again; that check is the zombie fence.

use std::sync::Arc;

use arrow::array::{
    Array as _, ArrayRef, Int64Array, ListBuilder, MapBuilder, MapFieldNames, RecordBatch,
    StringArray, StringBuilder, StructArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use delta_kernel::committer::FileSystemCommitter;
use delta_kernel::engine::arrow_data::ArrowEngineData;
use delta_kernel::schema::StructType;
use delta_kernel::transaction::CommitResult;
use delta_kernel::{Engine, Snapshot, SnapshotRef};
use deltalake::DeltaTableError;
use deltalake::kernel::engine::arrow_conversion::{TryFromArrow as _, TryIntoArrow as _};
use serde_json::Value;
use url::Url;

use super::LakeError;
use super::layout::TableDir;
use super::store::Lake;
use super::table_log::{TableLog, delta_error};

/// Delta's default when a table sets no `delta.checkpointInterval`.
const DEFAULT_CHECKPOINT_INTERVAL: u64 = 100;

/// A file written into a table's folder, about to be committed.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Relative to the table's folder: `date=2026-12-07/part-….parquet`.
    pub path: String,
    pub size: i64,
    /// `date`, and `pipeline` for dead letters.
    pub partition_values: Vec<(String, String)>,
    /// The `stats` object (see `stats.rs`).
    pub stats: Value,
    pub modified_ms: i64,
}

/// What a commit came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// In the log as this version.
    Version(u64),
    /// Another commit took the version first. Refresh, drop what another
    /// writer already committed for these partitions, and commit the rest.
    Conflict,
}

/// See the module docs.
pub struct AppendLog {
    dir: TableDir,
    /// The lean engine of `log_store.rs`, made once per table.
    engine: Arc<dyn Engine>,
    root: Url,
    snapshot: SnapshotRef,
}

impl std::fmt::Debug for AppendLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendLog")
            .field("dir", &self.dir)
            .field("version", &self.snapshot.version())
            .finish_non_exhaustive()
    }
}

impl AppendLog {
    /// The table's log, or `None` when its folder holds no Delta table.
    pub async fn open(lake: &Lake, dir: &TableDir) -> Result<Option<AppendLog>, LakeError> {
        let log_store = TableLog::unloaded(lake, dir)?.log_store();
        let root = log_store
            .transaction_url(None)
            .map_err(delta_error(dir, "open"))?;
        let engine = log_store.engine(None);
        let (at, reading) = (root.clone(), engine.clone());
        match kernel(move || Snapshot::builder_for(at.as_str()).build(reading.as_ref())).await {
            Ok(snapshot) => Ok(Some(AppendLog {
                dir: dir.clone(),
                engine,
                root,
                snapshot,
            })),
            // The kernel has no one error for "no log here": ask delta-rs,
            // which does. A table it can read is the kernel's error.
            Err(e) => match TableLog::exists(lake, dir).await? {
                false => Ok(None),
                true => Err(delta_error(dir, "read the log of")(e)),
            },
        }
    }

    /// The table's log, created with the columns of `file_schema` (the
    /// rows' own; the partition columns are added) if it has none yet.
    /// `schema_text` is the plugin's Hive column list (`sluice.schema`).
    pub async fn open_or_create(
        lake: &Lake,
        dir: &TableDir,
        file_schema: &Schema,
        schema_text: Option<&str>,
    ) -> Result<AppendLog, LakeError> {
        if let Some(log) = AppendLog::open(lake, dir).await? {
            return Ok(log);
        }
        TableLog::open_or_create(lake, dir, file_schema, schema_text).await?;
        AppendLog::open(lake, dir)
            .await?
            .ok_or_else(|| LakeError::Delta {
                op: "open",
                table: dir.table_name().to_string(),
                source: Box::new(DeltaTableError::NotATable(
                    "the table just created has no log".to_string(),
                )),
            })
    }

    pub fn version(&self) -> u64 {
        self.snapshot.version()
    }

    /// Reads the commits made since the snapshot, if any: only those.
    pub async fn refresh(&mut self) -> Result<(), LakeError> {
        let (engine, current) = (self.engine.clone(), self.snapshot.clone());
        self.snapshot = kernel(move || Snapshot::builder_from(current).build(engine.as_ref()))
            .await
            .map_err(delta_error(&self.dir, "refresh"))?;
        Ok(())
    }

    /// The version (last offset) the snapshot records for `app_id`.
    pub async fn txn_version(&self, app_id: &str) -> Result<Option<i64>, LakeError> {
        let (engine, snapshot, app_id) = (
            self.engine.clone(),
            self.snapshot.clone(),
            app_id.to_string(),
        );
        kernel(move || snapshot.get_app_id_version(&app_id, engine.as_ref()))
            .await
            .map_err(delta_error(&self.dir, "read the progress in"))
    }

    /// The table's columns as Arrow fields, partition columns included.
    pub fn schema(&self) -> Result<SchemaRef, LakeError> {
        let schema: Schema = self
            .snapshot
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e| {
                delta_error(&self.dir, "read the schema of")(DeltaTableError::Arrow { source: e })
            })?;
        Ok(Arc::new(schema))
    }

    /// Makes the table's schema `schema` (the rows' columns; new columns
    /// are nullable) and its `sluice.schema` `text`, in a commit of its own
    /// (a schema change, through delta-rs), then reads it.
    pub async fn widen(
        &mut self,
        lake: &Lake,
        schema: &Schema,
        text: Option<&str>,
    ) -> Result<Committed, LakeError> {
        let mut log = TableLog::open(lake, &self.dir).await?.ok_or_else(|| {
            delta_error(&self.dir, "change the schema of")(DeltaTableError::NotATable(
                self.root.to_string(),
            ))
        })?;
        let committed = log.change_schema(schema, text).await?;
        self.refresh().await?;
        Ok(committed)
    }

    /// Commits `files` and the Kafka progress `txns` (app id, last offset)
    /// as one version. `info` goes into the commit's `commitInfo`.
    pub async fn commit(
        &mut self,
        files: &[NewFile],
        txns: &[(String, i64)],
        info: &[(String, Value)],
    ) -> Result<Committed, LakeError> {
        let adds = add_files(files).map_err(|e| {
            delta_error(&self.dir, "commit to")(DeltaTableError::Arrow { source: e })
        })?;
        let (commit_info, commit_info_schema) = commit_info(info).map_err(|e| {
            delta_error(&self.dir, "commit to")(DeltaTableError::Arrow { source: e })
        })?;
        let (engine, snapshot) = (self.engine.clone(), self.snapshot.clone());
        let txns = txns.to_vec();
        let outcome = kernel(move || {
            let mut txn = snapshot
                .clone()
                .transaction(Box::new(FileSystemCommitter::new()), engine.as_ref())?
                .with_operation("WRITE".to_string())
                .with_engine_info(concat!("sluice ", env!("CARGO_PKG_VERSION")))
                .with_commit_info(commit_info, commit_info_schema);
            for (app_id, version) in txns {
                txn = txn.with_transaction_id(app_id, version);
            }
            txn.add_files(adds);
            let committed = match txn.commit(engine.as_ref())? {
                CommitResult::CommittedTransaction(committed) => committed,
                CommitResult::ConflictedTransaction(_) => return Ok(None),
                CommitResult::RetryableTransaction(retry) => return Err(retry.error),
            };
            let version = committed.commit_version();
            let mut after = match committed.post_commit_snapshot() {
                Some(after) => after.clone(),
                None => Snapshot::builder_from(snapshot)
                    .at_version(version)
                    .build(engine.as_ref())?,
            };
            // A checkpoint every `delta.checkpointInterval` commits keeps a
            // fresh read of the log short. One that fails is logged: the
            // commit stands, and the next interval tries again.
            let interval = after
                .table_properties()
                .checkpoint_interval
                .map_or(DEFAULT_CHECKPOINT_INTERVAL, |n| n.get());
            if committed.post_commit_stats().commits_since_checkpoint >= interval {
                match after.checkpoint(engine.as_ref(), None) {
                    // The snapshot that knows of its checkpoint, which the
                    // next commit counts from.
                    Ok((_, checkpointed)) => after = checkpointed,
                    Err(e) => tracing::warn!(version, error = %e, "Could not write a checkpoint."),
                }
            }
            Ok(Some(after))
        })
        .await
        .map_err(delta_error(&self.dir, "commit to"))?;
        Ok(match outcome {
            Some(after) => {
                let version = after.version();
                self.snapshot = after;
                Committed::Version(version)
            }
            None => Committed::Conflict,
        })
    }
}

/// Runs a kernel call (blocking I/O) off the async threads.
async fn kernel<T: Send + 'static>(
    call: impl FnOnce() -> delta_kernel::DeltaResult<T> + Send + 'static,
) -> Result<T, DeltaTableError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| DeltaTableError::Generic(e.to_string()))?
        .map_err(DeltaTableError::from)
}

/// The files as the kernel's add-file rows: path, partition values, size,
/// modification time, and the statistics as a struct (the kernel writes it
/// back as the `stats` JSON).
fn add_files(files: &[NewFile]) -> Result<Box<ArrowEngineData>, arrow::error::ArrowError> {
    let names = MapFieldNames {
        entry: "key_value".to_string(),
        key: "key".to_string(),
        value: "value".to_string(),
    };
    let mut partitions = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new())
        .with_values_field(Field::new("value", DataType::Utf8, true));
    for file in files {
        for (key, value) in &file.partition_values {
            partitions.keys().append_value(key);
            partitions.values().append_value(value);
        }
        partitions.append(true)?;
    }
    let partitions = partitions.finish();
    let stats = stats_struct(files)?;
    let schema = Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("partitionValues", partitions.data_type().clone(), false),
        Field::new("size", DataType::Int64, false),
        Field::new("modificationTime", DataType::Int64, false),
        Field::new("stats", stats.data_type().clone(), true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            files.iter().map(|f| f.path.as_str()),
        )),
        Arc::new(partitions),
        Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.size))),
        Arc::new(Int64Array::from_iter_values(
            files.iter().map(|f| f.modified_ms),
        )),
        Arc::new(stats),
    ];
    Ok(Box::new(ArrowEngineData::new(RecordBatch::try_new(
        Arc::new(schema),
        columns,
    )?)))
}

/// The files' `stats` JSON as one struct column, its fields the union of
/// theirs.
fn stats_struct(files: &[NewFile]) -> Result<StructArray, arrow::error::ArrowError> {
    let values: Vec<&Value> = files.iter().map(|f| &f.stats).collect();
    let schema =
        arrow::json::reader::infer_json_schema_from_iterator(values.iter().map(|v| Ok(*v)))?;
    let mut decoder = arrow::json::ReaderBuilder::new(Arc::new(schema)).build_decoder()?;
    decoder.serialize(&values)?;
    let batch = decoder
        .flush()?
        .ok_or_else(|| arrow::error::ArrowError::JsonError("no statistics".to_string()))?;
    Ok(StructArray::from(batch))
}

/// sluice's own `commitInfo` fields (pipeline, plugin versions, ...), as
/// one row; the kernel adds its own (time, operation, txn id).
fn commit_info(
    info: &[(String, Value)],
) -> Result<(Box<ArrowEngineData>, Arc<StructType>), arrow::error::ArrowError> {
    let mut fields = Vec::with_capacity(info.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(info.len());
    for (key, value) in info {
        let column: ArrayRef = match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                Arc::new(Int64Array::from(vec![n.as_i64()]))
            }
            Value::Array(items) => {
                let mut list = ListBuilder::new(StringBuilder::new());
                for item in items {
                    match item {
                        Value::String(s) => list.values().append_value(s),
                        other => list.values().append_value(other.to_string()),
                    }
                }
                list.append(true);
                Arc::new(list.finish())
            }
            Value::String(s) => Arc::new(StringArray::from(vec![s.as_str()])),
            other => Arc::new(StringArray::from(vec![other.to_string()])),
        };
        fields.push(Field::new(key, column.data_type().clone(), true));
        columns.push(column);
    }
    let schema = Arc::new(Schema::new(fields));
    let kernel_schema = StructType::try_from_arrow(schema.as_ref())?;
    let batch = RecordBatch::try_new(schema, columns)?;
    Ok((
        Box::new(ArrowEngineData::new(batch)),
        Arc::new(kernel_schema),
    ))
}
