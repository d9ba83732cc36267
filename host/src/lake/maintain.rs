//! Keeping tables fast and their folders clean: compaction, vacuum and the
//! cleanup of old log entries.
//!
//! - **Compaction** merges a partition's small files of one Kafka partition
//!   and consecutive offsets into files of about [`CompactPolicy::target_bytes`],
//!   named for the range they cover, and swaps them in with one atomic
//!   commit (`remove` the small files, `add` the merged ones, neither a data
//!   change). A reader sees the old files or the new ones, never both. It
//!   works on closed days, and on today's files once they are
//!   [`CompactPolicy::min_age`] old. Progress (`txn`) is untouched, and
//!   writers' appends do not conflict with it.
//! - **Vacuum** deletes files no version within the retention names: those
//!   compaction replaced, and those a fenced or crashed writer left behind.
//! - **Log cleanup** deletes log entries older than the log retention (30
//!   days) once a checkpoint covers them; checkpoints are written every 10
//!   commits by the commits themselves.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, Add, Remove};
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::DeltaOperation;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::LakeError;
use super::layout::{PartName, TableDir, file_tag};
use super::stats::file_stats;
use super::store::Lake;
use super::table_log::{LogFile, TableLog};
use super::writer::parquet_properties;

/// Which files compaction merges, and into what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactPolicy {
    /// The size merged files aim for; files of half that or more are left alone.
    pub target_bytes: u64,
    /// Today's files younger than this are left for later: they may still
    /// be joined by the next flush's.
    pub min_age: Duration,
}

impl Default for CompactPolicy {
    fn default() -> Self {
        CompactPolicy {
            target_bytes: 128 << 20,
            min_age: Duration::from_secs(5 * 60),
        }
    }
}

/// What one compaction of a table did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    pub table: String,
    /// Small files replaced, and merged files written in their place.
    pub replaced: usize,
    pub written: usize,
    /// The commit that swapped them; `None` when nothing was worth merging.
    pub version: Option<u64>,
}

/// A file compaction may merge: one Kafka partition's offset range.
#[derive(Debug, Clone)]
struct Candidate {
    file: LogFile,
    name: PartName,
    /// `date=…` (and `pipeline=…`) folder, relative to the table.
    folder: String,
}

/// Merges `dir`'s small files, as [`CompactPolicy`] says, in one commit.
pub async fn compact_table(
    lake: &Lake,
    dir: &TableDir,
    policy: &CompactPolicy,
    now: SystemTime,
) -> Result<Compacted, LakeError> {
    let table = dir.table_name().to_string();
    let mut done = Compacted {
        table: table.clone(),
        ..Compacted::default()
    };
    let Some(mut log) = TableLog::open(lake, dir).await? else {
        return Ok(done);
    };
    let today = super::layout::date_of(super::layout::day_of(
        now.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64),
    ));
    let young = now
        .checked_sub(policy.min_age)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    // (folder, topic, partition) → its small files.
    let mut groups: BTreeMap<(String, String, i32), Vec<Candidate>> = BTreeMap::new();
    for file in log.files()? {
        let Some((folder, file_name)) = file.path.rsplit_once('/') else {
            continue;
        };
        let Some(name) = PartName::parse(file_name) else {
            continue;
        };
        let closed_day = !folder.ends_with(&format!("date={today}"));
        if file.size >= policy.target_bytes / 2 || (!closed_day && file.modified_ms > young) {
            continue;
        }
        groups
            .entry((folder.to_string(), name.topic.clone(), name.partition))
            .or_default()
            .push(Candidate {
                folder: folder.to_string(),
                file,
                name,
            });
    }
    let mut bins: Vec<Vec<Candidate>> = Vec::new();
    for mut files in groups.into_values() {
        files.sort_by_key(|c| c.name.first_offset);
        let mut bin: Vec<Candidate> = Vec::new();
        let mut bytes = 0;
        for candidate in files {
            if bytes + candidate.file.size > policy.target_bytes && !bin.is_empty() {
                bins.push(std::mem::take(&mut bin));
                bytes = 0;
            }
            bytes += candidate.file.size;
            bin.push(candidate);
        }
        bins.push(bin);
    }
    bins.retain(|bin| bin.len() >= 2);
    if bins.is_empty() {
        return Ok(done);
    }
    let mut actions = Vec::new();
    let mut written = Vec::new();
    let deleted_at = chrono::Utc::now().timestamp_millis();
    for bin in &bins {
        let merged = merge(lake, dir, bin).await?;
        written.push(merged.path.clone());
        actions.push(Action::Add(merged));
        for candidate in bin {
            actions.push(Action::Remove(Remove {
                path: candidate.file.path.clone(),
                data_change: false,
                deletion_timestamp: Some(deleted_at),
                extended_file_metadata: Some(true),
                partition_values: Some(partition_values(&candidate.folder)),
                size: Some(candidate.file.size as i64),
                ..Remove::default()
            }));
        }
        done.replaced += bin.len();
    }
    done.written = written.len();
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: policy.target_bytes as i64,
    };
    let delta_error = |op| {
        let table = table.clone();
        move |source| LakeError::Delta {
            op,
            table,
            source: Box::new(source),
        }
    };
    let committed = {
        let snapshot = log.table().snapshot().map_err(delta_error("read"))?;
        CommitBuilder::from(CommitProperties::default().with_cleanup_expired_logs(Some(false)))
            .with_actions(actions)
            .build(
                Some(snapshot as &dyn TableReference),
                log.table().log_store(),
                operation,
            )
            .await
    };
    match committed {
        Ok(finalized) => {
            done.version = Some(finalized.version());
            tracing::info!(
                table,
                replaced = done.replaced,
                written = done.written,
                version = finalized.version(),
                "Compacted small files."
            );
            log.refresh().await?;
            Ok(done)
        }
        Err(e) => {
            // Another compaction got there first: the merged files are
            // nobody's, and go.
            for path in &written {
                lake.delete_table_file(dir, path).await?;
            }
            Err(delta_error("compact")(e))
        }
    }
}

