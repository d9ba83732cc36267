//! Tables: how a Hive-style schema becomes an Arrow table, and how Kafka
//! events become its rows.
//!
//! Events enter as JSON bytes with their Kafka timestamp, partition and
//! offset ([`Event`]), bound for one table. They leave as one Arrow
//! [`RecordBatch`](arrow::record_batch::RecordBatch) in the table's schema
//! ([`table_schema`]) plus a [`Rejection`] for every event that does not fit,
//! which the pipeline turns into a [`DeadLetter`]. Dead letters have a table
//! schema of their own ([`dead_letter_schema`]). The lake module writes both
//! kinds of batch to Parquet; nothing here knows about files.
//!
//! - `decoder.rs`: [`TableDecoder`], a batch of events into one batch of rows;
//! - `project.rs`: one event into the columns, checked as it is read;
//! - `scan.rs`: the JSON lexer under it;
//! - `columns.rs`: the column builders, which can take back a half-written row;
//! - `arrow_schema.rs`: Hive types to Arrow types;
//! - `dead_letter.rs`: [`DeadLetter`] and its table;
//! - `reference/` and `properties.rs` (tests only): the old two-pass decoder,
//!   and the property test that the two agree.

mod arrow_schema;
mod columns;
mod dead_letter;
mod decoder;
pub(crate) mod project;
mod scan;

pub use arrow_schema::{RAW_EVENT, TIMESTAMP, hive_type_name, kafka_timestamp_type, table_schema};
pub use dead_letter::{
    DEAD_LETTER_RAW_EVENT_BYTES, DeadLetter, dead_letter_batch, dead_letter_schema,
};
pub use decoder::{DecodeLimits, Decoded, Event, Rejection, TableDecoder, TableError, check_event};
pub use project::RejectReason;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
