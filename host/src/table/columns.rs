//! A table's columns as they fill: the builders the scan in `project.rs`
//! writes each value into as it reads it, and where the batch's arrays come
//! from.
//!
//! A [`Column`] enters empty, shaped by its Hive type, and takes one value
//! (or a null) per row; nested columns keep offsets and children, structs
//! their fields. Everything is a plain vector, so a row refused on its fifth
//! column after four were written is taken back with
//! [`Fields::truncate`]. What leaves is one Arrow array per column
//! ([`Fields::finish`]), in exactly the types `arrow_schema.rs` declares,
//! and the builders empty again for the next batch.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int64Array, ListArray, MapArray, PrimitiveArray, StringArray, StructArray,
    TimestampMicrosecondArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{ArrowPrimitiveType, DataType, FieldRef};

use super::arrow_schema::{arrow_type, declared_fields};
use crate::schema::{Column as HiveColumn, HiveType};

/// The fields of a struct (or of the table): their builders, and their
/// names compiled for matching keys.
#[derive(Debug)]
pub(super) struct Fields {
    pub(super) fields: Vec<Field>,
    /// The fields as Arrow declares them, for the finished struct.
    arrow: arrow::datatypes::Fields,
    names: Names,
}

/// Names compiled for matching keys: ASCII case folded, `-` read as `_`.
#[derive(Debug)]
pub(super) struct Names {
    names: Vec<Box<[u8]>>,
    /// Names by length: a key is compared with the few names of its length
    /// only, by their first eight bytes first.
    by_len: Vec<Vec<NameEntry>>,
}

#[derive(Debug)]
pub(super) struct Field {
    pub(super) name: String,
    pub(super) column: Column,
}

#[derive(Debug, Clone, Copy)]
struct NameEntry {
    /// The name's first eight bytes, as [`head`] packs them.
    head: u64,
    index: usize,
}

/// One column's values so far.
#[derive(Debug)]
pub(super) struct Column {
    /// For reasons: what the column is, in Hive's words.
    pub(super) ty: HiveType,
    data_type: DataType,
    /// One flag per finished value, false for null. Pushed last, so a value
    /// half written (a list whose items are still coming) does not count.
    pub(super) valid: Vec<bool>,
    pub(super) kind: Kind,
}

/// The values of one column, by type. A null holds a default value (or an
/// empty span) in place.
#[derive(Debug)]
pub(super) enum Kind {
    Boolean(Vec<bool>),
    /// Every integer type: values are checked against `min..=max` as they
    /// are read and narrowed when the array is made.
    Int {
        min: i64,
        max: i64,
        values: Vec<i64>,
    },
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    Decimal {
        precision: u8,
        scale: i8,
        values: Vec<i128>,
    },
    String(Bytes),
    Binary(Bytes),
    /// Days since the Unix epoch.
    Date(Vec<i32>),
    /// Microseconds since the Unix epoch, wall clock.
    Timestamp(Vec<i64>),
    Array {
        /// The list's item field, as Arrow declares it.
        field: FieldRef,
        /// One more than the values: where each list's items start and end.
        offsets: Vec<i32>,
        item: Box<Column>,
    },
    Map {
        /// The map's `key_value` entries field and its two fields.
        entries: FieldRef,
        key_value: arrow::datatypes::Fields,
        offsets: Vec<i32>,
        key: Box<Column>,
        value: Box<Column>,
    },
    Struct(Fields),
}

/// Strings or binaries: all values' bytes, and where each one ends.
#[derive(Debug)]
pub(super) struct Bytes {
    offsets: Vec<i32>,
    pub(super) data: Vec<u8>,
}

impl Names {
    pub(super) fn new<'a>(names: impl Iterator<Item = &'a str>) -> Names {
        let names: Vec<Box<[u8]>> = names.map(|n| n.as_bytes().into()).collect();
        let longest = names.iter().map(|n| n.len()).max().unwrap_or(0);
        let mut by_len = vec![Vec::new(); longest + 1];
        for (index, name) in names.iter().enumerate() {
            by_len[name.len()].push(NameEntry {
                head: head(name),
                index,
            });
        }
        Names { names, by_len }
    }

    /// The index of the name `key` matches.
    pub(super) fn find(&self, key: &[u8]) -> Option<usize> {
        let candidates = self.by_len.get(key.len())?;
        let key_head = head(key);
        candidates
            .iter()
            .find(|entry| {
                entry.head == key_head
                    && (key.len() <= 8 || {
                        key[8..]
                            .iter()
                            .zip(&self.names[entry.index][8..])
                            .all(|(&k, &n)| FOLD[usize::from(k)] == n)
                    })
            })
            .map(|entry| entry.index)
    }
}

