//! Decodes a batch of Kafka events bound for one table into one Arrow
//! [`RecordBatch`], rejecting the events that do not fit.
//!
//! Events enter as [`Event`]s. Each is checked for size and UTF-8, then read
//! once, straight into the table's column builders (`project.rs`), which
//! check every value as they take it and take back a refused event's
//! values. What leaves is a [`Decoded`]: the batch, the Kafka partition and
//! offset of each of its rows, and a [`Rejection`] per refused event.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::arrow_schema::{declared_fields, table_schema};
use super::project::{Projection, RejectReason};
use crate::schema::Schema;

/// One Kafka record's value and position, as the pipeline hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub json: &'a [u8],
    /// Kafka record timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub partition: i32,
    pub offset: i64,
}

/// Limits that keep one hostile event from costing the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Larger events are rejected unread.
    pub max_event_bytes: usize,
    /// Objects and arrays nested deeper are rejected. Values above 512 are
    /// treated as 512: the check itself recurses once per level.
    pub max_depth: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_event_bytes: 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// The rows decoded from one batch of events.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The accepted events, in input order, in the table's schema.
    pub batch: RecordBatch,
    /// Kafka partition of each row of `batch`.
    pub partitions: Vec<i32>,
    /// Kafka offset of each row of `batch`.
    pub offsets: Vec<i64>,
    /// The refused events, in input order.
    pub rejected: Vec<Rejection>,
}

/// An event that cannot become a row, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the event in the slice given to [`TableDecoder::decode`].
    pub index: usize,
    pub reason: RejectReason,
}

/// What goes wrong with a table's decoder itself, as opposed to one event.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot build a decoder for table `{table}`: {source}")]
    Decoder {
        table: String,
        #[source]
        source: ArrowError,
    },
    #[error("cannot assemble rows of table `{table}`: {source}")]
    Assemble {
        table: String,
        #[source]
        source: ArrowError,
    },
}

/// Turns events into rows of one table. Keep one per table and reuse it:
/// it owns the column builders.
pub struct TableDecoder {
    table: String,
    schema: SchemaRef,
    projection: Projection,
    limits: DecodeLimits,
}

impl std::fmt::Debug for TableDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableDecoder")
            .field("table", &self.table)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl TableDecoder {
    /// Fails if the column builders do not make the table's Arrow types,
    /// checked once here on an empty batch rather than on the first events.
    pub fn new(table: &str, schema: &Schema, limits: DecodeLimits) -> Result<Self, TableError> {
        let mut projection = Projection::new(&schema.columns, limits.max_depth);
        let declared = Arc::new(ArrowSchema::new(declared_fields(&schema.columns)));
        RecordBatch::try_new(declared, projection.finish()).map_err(|source| {
            TableError::Decoder {
                table: table.to_string(),
                source,
            }
        })?;
        Ok(TableDecoder {
            table: table.to_string(),
            schema: table_schema(schema),
            projection,
            limits,
        })
    }

    /// The Arrow schema of the batches this decoder makes.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes `events` into one batch; never fails because of an event.
    pub fn decode(&mut self, events: &[Event<'_>]) -> Result<Decoded, TableError> {
        let mut admitted = Vec::with_capacity(events.len());
        let mut rejected = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let admit = check_size_and_utf8(event.json, &self.limits)
                .and_then(|text| self.projection.project(text).map(|()| text));
            match admit {
                Ok(text) => admitted.push((index, text)),
                Err(reason) => rejected.push(Rejection { index, reason }),
            }
        }
        debug_assert_eq!(self.projection.rows(), admitted.len());
        let columns = self.projection.finish();
        assemble(
            &self.table,
            &self.schema,
            events,
            &admitted,
            columns,
            rejected,
        )
    }
}

/// Puts `raw_event` and `timestamp` in front of the decoded columns of the
/// `admitted` events (index into `events`, and the event as text).
pub(super) fn assemble(
    table: &str,
    schema: &SchemaRef,
    events: &[Event<'_>],
    admitted: &[(usize, &str)],
    declared: Vec<ArrayRef>,
    rejected: Vec<Rejection>,
) -> Result<Decoded, TableError> {
    let bytes: usize = admitted.iter().map(|(_, text)| text.len()).sum();
    let mut raw = StringBuilder::with_capacity(admitted.len(), bytes);
    let mut timestamps = Vec::with_capacity(admitted.len());
    let mut partitions = Vec::with_capacity(admitted.len());
    let mut offsets = Vec::with_capacity(admitted.len());
    for &(index, text) in admitted {
        let event = &events[index];
        raw.append_value(text);
        timestamps.push(event.timestamp_ms.saturating_mul(1000));
        partitions.push(event.partition);
        offsets.push(event.offset);
    }
    let timestamps = TimestampMicrosecondArray::from(timestamps).with_timezone("UTC");
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    columns.push(Arc::new(raw.finish()));
    columns.push(Arc::new(timestamps));
    columns.extend(declared);
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|source| TableError::Assemble {
            table: table.to_string(),
            source,
        })?;
    Ok(Decoded {
        batch,
        partitions,
        offsets,
        rejected,
    })
}

/// Checks that an event could be a row of some table: within the size
/// limit, UTF-8, one JSON object, nested no deeper than the limit. The same
/// rules and reasons as [`TableDecoder::decode`], for checking events before
/// they reach plugins, without building anything.
pub fn check_event(json: &[u8], limits: &DecodeLimits) -> Result<(), RejectReason> {
    let text = check_size_and_utf8(json, limits)?;
    Projection::new(&[], limits.max_depth).project(text)
}

pub(super) fn check_size_and_utf8<'a>(
    json: &'a [u8],
    limits: &DecodeLimits,
) -> Result<&'a str, RejectReason> {
    if json.len() > limits.max_event_bytes {
        return Err(RejectReason::TooLarge {
            bytes: json.len(),
            limit: limits.max_event_bytes,
        });
    }
    std::str::from_utf8(json).map_err(|e| RejectReason::InvalidUtf8 {
        position: e.valid_up_to(),
    })
}
