//! Decodes a batch of Kafka events bound for one table into one Arrow
//! [`RecordBatch`], rejecting the events that do not fit.
//!
//! Events enter as [`Event`]s. Each is checked for size and UTF-8, then
//! projected onto the table's columns (`project.rs`) into one reused buffer,
//! and arrow-json's tape decoder turns that whole buffer into arrays in one
//! go. What leaves is a [`Decoded`]: the batch, the Kafka partition and
//! offset of each of its rows, and a [`Rejection`] per refused event.
//!
//! arrow-json fails a whole batch on one value it cannot parse. The
//! projection catches nearly every such value first; for the rest (a
//! malformed date, a decimal over its precision) the batch is halved until
//! the culprits are found, and only they are rejected. That slow path runs
//! only when arrow-json has failed.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder, TimestampMicrosecondArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;
use arrow::json::reader::Decoder;
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
    #[error("cannot build a JSON decoder for table `{table}`: {source}")]
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
/// it owns the buffers and the arrow-json decoder.
pub struct TableDecoder {
    table: String,
    schema: SchemaRef,
    declared: SchemaRef,
    projection: Projection,
    limits: DecodeLimits,
    json: Decoder,
    /// Projected events, one per line.
    buf: Vec<u8>,
}

impl std::fmt::Debug for TableDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableDecoder")
            .field("table", &self.table)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Rows arrow-json decodes per internal batch; larger calls are stitched.
const JSON_BATCH_ROWS: usize = 8192;

/// An event accepted by the projection, waiting for arrow-json.
struct Admitted<'a> {
    index: usize,
    text: &'a str,
    /// Its bytes in the projection buffer.
    span: Range<usize>,
}

impl TableDecoder {
    pub fn new(table: &str, schema: &Schema, limits: DecodeLimits) -> Result<Self, TableError> {
        let declared = Arc::new(ArrowSchema::new(declared_fields(&schema.columns)));
        let json =
            json_decoder(&declared, JSON_BATCH_ROWS).map_err(|source| TableError::Decoder {
                table: table.to_string(),
                source,
            })?;
        Ok(TableDecoder {
            table: table.to_string(),
            schema: table_schema(schema),
            declared,
            projection: Projection::new(&schema.columns, limits.max_depth),
            limits,
            json,
            buf: Vec::new(),
        })
    }

    /// The Arrow schema of the batches this decoder makes.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes `events` into one batch; never fails because of an event.
    pub fn decode(&mut self, events: &[Event<'_>]) -> Result<Decoded, TableError> {
        self.buf.clear();
        let mut admitted = Vec::with_capacity(events.len());
        let mut rejected = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let start = self.buf.len();
            match self.admit(event.json) {
                Ok(text) => {
                    self.buf.push(b'\n');
                    admitted.push(Admitted {
                        index,
                        text,
                        span: start..self.buf.len(),
                    });
                }
                Err(reason) => rejected.push(Rejection { index, reason }),
            }
        }

        let columns = match decode_all(&mut self.json, &self.buf, &self.declared) {
            Ok(batch) => batch,
            Err(_) => {
                // The decoder may hold half a tape: start a fresh one.
                self.json = self.fresh_decoder(JSON_BATCH_ROWS)?;
                self.isolate_unparsable(&mut admitted, &mut rejected)?
            }
        };
        rejected.sort_by_key(|r| r.index);
        self.assemble(events, &admitted, columns, rejected)
    }