/// Reads a bin's files in offset order into one file written beside them,
/// in the widest of their schemas (a file from before a column was added
/// reads it as null).
async fn merge(lake: &Lake, dir: &TableDir, bin: &[Candidate]) -> Result<Add, LakeError> {
    let first = &bin[0];
    let last = &bin[bin.len() - 1];
    let name = PartName {
        topic: first.name.topic.clone(),
        partition: first.name.partition,
        first_offset: first.name.first_offset,
        last_offset: last.name.last_offset,
    };
    let path = format!("{}/{}", first.folder, name.tagged_file_name(&file_tag()));
    let mut inputs = Vec::with_capacity(bin.len());
    for candidate in bin {
        let bytes = lake.read_table_file(dir, &candidate.file.path).await?;
        inputs.push(bytes);
    }
    let footer_error = |source| LakeError::Encode {
        dir: dir.to_string(),
        source,
    };
    // The schema and lineage of the widest file (the newest columns).
    let mut widest: Option<(SchemaRef, Vec<(String, String)>)> = None;
    for bytes in &inputs {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).map_err(footer_error)?;
        let schema = builder.schema().clone();
        if widest
            .as_ref()
            .is_none_or(|(w, _)| schema.fields().len() > w.fields().len())
        {
            let metadata = builder
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .into_iter()
                .flatten()
                .filter(|kv| kv.key != "ARROW:schema")
                .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
                .collect();
            widest = Some((schema, metadata));
        }
    }
    let (schema, metadata) = widest.expect("a bin has files");
    let schema = Arc::new(arrow::datatypes::Schema::new(schema.fields().clone()));
    let mut writer = ArrowWriter::try_new(
        Vec::new(),
        schema.clone(),
        Some(parquet_properties(&metadata)),
    )
    .map_err(footer_error)?;
    for bytes in inputs {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(footer_error)?;
        for batch in reader {
            let batch = batch.map_err(|e| footer_error(e.into()))?;
            writer
                .write(&widen(&batch, &schema)?)
                .map_err(footer_error)?;
        }
    }
    let footer = writer.finish().map_err(footer_error)?;
    let bytes = Bytes::from(std::mem::take(writer.inner_mut()));
    let size = bytes.len() as i64;
    lake.put_table_file(dir, &path, bytes).await?;
    Ok(Add {
        path,
        partition_values: partition_values(&first.folder),
        size,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: false,
        stats: Some(file_stats(schema.fields(), &footer).to_string()),
        ..Add::default()
    })
}

/// `batch` with the columns of `schema`, nulls for those it lacks.
fn widen(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, LakeError> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(column) => column.clone(),
            None => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| LakeError::InvalidRows {
        dir: String::new(),
        reason: format!("cannot merge files of different schemas: {e}"),
    })
}

/// `date=2026-12-07` (or `pipeline=x/date=…`) as Delta partition values.
fn partition_values(folder: &str) -> HashMap<String, Option<String>> {
    folder
        .split('/')
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect()
}

/// Deletes the files of `dir`'s table that no version within `retention`
/// names. `dry_run` only lists them. Returns their paths.
pub async fn vacuum_table(
    lake: &Lake,
    dir: &TableDir,
    retention: Duration,
    dry_run: bool,
) -> Result<Vec<String>, LakeError> {
    let Some(log) = TableLog::open(lake, dir).await? else {
        return Ok(Vec::new());
    };
    let table = dir.table_name().to_string();
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let (_, metrics) = log
        .table()
        .clone()
        .vacuum()
        .with_retention_period(retention)
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .with_dry_run(dry_run)
        .await
        .map_err(|source| LakeError::Delta {
            op: "vacuum",
            table: table.clone(),
            source: Box::new(source),
        })?;
    if !dry_run && !metrics.files_deleted.is_empty() {
        tracing::info!(
            table,
            deleted = metrics.files_deleted.len(),
            "Vacuumed files no version names."
        );
    }
    Ok(metrics.files_deleted)
}

/// Deletes log entries past the log retention that a checkpoint covers.
pub async fn clean_log(lake: &Lake, dir: &TableDir) -> Result<usize, LakeError> {
    let Some(log) = TableLog::open(lake, dir).await? else {
        return Ok(0);
    };
    deltalake::checkpoints::cleanup_metadata(log.table(), None)
        .await
        .map_err(|source| LakeError::Delta {
            op: "clean the log of",
            table: dir.table_name().to_string(),
            source: Box::new(source),
        })
}
