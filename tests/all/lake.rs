//! Reading the lake back the way an outside Delta reader would, written
//! here from the Delta protocol rather than with sluice's own code: a
//! table's files are what its `_delta_log/<version>.json` commits add and
//! do not remove, replayed in order. (Commits are kept for 30 days; the
//! checkpoints written every 10 commits repeat what they say.)

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The data files of a table's latest version, sorted. `table` may name a
/// partition folder inside one: `_dead_letters/pipeline=ops`.
pub fn table_files(lake: &Path, table: &str) -> Vec<PathBuf> {
    let (table, under) = match table.split_once('/') {
        Some((table, under)) => (table, Some(format!("{under}/"))),
        None => (table, None),
    };
    let root = lake.join(table);
    let mut commits: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(root.join("_delta_log")) else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(version) = name.strip_suffix(".json").and_then(|v| v.parse().ok()) {
            commits.insert(version, entry.path());
        }
    }
    let mut live: BTreeMap<String, ()> = BTreeMap::new();
    for path in commits.values() {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(add) = action.get("add") {
                live.insert(decode(add["path"].as_str().unwrap()), ());
            }
            if let Some(remove) = action.get("remove") {
                live.remove(&decode(remove["path"].as_str().unwrap()));
            }
        }
    }
    live.into_keys()
        .filter(|p| under.as_ref().is_none_or(|u| p.starts_with(u.as_str())))
        .map(|p| root.join(p))
        .collect()
}

/// A Delta action's path: relative to the table, percent-encoded.
fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = path.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Every value of a string column across a table's files.
pub fn string_column(lake: &Path, table: &str, column: &str) -> Vec<Option<String>> {
    let mut values = Vec::new();
    for file in table_files(lake, table) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            // A file written before the column existed reads as nulls, as
            // it does in Hive or Trino.
            let Some(col) = batch.column_by_name(column) else {
                values.extend(std::iter::repeat_n(None, batch.num_rows()));
                continue;
            };
            let col = col.as_string::<i32>();
            for i in 0..col.len() {
                values.push(col.is_valid(i).then(|| col.value(i).to_string()));
            }
        }
    }
    values
}

/// Row count per table for the given tables.
pub fn row_counts(lake: &Path, tables: &[&str]) -> HashMap<String, usize> {
    tables
        .iter()
        .map(|t| {
            let rows = table_files(lake, t)
                .iter()
                .map(|f| {
                    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
                        .unwrap()
                        .metadata()
                        .file_metadata()
                        .num_rows() as usize
                })
                .sum();
            (t.to_string(), rows)
        })
        .collect()
}