    /// Size, UTF-8 and projection checks; appends the projection to `buf`.
    fn admit<'a>(&mut self, json: &'a [u8]) -> Result<&'a str, RejectReason> {
        let text = check_size_and_utf8(json, &self.limits)?;
        self.projection.project(json, &mut self.buf)?;
        Ok(text)
    }

    /// The slow path: halves the admitted events until each one arrow-json
    /// refuses is alone, rejects those, and decodes the rest.
    fn isolate_unparsable(
        &mut self,
        admitted: &mut Vec<Admitted<'_>>,
        rejected: &mut Vec<Rejection>,
    ) -> Result<RecordBatch, TableError> {
        let mut misfits = Vec::new();
        self.bisect(admitted, 0..admitted.len(), &mut misfits)?;
        tracing::debug!(
            table = %self.table,
            misfits = misfits.len(),
            "Isolated values arrow-json could not parse."
        );
        let mut keep = vec![true; admitted.len()];
        for (position, message) in misfits {
            keep[position] = false;
            let column = self.blame(&self.buf[admitted[position].span.clone()]);
            rejected.push(Rejection {
                index: admitted[position].index,
                reason: RejectReason::Unparsable { column, message },
            });
        }
        let mut flags = keep.iter();
        admitted.retain(|_| flags.next().copied().unwrap_or(false));

        let mut good = Vec::with_capacity(self.buf.len());
        for a in admitted.iter_mut() {
            let start = good.len();
            good.extend_from_slice(&self.buf[a.span.clone()]);
            a.span = start..good.len();
        }
        self.buf = good;
        decode_all(&mut self.json, &self.buf, &self.declared).map_err(|source| {
            TableError::Assemble {
                table: self.table.clone(),
                source,
            }
        })
    }

    /// Finds the admitted events in `range` that arrow-json refuses, as
    /// (position in `admitted`, arrow-json's message).
    fn bisect(
        &self,
        admitted: &[Admitted<'_>],
        range: Range<usize>,
        misfits: &mut Vec<(usize, String)>,
    ) -> Result<(), TableError> {
        if range.is_empty() {
            return Ok(());
        }
        let bytes = admitted[range.start].span.start..admitted[range.end - 1].span.end;
        let mut trial = self.fresh_decoder(range.len())?;
        match decode_all(&mut trial, &self.buf[bytes], &self.declared) {
            Ok(_) => Ok(()),
            Err(e) if range.len() == 1 => {
                misfits.push((range.start, e.to_string()));
                Ok(())
            }
            Err(_) => {
                let mid = range.start + range.len() / 2;
                self.bisect(admitted, range.start..mid, misfits)?;
                self.bisect(admitted, mid..range.end, misfits)
            }
        }
    }

    /// Which column of one projected event arrow-json refuses: each is
    /// tried alone. Only for events already known to fail.
    fn blame(&self, row: &[u8]) -> String {
        for field in self.declared.fields() {
            let alone = Arc::new(ArrowSchema::new(vec![field.clone()]));
            let refused = json_decoder(&alone, 1)
                .and_then(|mut decoder| decode_all(&mut decoder, row, &alone))
                .is_err();
            if refused {
                return field.name().clone();
            }
        }
        "?".to_string()
    }

    fn fresh_decoder(&self, rows: usize) -> Result<Decoder, TableError> {
        json_decoder(&self.declared, rows).map_err(|source| TableError::Decoder {
            table: self.table.clone(),
            source,
        })
    }

    /// Puts `raw_event` and `timestamp` in front of the decoded columns.
    fn assemble(
        &self,
        events: &[Event<'_>],
        admitted: &[Admitted<'_>],
        declared: RecordBatch,
        rejected: Vec<Rejection>,
    ) -> Result<Decoded, TableError> {
        let bytes: usize = admitted.iter().map(|a| a.text.len()).sum();
        let mut raw = StringBuilder::with_capacity(admitted.len(), bytes);
        let mut timestamps = Vec::with_capacity(admitted.len());
        let mut partitions = Vec::with_capacity(admitted.len());
        let mut offsets = Vec::with_capacity(admitted.len());
        for a in admitted {
            let event = &events[a.index];
            raw.append_value(a.text);
            timestamps.push(event.timestamp_ms.saturating_mul(1000));
            partitions.push(event.partition);
            offsets.push(event.offset);
        }
        let timestamps = TimestampMicrosecondArray::from(timestamps).with_timezone("UTC");
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        columns.push(Arc::new(raw.finish()));
        columns.push(Arc::new(timestamps));
        columns.extend(declared.columns().iter().cloned());
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|source| {
            TableError::Assemble {
                table: self.table.clone(),
                source,
            }
        })?;
        Ok(Decoded {
            batch,
            partitions,
            offsets,
            rejected,
        })
    }
}

/// Checks that an event could be a row of some table: within the size
/// limit, UTF-8, one JSON object, nested no deeper than the limit. The same
/// rules and reasons as [`TableDecoder::decode`], for checking events before
/// they reach plugins, without building anything.
pub fn check_event(json: &[u8], limits: &DecodeLimits) -> Result<(), RejectReason> {
    check_size_and_utf8(json, limits)?;
    let mut scratch = Vec::new();
    Projection::new(&[], limits.max_depth).project(json, &mut scratch)
}

fn check_size_and_utf8<'a>(json: &'a [u8], limits: &DecodeLimits) -> Result<&'a str, RejectReason> {
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

fn json_decoder(declared: &SchemaRef, rows: usize) -> Result<Decoder, ArrowError> {
    ReaderBuilder::new(declared.clone())
        .with_batch_size(rows.max(1))
        // Numbers and booleans into string columns as their JSON text; the
        // projection has already refused objects and arrays there.
        .with_coerce_primitive(true)
        .build_decoder()
}

/// Decodes every line of `buf` into one batch of the declared columns.
fn decode_all(
    decoder: &mut Decoder,
    buf: &[u8],
    declared: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    loop {
        pos += decoder.decode(&buf[pos..])?;
        if pos >= buf.len() {
            break;
        }
        // The decoder stopped at its batch size.
        if let Some(batch) = decoder.flush()? {
            batches.push(batch);
        }
    }
    if let Some(batch) = decoder.flush()? {
        batches.push(batch);
    }
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(declared.clone())),
        1 => Ok(batches.swap_remove(0)),
        _ => concat_batches(declared, &batches),
    }
}