impl Fields {
    pub(super) fn new(columns: &[HiveColumn]) -> Fields {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| Field {
                name: c.name.clone(),
                column: Column::new(&c.ty),
            })
            .collect();
        Fields {
            names: Names::new(columns.iter().map(|c| c.name.as_str())),
            fields,
            arrow: declared_fields(columns),
        }
    }

    /// The field a key names: ASCII case folded, `-` read as `_`.
    pub(super) fn find(&self, key: &[u8]) -> Option<usize> {
        self.names.find(key)
    }

    /// Gives every field still without a value for row `row` a null.
    pub(super) fn fill_missing(&mut self, row: usize) {
        for field in &mut self.fields {
            if field.column.len() == row {
                field.column.push_null();
            }
        }
    }

    /// Takes back every value past the first `rows`.
    pub(super) fn truncate(&mut self, rows: usize) {
        for field in &mut self.fields {
            field.column.truncate(rows);
        }
    }

    /// One array per field, leaving the builders empty.
    pub(super) fn finish(&mut self) -> Vec<ArrayRef> {
        self.fields.iter_mut().map(|f| f.column.finish()).collect()
    }
}

impl Column {
    /// The builder for one Hive type, holding the Arrow types
    /// `arrow_schema.rs` gives it and its children.
    fn new(ty: &HiveType) -> Column {
        let data_type = arrow_type(ty);
        let kind = match (ty, &data_type) {
            (HiveType::Boolean, _) => Kind::Boolean(Vec::new()),
            (HiveType::TinyInt, _) => int_kind(i8::MIN.into(), i8::MAX.into()),
            (HiveType::SmallInt, _) => int_kind(i16::MIN.into(), i16::MAX.into()),
            (HiveType::Int, _) => int_kind(i32::MIN.into(), i32::MAX.into()),
            (HiveType::BigInt, _) => int_kind(i64::MIN, i64::MAX),
            (HiveType::Float, _) => Kind::Float32(Vec::new()),
            (HiveType::Double, _) => Kind::Float64(Vec::new()),
            (HiveType::Decimal { .. }, &DataType::Decimal128(precision, scale)) => Kind::Decimal {
                precision,
                scale,
                values: Vec::new(),
            },
            (HiveType::String, _) => Kind::String(Bytes::new()),
            (HiveType::Binary, _) => Kind::Binary(Bytes::new()),
            (HiveType::Date, _) => Kind::Date(Vec::new()),
            (HiveType::Timestamp, _) => Kind::Timestamp(Vec::new()),
            (HiveType::Array(item), DataType::List(field)) => Kind::Array {
                field: field.clone(),
                offsets: vec![0],
                item: Box::new(Column::new(item)),
            },
            (HiveType::Map(key, value), DataType::Map(entries, _)) => match entries.data_type() {
                DataType::Struct(key_value) => Kind::Map {
                    entries: entries.clone(),
                    key_value: key_value.clone(),
                    offsets: vec![0],
                    key: Box::new(Column::new(key)),
                    value: Box::new(Column::new(value)),
                },
                other => unreachable!("a map's entries are a struct, not {other}"),
            },
            (HiveType::Struct(fields), _) => Kind::Struct(Fields::new(fields)),
            (ty, other) => unreachable!("arrow_schema.rs makes {ty} a {other}"),
        };
        Column {
            ty: ty.clone(),
            data_type,
            valid: Vec::new(),
            kind,
        }
    }

    /// Finished values, nulls included.
    pub(super) fn len(&self) -> usize {
        self.valid.len()
    }

    pub(super) fn push_null(&mut self) {
        match &mut self.kind {
            Kind::Boolean(values) => values.push(false),
            Kind::Int { values, .. } | Kind::Timestamp(values) => values.push(0),
            Kind::Float32(values) => values.push(0.0),
            Kind::Float64(values) => values.push(0.0),
            Kind::Decimal { values, .. } => values.push(0),
            Kind::Date(values) => values.push(0),
            Kind::String(bytes) | Kind::Binary(bytes) => bytes.end_value(),
            Kind::Array { offsets, .. } | Kind::Map { offsets, .. } => {
                offsets.push(offsets.last().copied().unwrap_or(0));
            }
            // Arrow wants a null struct's fields to have a slot too.
            Kind::Struct(fields) => {
                for field in &mut fields.fields {
                    field.column.push_null();
                }
            }
        }
        self.valid.push(false);
    }

