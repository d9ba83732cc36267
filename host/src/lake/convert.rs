//! `sluice lake convert`: a lake written before the lake was Delta (a
//! folder of Parquet files per table, progress in their names) becomes Delta
//! tables in place, as Delta's `CONVERT TO DELTA` does:
//!
//! - one first commit per table registers the files already there, with
//!   their statistics from their footers;
//! - the same commit records each Kafka partition's progress (`txn`) from
//!   the offsets in the file names, under the pipeline that wrote them (its
//!   name is in every file's footer, and in dead letters' folders);
//! - nothing is copied, moved or deleted.
//!
//! The table's Hive column list (`sluice.schema`, from the newest footer)
//! goes in a second commit, as delta-rs's convert refuses properties it
//! does not know; the first commit's info holds it too. A conversion cut
//! off between the two is found by [`unconverted`] and finished by
//! converting again.
//!
//! Temporary files an interrupted writer left (`_tmp-part-….parquet.tmp`)
//! are not data and are left where they are; `sluice vacuum` removes them.

use std::collections::BTreeMap;

use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{Action, DataType, StructField, Transaction};
use deltalake::operations::convert_to_delta::{ConvertToDeltaBuilder, PartitionStrategy};
use deltalake::protocol::SaveMode;
use deltalake::table::config::TableProperty;
use futures::TryStreamExt as _;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore as _};
use serde_json::Value;

use super::LakeError;
use super::layout::{DEAD_LETTERS_DIR, PartName, TableDir, app_id, is_hidden};
use super::store::{Lake, LakeFile, SCHEMA_KEY};
use super::table_log::{CHECKPOINT_INTERVAL, TableLog};

/// What converting one table did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub table: String,
    pub files: usize,
    /// Per (pipeline, topic, partition), the last offset recorded.
    pub progress: BTreeMap<(String, String, i32), i64>,
    /// An interrupted conversion finished: only the schema was recorded now
    /// (`progress` is empty; version 0 holds it).
    pub resumed: bool,
}

/// The tables of the lake that have data files but no Delta log, or whose
/// conversion was cut off before its second commit.
pub async fn unconverted(lake: &Lake) -> Result<Vec<TableDir>, LakeError> {
    let mut found = Vec::new();
    for name in lake.directories().await? {
        let dir = if name == DEAD_LETTERS_DIR {
            TableDir::AllDeadLetters
        } else {
            match TableDir::table(&name) {
                Ok(dir) => dir,
                Err(_) => continue,
            }
        };
        if TableLog::exists(lake, &dir).await? {
            if unfinished(lake, &dir).await?.is_some() {
                found.push(dir);
            }
            continue;
        }
        if !data_files(lake, &dir).await?.is_empty() {
            found.push(dir);
        }
    }
    Ok(found)
}

/// Converts every table of the lake without a Delta log.
pub async fn convert_lake(lake: &Lake) -> Result<Vec<Converted>, LakeError> {
    let mut done = Vec::new();
    for dir in unconverted(lake).await? {
        done.push(convert_table(lake, &dir).await?);
    }
    Ok(done)
}

/// The Parquet files of a table folder, with what their names say, hidden
/// names (temporaries, the log) left out.
async fn data_files(lake: &Lake, dir: &TableDir) -> Result<Vec<(ObjectMeta, PartName)>, LakeError> {
    let prefix = lake.dir_path(dir);
    let objects: Vec<ObjectMeta> = lake
        .object_store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .or_else(|e| match e {
            object_store::Error::NotFound { .. } => Ok(Vec::new()),
            source => Err(LakeError::Storage {
                op: "list",
                path: lake.table_url(dir),
                source,
            }),
        })?;
    Ok(objects
        .into_iter()
        .filter_map(|object| {
            let parts: Vec<String> = object
                .location
                .prefix_match(&prefix)?
                .map(|p| p.as_ref().to_string())
                .collect();
            if parts.iter().any(|p| is_hidden(p)) {
                return None;
            }
            let name = PartName::parse(parts.last()?)?;
            Some((object, name))
        })
        .collect())
}

/// The `sluice.schema` a conversion recorded in its first commit but did
/// not get to set as the table's property: `Some` when the conversion of
/// `dir` was cut off between its two commits.
async fn unfinished(lake: &Lake, dir: &TableDir) -> Result<Option<String>, LakeError> {
    if lake.recorded_schema(dir).await?.is_some() {
        return Ok(None);
    }
    let delta_error = |source| LakeError::Delta {
        op: "read the conversion of",
        table: dir.table_name().to_string(),
        source: Box::new(source),
    };
    let store = TableLog::unloaded(lake, dir)?.log_store();
    let Some(bytes) = store.read_commit_entry(0).await.map_err(delta_error)? else {
        return Ok(None);
    };
    let actions = deltalake::logstore::get_actions(0, &bytes).map_err(delta_error)?;
    Ok(actions.into_iter().find_map(|action| match action {
        Action::CommitInfo(info)
            if info.info.get("sluice.converted") == Some(&Value::Bool(true)) =>
        {
            info.info
                .get(SCHEMA_KEY)
                .and_then(Value::as_str)
                .map(str::to_string)
        }
        _ => None,
    }))
}

