//! The lake as SQL tables, read afresh for every query: one Delta table per
//! directory at the lake's root, `_dead_letters` for every pipeline's dead
//! letters, and the configured views.
//!
//! Each table's Delta log is opened once and brought up to date for each
//! query by reading only the commits since (an incremental log read, not a
//! listing). Its schema is the log's, so an added column shows at once and
//! older files read it as null; its files and their statistics come from
//! the log, so pruning opens no footers.

use std::collections::HashMap;

use deltalake::DeltaTable;
use serde::Serialize;

use crate::lake::{DEAD_LETTERS_DIR, Lake, LakeFile, TableDir, TableLog};
use crate::table::hive_type_name;

use super::QueryError;

/// The SQL name of the dead-letter table.
pub const DEAD_LETTERS_TABLE: &str = DEAD_LETTERS_DIR;

/// One table as the lake holds it right now.
#[derive(Debug, Clone)]
pub(super) struct LakeTable {
    pub name: String,
    pub dir: TableDir,
    /// The directory's URL: `file:///…/events_buy` or `hdfs://nn:8020/…`.
    pub location: String,
    /// The table's log at its latest version.
    pub log: TableLog,
    lake: Lake,
}

/// What `GET /tables` and `GET /tables/<name>` say about a table.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    pub name: String,
    /// `table`, `dead letters` or `view`.
    pub kind: &'static str,
    /// Where its files are (none for a view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub columns: Vec<ColumnInfo>,
    pub file_count: usize,
    pub bytes: u64,
    /// Filled in for one table (`GET /tables/<name>`), by a count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileInfo>>,
    /// For a view, its SQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    /// Hive's name for the type: `string`, `bigint`, `array<string>`.
    #[serde(rename = "type")]
    pub ty: String,
    /// `partition key` for `date` (and `pipeline`), else empty.
    pub comment: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub bytes: u64,
    /// RFC 3339, UTC.
    pub modified: String,
}

pub(super) struct Catalog {
    lake: Lake,
    /// Per table, its Delta log as last read.
    logs: tokio::sync::Mutex<HashMap<String, TableLog>>,
}

impl Catalog {
    pub fn new(lake: Lake) -> Catalog {
        Catalog {
            lake,
            logs: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The lake's tables as they are now, in name order. A folder without a
    /// Delta log (a lake an earlier sluice wrote) is left out and logged.
    pub async fn tables(&self) -> Result<Vec<LakeTable>, QueryError> {
        let mut tables = Vec::new();
        let mut logs = self.logs.lock().await;
        for name in self.lake.directories().await? {
            let dir = if name == DEAD_LETTERS_DIR {
                TableDir::AllDeadLetters
            } else {
                // Not a table name (`Events`, `my-table`): not written by sluice.
                let Ok(dir) = TableDir::table(&name) else {
                    continue;
                };
                dir
            };
            let log = match logs.get_mut(&name) {
                Some(log) => {
                    log.refresh().await?;
                    log
                }
                None => match TableLog::open(&self.lake, &dir).await? {
                    Some(log) => logs.entry(name.clone()).or_insert(log),
                    None => {
                        tracing::warn!(table = %name, lake = %self.lake.url(), "A table folder without a Delta log: written by an earlier sluice? `sluice lake convert` makes it a Delta table.");
                        continue;
                    }
                },
            };
            tables.push(LakeTable {
                location: self.lake.table_url(&dir),
                name,
                dir,
                log: log.clone(),
                lake: self.lake.clone(),
            });
        }
        Ok(tables)
    }
}

impl LakeTable {
    /// The table at its latest version.
    pub fn table(&self) -> &DeltaTable {
        self.log.table()
    }

    /// Its data files, from the log: listed only where asked for (`GET
    /// /tables`), not for every query.
    pub fn files(&self) -> Result<Vec<LakeFile>, QueryError> {
        Ok(self.lake.files_of(&self.log, &self.dir)?)
    }

    pub fn is_partition(&self, column: &str) -> bool {
        self.dir.partition_columns().contains(&column)
    }

    pub fn kind(&self) -> &'static str {
        match self.dir {
            TableDir::Table(_) => "table",
            _ => "dead letters",
        }
    }
}

/// A table's columns for DESCRIBE and `GET /tables`: `schema` is the
/// table's whole schema, partition columns included.
pub(super) fn columns_of(
    schema: &arrow::datatypes::Schema,
    is_partition: impl Fn(&str) -> bool,
) -> Vec<ColumnInfo> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            ty: hive_type_name(f.data_type()),
            comment: if is_partition(f.name()) {
                "partition key"
            } else {
                ""
            },
        })
        .collect()
}

pub(super) fn file_info(lake: &Lake, file: &LakeFile) -> FileInfo {
    FileInfo {
        path: format!("{}/{}", lake.object_store_url(), file.path),
        bytes: file.size,
        modified: humantime::format_rfc3339_seconds(file.modified).to_string(),
    }
}
