//! One table's Delta log (`<lake>/<table>/_delta_log/`), through the
//! `deltalake` crate, for everything that needs the table's files: queries,
//! compaction, vacuum, history, conversion, creating a table and changing
//! its schema. delta-rs's snapshot holds every active file with its
//! statistics; the writer's appends go through the lean kernel snapshot of
//! `append_log.rs` instead.

use std::collections::HashMap;

use arrow::datatypes::{DataType, Field, Schema};
use deltalake::kernel::engine::arrow_conversion::TryFromArrow as _;
use deltalake::kernel::transaction::{
    CommitBuilder, CommitProperties, TableReference, TransactionError,
};
use deltalake::kernel::{Action, MetadataExt as _, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::config::TableProperty;
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStoreExt as _;
use serde_json::Value;

use super::LakeError;
use super::append_log::Committed;
use super::layout::TableDir;
use super::log_store::LeanLogStore;
use super::store::Lake;

/// The table property holding the plugin's Hive column list.
pub const SCHEMA_PROPERTY: &str = "sluice.schema";

/// Commits between checkpoints (`delta.checkpointInterval`), Spark's
/// default; delta-rs's is 100. Reading a snapshot replays the commits since
/// the last checkpoint, and delta-rs's engine opens them all at once, each
/// with a JSON decoder of about 3 MiB: 100 of them made a 300 MiB peak on
/// every fresh read, which the allocator kept.
pub const CHECKPOINT_INTERVAL: &str = "10";

/// One version of a table, as `sluice history` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Commit {
    pub version: u64,
    /// Milliseconds since the epoch, as the commit recorded it.
    pub timestamp_ms: Option<i64>,
    /// `WRITE`, `OPTIMIZE`, `CREATE TABLE`, `CONVERT`, `VACUUM END`, ...
    pub operation: String,
    pub files_added: usize,
    pub files_removed: usize,
    /// Rows in the files added, from their statistics.
    pub rows_added: u64,
    pub pipeline: Option<String>,
    /// The plugin versions (`name@version#hash`) that wrote the rows.
    pub plugins: Vec<String>,
    /// Kafka progress set by the commit: app id → last offset.
    pub progress: Vec<(String, i64)>,
}

/// A data file the log names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Relative to the table's folder, decoded.
    pub path: String,
    pub size: u64,
    pub modified_ms: i64,
    pub rows: Option<u64>,
}

#[derive(Clone)]
pub struct TableLog {
    dir: TableDir,
    table: DeltaTable,
}

impl std::fmt::Debug for TableLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableLog")
            .field("dir", &self.dir)
            .field("version", &self.table.version())
            .finish_non_exhaustive()
    }
}

/// The Delta error as a lake error about `dir`.
pub(super) fn delta_error<E: Into<DeltaTableError>>(
    dir: &TableDir,
    op: &'static str,
) -> impl Fn(E) -> LakeError + use<E> {
    let table = dir.table_name().to_string();
    move |source| LakeError::Delta {
        op,
        table: table.clone(),
        source: Box::new(source.into()),
    }
}

