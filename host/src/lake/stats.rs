//! A data file's statistics in the Delta log, taken from the Parquet footer
//! the writer just produced: the row count, and per column the minimum,
//! maximum and null count, so readers (DataFusion through deltalake,
//! DuckDB, Spark, Trino) skip files without opening them.
//!
//! Only bounds that are safe are written: a minimum no greater than every
//! value and a maximum no smaller (Parquet's truncated string bounds are
//! such). Columns without statistics in every row group (`raw_event`, whose
//! statistics the writer turns off), lists, maps, decimals and binaries get
//! no bounds; partition columns are not in the file and not here.

use std::collections::HashMap;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use serde_json::{Map, Value, json};

/// The `stats` of a Delta `add` action for a file with `metadata`, written
/// from rows with `fields`, as a JSON object.
pub fn file_stats(fields: &Fields, metadata: &ParquetMetaData) -> Value {
    let mut index: HashMap<String, usize> = HashMap::new();
    if let Some(first) = metadata.row_groups().first() {
        for (i, column) in first.columns().iter().enumerate() {
            index.insert(column.column_path().string(), i);
        }
    }
    let columns = Columns { metadata, index };
    let (min, max, nulls) = columns.of_fields(fields, "");
    json!({
        "numRecords": metadata.file_metadata().num_rows(),
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
    })
}

struct Columns<'a> {
    metadata: &'a ParquetMetaData,
    /// Leaf column path (`a.b`) → its index in every row group.
    index: HashMap<String, usize>,
}

type Bounds = (Map<String, Value>, Map<String, Value>, Map<String, Value>);

impl Columns<'_> {
    fn of_fields(&self, fields: &Fields, prefix: &str) -> Bounds {
        let (mut min, mut max, mut nulls) = (Map::new(), Map::new(), Map::new());
        for field in fields {
            let path = if prefix.is_empty() {
                field.name().clone()
            } else {
                format!("{prefix}.{}", field.name())
            };
            match field.data_type() {
                DataType::Struct(children) => {
                    let (lo, hi, n) = self.of_fields(children, &path);
                    for (map, value) in [(&mut min, lo), (&mut max, hi), (&mut nulls, n)] {
                        if !value.is_empty() {
                            map.insert(field.name().clone(), Value::Object(value));
                        }
                    }
                }
                _ => {
                    let Some(leaf) = self.leaf(field, &path) else {
                        continue;
                    };
                    if let Some(n) = leaf.nulls {
                        nulls.insert(field.name().clone(), json!(n));
                    }
                    if let (Some(lo), Some(hi)) = (leaf.min, leaf.max) {
                        min.insert(field.name().clone(), lo);
                        max.insert(field.name().clone(), hi);
                    }
                }
            }
        }
        (min, max, nulls)
    }

    /// One primitive column's bounds over every row group.
    fn leaf(&self, field: &Field, path: &str) -> Option<Leaf> {
        let i = *self.index.get(path)?;
        let mut leaf = Leaf {
            min: None,
            max: None,
            nulls: Some(0),
        };
        let mut bounded = true;
        for group in self.metadata.row_groups() {
            let stats = group.columns().get(i)?.statistics()?;
            leaf.nulls = match (leaf.nulls, stats.null_count_opt()) {
                (Some(total), Some(n)) => Some(total + n),
                _ => None,
            };
            if !bounded {
                continue;
            }
            match bounds(field.data_type(), stats) {
                Some((lo, hi)) => {
                    leaf.min = Some(match leaf.min.take() {
                        Some(prev) if lower(&prev, &lo) => prev,
                        _ => lo,
                    });
                    leaf.max = Some(match leaf.max.take() {
                        Some(prev) if lower(&hi, &prev) => prev,
                        _ => hi,
                    });
                }
                None => {
                    bounded = false;
                    leaf.min = None;
                    leaf.max = None;
                }
            }
        }
        Some(leaf)
    }
}

struct Leaf {
    min: Option<Value>,
    max: Option<Value>,
    nulls: Option<u64>,
}

/// A comparable form of a bound, so row groups' bounds combine.
#[derive(PartialEq, PartialOrd)]
enum Key {
    Int(i64),
    Float(f64),
    Text(String),
}

/// The bounds are written as JSON; they are compared through their JSON.
fn key(value: &Value) -> Option<Key> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(Key::Int)
            .or_else(|| n.as_f64().map(Key::Float)),
        Value::String(s) => Some(Key::Text(s.clone())),
        _ => None,
    }
}