    /// Takes back every value past the first `len`, and whatever a
    /// half-written value left in its children.
    fn truncate(&mut self, len: usize) {
        self.valid.truncate(len);
        match &mut self.kind {
            Kind::Boolean(values) => values.truncate(len),
            Kind::Int { values, .. } | Kind::Timestamp(values) => values.truncate(len),
            Kind::Float32(values) => values.truncate(len),
            Kind::Float64(values) => values.truncate(len),
            Kind::Decimal { values, .. } => values.truncate(len),
            Kind::Date(values) => values.truncate(len),
            Kind::String(bytes) | Kind::Binary(bytes) => bytes.truncate(len),
            Kind::Array { offsets, item, .. } => {
                offsets.truncate(len + 1);
                item.truncate(end(offsets));
            }
            Kind::Map {
                offsets,
                key,
                value,
                ..
            } => {
                offsets.truncate(len + 1);
                key.truncate(end(offsets));
                value.truncate(end(offsets));
            }
            Kind::Struct(fields) => fields.truncate(len),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        let nulls = NullBuffer::from(std::mem::take(&mut self.valid));
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        match &mut self.kind {
            Kind::Boolean(values) => Arc::new(BooleanArray::new(
                BooleanBuffer::from(std::mem::take(values)),
                nulls,
            )),
            Kind::Int { values, .. } => {
                let values = std::mem::take(values);
                match self.data_type {
                    DataType::Int8 => {
                        Arc::new(narrow::<arrow::datatypes::Int8Type>(values, nulls)) as ArrayRef
                    }
                    DataType::Int16 => {
                        Arc::new(narrow::<arrow::datatypes::Int16Type>(values, nulls))
                    }
                    DataType::Int32 => {
                        Arc::new(narrow::<arrow::datatypes::Int32Type>(values, nulls))
                    }
                    _ => Arc::new(Int64Array::new(values.into(), nulls)),
                }
            }
            Kind::Float32(values) => {
                Arc::new(Float32Array::new(std::mem::take(values).into(), nulls))
            }
            Kind::Float64(values) => {
                Arc::new(Float64Array::new(std::mem::take(values).into(), nulls))
            }
            Kind::Decimal { values, .. } => Arc::new(
                Decimal128Array::new(std::mem::take(values).into(), nulls)
                    .with_data_type(self.data_type.clone()),
            ),
            Kind::Date(values) => Arc::new(Date32Array::new(std::mem::take(values).into(), nulls)),
            Kind::Timestamp(values) => Arc::new(TimestampMicrosecondArray::new(
                std::mem::take(values).into(),
                nulls,
            )),
            Kind::String(bytes) => {
                let (offsets, data) = bytes.take();
                Arc::new(StringArray::new(offsets, data, nulls))
            }
            Kind::Binary(bytes) => {
                let (offsets, data) = bytes.take();
                Arc::new(BinaryArray::new(offsets, data, nulls))
            }
            Kind::Array {
                field,
                offsets,
                item,
            } => Arc::new(ListArray::new(
                field.clone(),
                take_offsets(offsets),
                item.finish(),
                nulls,
            )),
            Kind::Map {
                entries,
                key_value,
                offsets,
                key,
                value,
            } => {
                let pairs =
                    StructArray::new(key_value.clone(), vec![key.finish(), value.finish()], None);
                Arc::new(MapArray::new(
                    entries.clone(),
                    take_offsets(offsets),
                    pairs,
                    nulls,
                    false,
                ))
            }
            Kind::Struct(fields) => Arc::new(StructArray::new(
                fields.arrow.clone(),
                fields.finish(),
                nulls,
            )),
        }
    }
}

fn int_kind(min: i64, max: i64) -> Kind {
    Kind::Int {
        min,
        max,
        values: Vec::new(),
    }
}

/// Integers already checked against their column's range, in its type.
fn narrow<T: ArrowPrimitiveType>(values: Vec<i64>, nulls: Option<NullBuffer>) -> PrimitiveArray<T>
where
    T::Native: TryFrom<i64>,
{
    let values: ScalarBuffer<T::Native> = values
        .into_iter()
        .map(|v| T::Native::try_from(v).unwrap_or_default())
        .collect();
    PrimitiveArray::new(values, nulls)
}

fn take_offsets(offsets: &mut Vec<i32>) -> OffsetBuffer<i32> {
    OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into())
}

/// Where the children of the last kept value end.
fn end(offsets: &[i32]) -> usize {
    offsets
        .last()
        .and_then(|&end| usize::try_from(end).ok())
        .unwrap_or(0)
}

/// An offset into a batch's children or bytes. Arrow's `i32` offsets cap a
/// column at 2 GiB per batch; the `raw_event` column, which holds at least
/// as many bytes, meets that cap first.
pub(super) fn offset(len: usize) -> i32 {
    i32::try_from(len).expect("a column of one batch holds over 2 GiB")
}

impl Bytes {
    fn new() -> Bytes {
        Bytes {
            offsets: vec![0],
            data: Vec::new(),
        }
    }

    /// Ends the value whose bytes were appended to `data` since the last one.
    pub(super) fn end_value(&mut self) {
        self.offsets.push(offset(self.data.len()));
    }

    /// Takes back the bytes appended since the last value ended.
    pub(super) fn discard_partial(&mut self) {
        let end = end(&self.offsets);
        self.data.truncate(end);
    }

    fn truncate(&mut self, len: usize) {
        self.offsets.truncate(len + 1);
        self.discard_partial();
    }

    fn take(&mut self) -> (OffsetBuffer<i32>, Buffer) {
        let offsets = take_offsets(&mut self.offsets);
        (offsets, Buffer::from_vec(std::mem::take(&mut self.data)))
    }
}

/// The first eight bytes of a key, folded, packed into a word.
fn head(key: &[u8]) -> u64 {
    key.iter().take(8).enumerate().fold(0, |word, (i, &b)| {
        word | u64::from(FOLD[usize::from(b)]) << (8 * i)
    })
}

/// Keys match columns ignoring ASCII case, with `-` read as `_`.
const FOLD: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).to_ascii_lowercase();
        b += 1;
    }
    table[b'-' as usize] = b'_';
    table
};