impl TableLog {
    fn builder(lake: &Lake, dir: &TableDir) -> Result<DeltaTable, LakeError> {
        let url = lake.table_log_url(dir)?;
        let table = DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_backend(lake.object_store(), url).build())
            .map_err(delta_error(dir, "open"))?;
        Ok(DeltaTable::new(LeanLogStore::wrap(table.log_store())))
    }

    /// The table's handle, its log not read: for operations that create it.
    pub fn unloaded(lake: &Lake, dir: &TableDir) -> Result<DeltaTable, LakeError> {
        TableLog::builder(lake, dir)
    }

    /// The table's log, or `None` when its folder holds no Delta table.
    pub async fn open(lake: &Lake, dir: &TableDir) -> Result<Option<TableLog>, LakeError> {
        let mut table = TableLog::builder(lake, dir)?;
        match table.load().await {
            Ok(()) => Ok(Some(TableLog {
                dir: dir.clone(),
                table,
            })),
            Err(e) => no_table(lake, dir, e).await,
        }
    }

    /// The table's log, created with the columns of `file_schema` (the
    /// rows' own; the partition columns are added) if it has none yet.
    /// `schema_text` is the plugin's Hive column list, kept as the table
    /// property `sluice.schema` for the schema-evolution check.
    pub async fn open_or_create(
        lake: &Lake,
        dir: &TableDir,
        file_schema: &Schema,
        schema_text: Option<&str>,
    ) -> Result<TableLog, LakeError> {
        if let Some(log) = TableLog::open(lake, dir).await? {
            return Ok(log);
        }
        let table = TableLog::builder(lake, dir)?;
        let columns = delta_schema(dir, file_schema).map_err(delta_error(dir, "describe"))?;
        let table = table
            .create()
            .with_table_name(dir.table_name())
            .with_columns(columns.fields().cloned())
            .with_partition_columns(dir.partition_columns().iter().copied())
            .with_configuration(schema_text.map(|text| (SCHEMA_PROPERTY, Some(text))))
            .with_configuration_property(
                TableProperty::CheckpointInterval,
                Some(CHECKPOINT_INTERVAL),
            )
            .with_raise_if_key_not_exists(false)
            .with_save_mode(SaveMode::Ignore)
            .await
            .map_err(delta_error(dir, "create"))?;
        tracing::info!(table = %dir.table_name(), "Created the table's Delta log.");
        Ok(TableLog {
            dir: dir.clone(),
            table,
        })
    }

    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    pub fn table(&self) -> &DeltaTable {
        &self.table
    }

    /// Reads the commits made since the snapshot, if any. Whether there are
    /// is one look for the next version's commit file: delta-rs would list
    /// the whole `_delta_log` (thousands of files a day) to find out, on
    /// every query.
    pub async fn refresh(&mut self) -> Result<(), LakeError> {
        if let Some(version) = self.table.version() {
            let next = deltalake::logstore::commit_uri_from_version(Some(version + 1));
            // Any other failure: delta-rs's own read says what is wrong.
            if let Err(object_store::Error::NotFound { .. }) =
                self.table.log_store().object_store(None).head(&next).await
            {
                return Ok(());
            }
        }
        self.table
            .update_incremental(None)
            .await
            .map_err(delta_error(&self.dir, "refresh"))
    }

    /// The snapshot last read.
    fn snapshot(&self) -> Result<&DeltaTableState, LakeError> {
        self.table
            .snapshot()
            .map_err(delta_error(&self.dir, "read"))
    }

    /// The version (last offset) the snapshot records for `app_id`.
    pub async fn txn_version(&self, app_id: &str) -> Result<Option<i64>, LakeError> {
        let snapshot = self.snapshot()?;
        snapshot
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await
            .map_err(delta_error(&self.dir, "read the progress in"))
    }

    /// The Hive column list a table was last written with, from its
    /// protocol and metadata alone (no file list is read): `None` for a
    /// table without a log or without the property.
    pub async fn read_recorded_schema(
        lake: &Lake,
        dir: &TableDir,
    ) -> Result<Option<String>, LakeError> {
        let log_store = TableLog::builder(lake, dir)?.log_store();
        match deltalake::kernel::Snapshot::try_new(log_store.as_ref(), None).await {
            Ok(snapshot) => Ok(snapshot
                .metadata()
                .configuration()
                .get(SCHEMA_PROPERTY)
                .cloned()),
            Err(e) => no_table(lake, dir, e).await,
        }
    }

    /// The data files of the current version, from the log alone.
    pub fn files(&self) -> Result<Vec<LogFile>, LakeError> {
        let snapshot = self.snapshot()?;
        let data = snapshot
            .snapshot()
            .try_log_data()
            .map_err(delta_error(&self.dir, "read the files of"))?;
        Ok(data
            .into_iter()
            .map(|file| LogFile {
                path: file.path().to_string(),
                size: file.size().max(0) as u64,
                modified_ms: file.modification_time(),
                rows: file.num_records().map(|n| n as u64),
            })
            .collect())
    }

    /// The last `limit` versions, newest first, read from their commit files.
    /// `None` when `dir` holds no Delta table. Reads the latest version's
    /// protocol and metadata, never the file list, then the commit files.
    pub async fn history(
        lake: &Lake,
        dir: &TableDir,
        limit: usize,
    ) -> Result<Option<Vec<Commit>>, LakeError> {
        let store = TableLog::builder(lake, dir)?.log_store();
        let latest = match deltalake::kernel::Snapshot::try_new(store.as_ref(), None).await {
            Ok(snapshot) => snapshot.version(),
            Err(e) => return no_table(lake, dir, e).await,
        };
        let mut commits = Vec::new();
        for version in (0..=latest).rev().take(limit) {
            let Some(bytes) = store
                .read_commit_entry(version)
                .await
                .map_err(delta_error(dir, "read the history of"))?
            else {
                // Cleaned up: older versions live only in a checkpoint.
                break;
            };
            let actions = deltalake::logstore::get_actions(version, &bytes)
                .map_err(delta_error(dir, "read the history of"))?;
            let mut commit = Commit {
                version,
                timestamp_ms: None,
                operation: String::new(),
                files_added: 0,
                files_removed: 0,
                rows_added: 0,
                pipeline: None,
                plugins: Vec::new(),
                progress: Vec::new(),
            };
            for action in actions {
                match action {
                    Action::CommitInfo(info) => {
                        commit.timestamp_ms = info.timestamp;
                        commit.operation = info.operation.clone().unwrap_or_default();
                        commit.pipeline = info
                            .info
                            .get("sluice.pipeline")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        if let Some(Value::Array(plugins)) = info.info.get("sluice.plugins") {
                            commit.plugins = plugins
                                .iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect();
                        }
                    }
                    Action::Add(add) => {
                        commit.files_added += 1;
                        commit.rows_added += add
                            .stats
                            .as_deref()
                            .and_then(|s| serde_json::from_str::<Value>(s).ok())
                            .and_then(|s| s["numRecords"].as_u64())
                            .unwrap_or(0);
                    }
                    Action::Remove(_) => commit.files_removed += 1,
                    Action::Txn(txn) => commit.progress.push((txn.app_id, txn.version)),
                    _ => {}
                }
            }
            commits.push(commit);
        }
        Ok(Some(commits))
    }

    /// Records the plugin's Hive column list as the table property
    /// `sluice.schema`, in a commit of its own.
    pub async fn set_recorded_schema(&mut self, text: &str) -> Result<(), LakeError> {
        let snapshot = self.snapshot()?;
        let metadata = snapshot
            .metadata()
            .clone()
            .add_config_key(SCHEMA_PROPERTY.to_string(), text.to_string())
            .map_err(delta_error(&self.dir, "set a property of"))?;
        let operation = DeltaOperation::SetTableProperties {
            properties: HashMap::from([(SCHEMA_PROPERTY.to_string(), text.to_string())]),
        };
        let finalized = CommitBuilder::from(CommitProperties::default())
            .with_actions(vec![Action::Metadata(metadata)])
            .build(
                Some(snapshot as &dyn TableReference),
                self.table.log_store(),
                operation,
            )
            .await
            .map_err(delta_error(&self.dir, "set a property of"))?;
        self.table.state = Some(finalized.snapshot());
        Ok(())
    }

    /// Makes the table's schema `schema` (the rows' columns, partition
    /// columns added; new columns nullable) and, with `text`, its
    /// `sluice.schema`, in a commit of its own.
    pub async fn change_schema(
        &mut self,
        schema: &Schema,
        text: Option<&str>,
    ) -> Result<Committed, LakeError> {
        let snapshot = self.snapshot()?;
        let columns =
            delta_schema(&self.dir, schema).map_err(delta_error(&self.dir, "describe"))?;
        let current = snapshot.schema();
        let added: Vec<_> = columns
            .fields()
            .filter(|f| current.field(f.name()).is_none())
            .cloned()
            .collect();
        let mut metadata = snapshot
            .metadata()
            .clone()
            .with_schema(&columns)
            .map_err(delta_error(&self.dir, "change the schema of"))?;
        if let Some(text) = text {
            metadata = metadata
                .add_config_key(SCHEMA_PROPERTY.to_string(), text.to_string())
                .map_err(delta_error(&self.dir, "change the schema of"))?;
        }
        let committed =
            CommitBuilder::from(CommitProperties::default().with_cleanup_expired_logs(Some(false)))
                .with_actions(vec![Action::Metadata(metadata)])
                .build(
                    Some(snapshot as &dyn TableReference),
                    self.table.log_store(),
                    DeltaOperation::AddColumn { fields: added },
                )
                .await;
        match committed {
            Ok(finalized) => {
                self.table.state = Some(finalized.snapshot());
                Ok(Committed::Version(finalized.version()))
            }
            // Another writer changed the table meanwhile: read it again.
            Err(DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_),
            }) => Ok(Committed::Conflict),
            Err(e) => Err(delta_error(&self.dir, "change the schema of")(e)),
        }
    }

    /// Whether `dir` holds a Delta table, from its protocol and metadata
    /// alone.
    pub async fn exists(lake: &Lake, dir: &TableDir) -> Result<bool, LakeError> {
        let log_store = TableLog::builder(lake, dir)?.log_store();
        match deltalake::kernel::Snapshot::try_new(log_store.as_ref(), None).await {
            Ok(_) => Ok(true),
            Err(e) => Ok(no_table::<()>(lake, dir, e).await?.is_some()),
        }
    }
}

/// A failed read of `dir`'s log: `None` when the folder holds no Delta
/// table, else the error.
async fn no_table<T>(
    lake: &Lake,
    dir: &TableDir,
    error: DeltaTableError,
) -> Result<Option<T>, LakeError> {
    match error {
        DeltaTableError::NotATable(_) => Ok(None),
        // The kernel refuses a folder that is not there before it looks for
        // a log: no folder, no table.
        DeltaTableError::KernelError(_) if !lake.table_exists(dir).await? => Ok(None),
        e => Err(delta_error(dir, "read the log of")(e)),
    }
}

/// The table's Delta columns: the rows' own, then the partition columns
/// (strings), as the file folders name them.
fn delta_schema(dir: &TableDir, file_schema: &Schema) -> Result<StructType, DeltaTableError> {
    let mut fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .filter(|f| !dir.partition_columns().contains(&f.name().as_str()))
        .map(|f| f.as_ref().clone())
        .collect();
    for column in dir.partition_columns() {
        fields.push(Field::new(*column, DataType::Utf8, true));
    }
    StructType::try_from_arrow(&Schema::new(fields))
        .map_err(|e| DeltaTableError::Arrow { source: e })
}