fn lower(a: &Value, b: &Value) -> bool {
    match (key(a), key(b)) {
        (Some(a), Some(b)) => a < b,
        _ => false,
    }
}

/// A row group's (min, max) of a column as Delta writes them, or `None` when
/// there are none or none that are safe for this type.
fn bounds(ty: &DataType, stats: &Statistics) -> Option<(Value, Value)> {
    match (ty, stats) {
        (DataType::Int8 | DataType::Int16 | DataType::Int32, Statistics::Int32(s)) => {
            Some((json!(*s.min_opt()?), json!(*s.max_opt()?)))
        }
        (DataType::Int64, Statistics::Int64(s)) => {
            Some((json!(*s.min_opt()?), json!(*s.max_opt()?)))
        }
        (DataType::Float32, Statistics::Float(s)) => {
            let (lo, hi) = (*s.min_opt()?, *s.max_opt()?);
            (lo.is_finite() && hi.is_finite()).then(|| (json!(lo), json!(hi)))
        }
        (DataType::Float64, Statistics::Double(s)) => {
            let (lo, hi) = (*s.min_opt()?, *s.max_opt()?);
            (lo.is_finite() && hi.is_finite()).then(|| (json!(lo), json!(hi)))
        }
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, Statistics::ByteArray(s)) => {
            let lo = std::str::from_utf8(s.min_opt()?.data()).ok()?;
            let hi = std::str::from_utf8(s.max_opt()?.data()).ok()?;
            Some((json!(lo), json!(hi)))
        }
        (DataType::Date32, Statistics::Int32(s)) => {
            Some((json!(date(*s.min_opt()?)?), json!(date(*s.max_opt()?)?)))
        }
        (DataType::Timestamp(unit, _), Statistics::Int64(s)) => {
            let micros = |v: i64| match unit {
                TimeUnit::Second => v.checked_mul(1_000_000),
                TimeUnit::Millisecond => v.checked_mul(1_000),
                TimeUnit::Microsecond => Some(v),
                TimeUnit::Nanosecond => None,
            };
            let lo = timestamp(micros(*s.min_opt()?)?)?;
            let hi = timestamp(micros(*s.max_opt()?)?)?;
            Some((json!(lo), json!(hi)))
        }
        _ => None,
    }
}

fn date(days: i32) -> Option<String> {
    let date = chrono::NaiveDate::from_num_days_from_ce_opt(days.checked_add(719_163)?)?;
    Some(date.format("%Y-%m-%d").to_string())
}

/// Microsecond precision, so a bound is exact (a truncated maximum could
/// fall below the values it bounds).
fn timestamp(micros: i64) -> Option<String> {
    let at = chrono::DateTime::from_timestamp_micros(micros)?;
    Some(at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Int64Array, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::Schema;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;

    #[test]
    fn bounds_and_counts_cover_every_row_group() {
        let inner = Fields::from(vec![Field::new("level", DataType::Int64, true)]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("item", DataType::Utf8, true),
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("user", DataType::Struct(inner.clone()), true),
        ]));
        let batch = |items: Vec<Option<&str>>, ts: Vec<i64>, levels: Vec<Option<i64>>| {
            let user = StructArray::new(
                inner.clone(),
                vec![Arc::new(Int64Array::from(levels)) as ArrayRef],
                None,
            );
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(items)),
                    Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                    Arc::new(user),
                ],
            )
            .unwrap()
        };
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let mut writer =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties)).unwrap();
        writer
            .write(&batch(
                vec![Some("shield"), Some("sword")],
                vec![1_500_000, 2_000_001],
                vec![Some(3), None],
            ))
            .unwrap();
        writer
            .write(&batch(
                vec![None, Some("axe")],
                vec![1_000_000, 9_000_000],
                vec![Some(7), Some(1)],
            ))
            .unwrap();
        let metadata = writer.finish().unwrap();
        let stats = file_stats(schema.fields(), &metadata);
        assert_eq!(stats["numRecords"], 4);
        assert_eq!(stats["minValues"]["item"], "axe");
        assert_eq!(stats["maxValues"]["item"], "sword");
        assert_eq!(stats["nullCount"]["item"], 1);
        assert_eq!(
            stats["minValues"]["timestamp"],
            "1970-01-01T00:00:01.000000Z"
        );
        assert_eq!(
            stats["maxValues"]["timestamp"],
            "1970-01-01T00:00:09.000000Z"
        );
        assert_eq!(stats["minValues"]["user"]["level"], 1);
        assert_eq!(stats["maxValues"]["user"]["level"], 7);
        assert_eq!(stats["nullCount"]["user"]["level"], 1);
    }
}
