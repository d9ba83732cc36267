//! The one mapping from Hive column types to Arrow types, and the columns the
//! host adds to every table.
//!
//! Nested Hive types stay nested (struct → Struct, array → List, map → Map),
//! so Parquet files carry real nested columns that Trino, Spark and DuckDB
//! read under the same Hive DDL.

use std::sync::Arc;

use arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Schema as ArrowSchema, SchemaRef, TimeUnit,
};

use crate::schema::{Column, HiveType, RESERVED_COLUMNS, Schema};

/// The original JSON of the event, as the reference Spark jobs kept it.
pub const RAW_EVENT: &str = RESERVED_COLUMNS[0];
/// The Kafka record timestamp; the `date=` partition comes from it.
pub const TIMESTAMP: &str = RESERVED_COLUMNS[1];

/// The Arrow schema of a table: `raw_event` and `timestamp` first (the order
/// the reference Spark jobs wrote), then the declared columns. Every column
/// is nullable, as Hive columns are.
pub fn table_schema(schema: &Schema) -> SchemaRef {
    let mut fields: Vec<FieldRef> = Vec::with_capacity(schema.columns.len() + 2);
    fields.push(Arc::new(Field::new(RAW_EVENT, DataType::Utf8, true)));
    fields.push(Arc::new(Field::new(
        TIMESTAMP,
        kafka_timestamp_type(),
        true,
    )));
    fields.extend(declared_fields(&schema.columns).iter().cloned());
    Arc::new(ArrowSchema::new(fields))
}

/// Kafka timestamps are instants: microseconds in UTC, so Parquet stores a
/// `TIMESTAMP(isAdjustedToUTC = true, MICROS)` that every engine reads as UTC.
pub fn kafka_timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The declared columns alone: what the JSON decoder fills.
pub(super) fn declared_fields(columns: &[Column]) -> Fields {
    columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(&c.ty), true))
        .collect()
}

/// The Hive name of an Arrow type, the inverse of `arrow_type`: for
/// DESCRIBE, DDL and the types of query results. Types Hive has no name
/// for keep Arrow's.
pub fn hive_type_name(ty: &DataType) -> String {
    match ty {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
            format!("array<{}>", hive_type_name(item.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                hive_type_name(kv[0].data_type()),
                hive_type_name(kv[1].data_type())
            ),
            other => other.to_string().to_lowercase(),
        },
        DataType::Struct(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), hive_type_name(f.data_type())))
                .collect();
            format!("struct<{}>", fields.join(", "))
        }
        DataType::Dictionary(_, value) => hive_type_name(value),
        other => other.to_string().to_lowercase(),
    }
}

pub(super) fn arrow_type(ty: &HiveType) -> DataType {
    match ty {
        HiveType::Boolean => DataType::Boolean,
        HiveType::TinyInt => DataType::Int8,
        HiveType::SmallInt => DataType::Int16,
        HiveType::Int => DataType::Int32,
        HiveType::BigInt => DataType::Int64,
        HiveType::Float => DataType::Float32,
        HiveType::Double => DataType::Float64,
        HiveType::Decimal { precision, scale } => {
            // The schema parser keeps scale <= precision <= 38.
            DataType::Decimal128(*precision, i8::try_from(*scale).unwrap_or(i8::MAX))
        }
        HiveType::String => DataType::Utf8,
        HiveType::Binary => DataType::Binary,
        HiveType::Date => DataType::Date32,
        // Hive's `timestamp` has no time zone: a wall-clock value.
        HiveType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        // Arrow's usual element name `item`: DataFusion builds lists with it,
        // and every Parquet reader accepts any name for the one list child.
        HiveType::Array(item) => {
            DataType::List(Arc::new(Field::new_list_field(arrow_type(item), true)))
        }
        // Parquet's own names for a map's entries: `key_value { key, value }`.
        HiveType::Map(key, value) => DataType::Map(
            Arc::new(Field::new(
                "key_value",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", arrow_type(key), false),
                    Field::new("value", arrow_type(value), true),
                ])),
                false,
            )),
            false,
        ),
        HiveType::Struct(fields) => DataType::Struct(declared_fields(fields)),
    }
}
