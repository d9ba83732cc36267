//! The lake as SQL tables, read afresh for every query: one table per
//! directory at the lake's root, `_dead_letters` for every pipeline's dead
//! letters, and the configured views.
//!
//! A table's schema is the one its newest file records (`sluice.schema`,
//! the plugin's declared Hive columns), so an added column shows at once
//! and older files read it as null. The footer is read again only when the
//! newest file changes.

use std::collections::HashMap;
use std::sync::Mutex;

use arrow::datatypes::{DataType, SchemaRef};
use object_store::path::Path;
use serde::Serialize;

use crate::lake::{DEAD_LETTERS_DIR, Lake, LakeFile, SCHEMA_KEY, TableDir};
use crate::schema::Schema;
use crate::table::{dead_letter_schema, hive_type_name, table_schema};

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
    /// The schema of the files, without the partition columns; `None`
    /// when the newest file records none (written before schemas were
    /// recorded): DataFusion reads it from the file.
    pub file_schema: Option<SchemaRef>,
    pub partitions: Vec<(String, DataType)>,
    pub files: Vec<LakeFile>,
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

/// The partition column every table has.
const DATE: &str = "date";
const PIPELINE: &str = "pipeline";

pub(super) struct Catalog {
    lake: Lake,
    /// Per table, the newest file seen and the schema it recorded.
    schemas: Mutex<HashMap<String, (Path, Option<SchemaRef>)>>,
}

impl Catalog {
    pub fn new(lake: Lake) -> Catalog {
        Catalog {
            lake,
            schemas: Mutex::new(HashMap::new()),
        }
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The lake's tables as they are now, in name order.
    pub async fn tables(&self) -> Result<Vec<LakeTable>, QueryError> {
        let mut tables = Vec::new();
        for name in self.lake.directories().await? {
            if name == DEAD_LETTERS_DIR {
                let files = self.lake.files(&TableDir::AllDeadLetters).await?;
                tables.push(LakeTable {
                    name,
                    location: self.lake.table_url(&TableDir::AllDeadLetters),
                    dir: TableDir::AllDeadLetters,
                    file_schema: Some(dead_letter_schema()),
                    partitions: vec![
                        (PIPELINE.into(), DataType::Utf8),
                        (DATE.into(), DataType::Utf8),
                    ],
                    files,
                });
                continue;
            }
            // Not a table name (`Events`, `my-table`): not written by sluice.
            let Ok(dir) = TableDir::table(&name) else {
                continue;
            };
            let files = self.lake.files(&dir).await?;
            let Some(newest) = files.iter().max_by_key(|f| (f.modified, f.path.clone())) else {
                continue;
            };
            let file_schema = self.schema_of(&name, newest).await?;
            tables.push(LakeTable {
                name,
                location: self.lake.table_url(&dir),
                dir,
                file_schema,
                partitions: vec![(DATE.into(), DataType::Utf8)],
                files,
            });
        }
        Ok(tables)
    }

    async fn schema_of(
        &self,
        table: &str,
        newest: &LakeFile,
    ) -> Result<Option<SchemaRef>, QueryError> {
        if let Some((path, schema)) = self.schemas.lock().expect("not poisoned").get(table)
            && *path == newest.path
        {
            return Ok(schema.clone());
        }
        let recorded = self.lake.file_metadata(newest).await?.remove(SCHEMA_KEY);
        let schema = match recorded.map(|text| Schema::parse(&text)) {
            Some(Ok(schema)) => Some(table_schema(&schema)),
            Some(Err(e)) => {
                tracing::warn!(table, error = %e, "The newest file records a schema that does not parse; reading the file's own.");
                None
            }
            None => None,
        };
        self.schemas
            .lock()
            .expect("not poisoned")
            .insert(table.to_string(), (newest.path.clone(), schema.clone()));
        Ok(schema)
    }
}

impl LakeTable {
    pub fn is_partition(&self, column: &str) -> bool {
        self.partitions.iter().any(|(name, _)| name == column)
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
