//! The decoder sluice had before it decoded once, kept only as the
//! reference the property tests (`properties.rs`) hold the one-pass decoder
//! to: each event projected to a compact JSON line (`projection.rs`), then
//! arrow-json's tape decoder over all the lines, and a bisection for the
//! events arrow-json refuses.

mod projection;

use std::ops::Range;
use std::sync::Arc;

use arrow::compute::concat_batches;
use arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;
use arrow::json::reader::Decoder;
use arrow::record_batch::RecordBatch;

use self::projection::Projection;
use super::arrow_schema::{declared_fields, table_schema};
use super::decoder::{
    DecodeLimits, Decoded, Event, Rejection, TableError, assemble, check_size_and_utf8,
};
use super::project::RejectReason;
use crate::schema::Schema;

/// Turns events into rows of one table. Keep one per table and reuse it:
/// it owns the buffers and the arrow-json decoder.
pub(super) struct ReferenceDecoder {
    table: String,
    schema: SchemaRef,
    declared: SchemaRef,
    projection: Projection,
    limits: DecodeLimits,
    json: Decoder,
    /// Projected events, one per line.
    buf: Vec<u8>,
}

impl std::fmt::Debug for ReferenceDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferenceDecoder")
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

impl ReferenceDecoder {
    pub(super) fn new(
        table: &str,
        schema: &Schema,
        limits: DecodeLimits,
    ) -> Result<Self, TableError> {
        let declared = Arc::new(ArrowSchema::new(declared_fields(&schema.columns)));
        let json =
            json_decoder(&declared, JSON_BATCH_ROWS).map_err(|source| TableError::Decoder {
                table: table.to_string(),
                source,
            })?;
        Ok(ReferenceDecoder {
            table: table.to_string(),
            schema: table_schema(schema),
            declared,
            projection: Projection::new(&schema.columns, limits.max_depth),
            limits,
            json,
            buf: Vec::new(),
        })
    }

    /// Decodes `events` into one batch; never fails because of an event.
    pub(super) fn decode(&mut self, events: &[Event<'_>]) -> Result<Decoded, TableError> {
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
        let admitted: Vec<(usize, &str)> = admitted.iter().map(|a| (a.index, a.text)).collect();
        let declared = columns.columns().to_vec();
        assemble(
            &self.table,
            &self.schema,
            events,
            &admitted,
            declared,
            rejected,
        )
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