/// Converts one table folder, or finishes a conversion cut off before its
/// second commit.
pub async fn convert_table(lake: &Lake, dir: &TableDir) -> Result<Converted, LakeError> {
    let table = dir.table_name().to_string();
    if let Some(mut log) = TableLog::open(lake, dir).await? {
        if let Some(text) = unfinished(lake, dir).await? {
            log.set_recorded_schema(&text).await?;
            tracing::info!(
                table,
                "Finished converting a table: its schema is recorded."
            );
        }
        return Ok(Converted {
            table,
            files: log.files()?.len(),
            progress: BTreeMap::new(),
            resumed: true,
        });
    }
    let files = data_files(lake, dir).await?;
    // The pipeline of each file: its folder (dead letters) or its footer.
    let mut progress: BTreeMap<(String, String, i32), i64> = BTreeMap::new();
    let mut pipelines: BTreeMap<Path, String> = BTreeMap::new();
    let mut newest: Option<&ObjectMeta> = None;
    for (object, name) in &files {
        let pipeline = match pipeline_in_path(&object.location) {
            Some(pipeline) => pipeline,
            None => {
                let folder = parent(&object.location);
                match pipelines.get(&folder) {
                    Some(p) => p.clone(),
                    None => {
                        let p = footer_value(lake, object, "sluice.pipeline").await?.ok_or_else(|| LakeError::InvalidRows {
                            dir: table.clone(),
                            reason: format!(
                                "`{}` does not record the pipeline that wrote it (`sluice.pipeline` in its footer), so its progress cannot be kept",
                                object.location
                            ),
                        })?;
                        pipelines.insert(folder, p.clone());
                        p
                    }
                }
            }
        };
        let last = progress
            .entry((pipeline, name.topic.clone(), name.partition))
            .or_insert(name.last_offset);
        *last = (*last).max(name.last_offset);
        if newest.is_none_or(|n| object.last_modified > n.last_modified) {
            newest = Some(object);
        }
    }
    let schema_text = match (newest, dir) {
        (Some(object), TableDir::Table(_)) => footer_value(lake, object, SCHEMA_KEY).await?,
        _ => None,
    };
    let now = chrono::Utc::now().timestamp_millis();
    let txns: Vec<Transaction> = progress
        .iter()
        .map(|((pipeline, topic, partition), last)| {
            Transaction::new_with_last_update(
                app_id(pipeline, topic, *partition, 0),
                *last,
                Some(now),
            )
        })
        .collect();
    let partition_schema: Vec<StructField> = dir
        .partition_columns()
        .iter()
        .map(|c| StructField::nullable(*c, DataType::STRING))
        .collect();
    let mut info: Vec<(String, Value)> = vec![("sluice.converted".to_string(), Value::Bool(true))];
    if let Some(text) = &schema_text {
        info.push((SCHEMA_KEY.to_string(), Value::from(text.clone())));
    }
    let log_store = TableLog::unloaded(lake, dir)?.log_store();
    let delta_error = |source| LakeError::Delta {
        op: "convert",
        table: table.clone(),
        source: Box::new(source),
    };
    ConvertToDeltaBuilder::new()
        .with_log_store(log_store)
        .with_table_name(table.clone())
        .with_partition_schema(partition_schema)
        .with_partition_strategy(PartitionStrategy::Hive)
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_configuration_property(TableProperty::CheckpointInterval, Some(CHECKPOINT_INTERVAL))
        .with_commit_properties(
            CommitProperties::default()
                .with_application_transactions(txns)
                .with_metadata(info),
        )
        .await
        .map_err(delta_error)?;
    if let Some(text) = schema_text {
        let mut log = TableLog::open(lake, dir).await?.expect("just converted");
        log.set_recorded_schema(&text).await?;
    }
    tracing::info!(
        table,
        files = files.len(),
        partitions = progress.len(),
        "Converted a table to Delta."
    );
    Ok(Converted {
        table,
        files: files.len(),
        progress,
        resumed: false,
    })
}

fn parent(path: &Path) -> Path {
    let parts: Vec<_> = path.parts().collect();
    Path::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned())
}

/// `pipeline=<name>` in a dead letter's path.
fn pipeline_in_path(path: &Path) -> Option<String> {
    path.parts()
        .find_map(|p| p.as_ref().strip_prefix("pipeline=").map(str::to_string))
}

async fn footer_value(
    lake: &Lake,
    object: &ObjectMeta,
    key: &str,
) -> Result<Option<String>, LakeError> {
    let file = LakeFile {
        path: object.location.clone(),
        name: None,
        size: object.size,
        modified: object.last_modified.into(),
        rows: None,
    };
    Ok(lake.file_metadata(&file).await?.remove(key))
}
