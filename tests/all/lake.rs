//! Reading the lake back the way an outside reader would: every Parquet
//! file in place under a table's directory, skipping hidden ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Data files of a table, as Hive/Trino/Spark list them.
pub fn table_files(lake: &Path, table: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![lake.join(table)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if name.ends_with(".parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
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
