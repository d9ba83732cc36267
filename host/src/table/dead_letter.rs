//! Dead letters: events that could not be written to their table, kept with
//! the reason in a table of their own, `_dead_letters/pipeline=<name>/`.
//!
//! A [`DeadLetter`] enters from anywhere an event fails (a plugin trap or
//! refusal, a [`Rejection`](super::Rejection) from the decoder); a batch of
//! them leaves through [`dead_letter_batch`] in [`dead_letter_schema`], for
//! the lake to write like any other table.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::arrow_schema::{RAW_EVENT, TIMESTAMP, kafka_timestamp_type};
use super::decoder::Event;
use super::project::RejectReason;

/// How much of a dead event is kept: enough to see what it was, without
/// letting a flood of 1 MiB junk events fill the lake.
pub const DEAD_LETTER_RAW_EVENT_BYTES: usize = 64 * 1024;

/// One event that did not make it into its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event as received, cut to [`DEAD_LETTER_RAW_EVENT_BYTES`] and
    /// made valid UTF-8 (see [`DeadLetter::keep_raw_event`]).
    pub raw_event: String,
    /// The table the event was bound for, if it got that far.
    pub table: Option<String>,
    /// The plugin that failed it, if a plugin did.
    pub plugin: Option<String>,
    pub plugin_version: Option<String>,
    pub reason: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Kafka record timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl DeadLetter {
    /// `event` (as it came from `topic`) refused for `reason`, by no plugin
    /// and for no table yet.
    fn new(event: &Event<'_>, topic: &str, reason: String) -> Self {
        DeadLetter {
            raw_event: DeadLetter::keep_raw_event(event.json),
            table: None,
            plugin: None,
            plugin_version: None,
            reason,
            topic: topic.to_string(),
            partition: event.partition,
            offset: event.offset,
            timestamp_ms: event.timestamp_ms,
        }
    }

    /// An event refused at the pipeline's entry, before any plugin saw it
    /// (not a JSON object, too large, too deep).
    pub fn at_entry(event: &Event<'_>, topic: &str, reason: String) -> Self {
        DeadLetter::new(event, topic, reason)
    }

    /// An event a plugin failed: it trapped, ran out of fuel, or refused
    /// the event. `event` is the event as it entered the chain.
    pub fn from_plugin(
        event: &Event<'_>,
        topic: &str,
        plugin: &str,
        plugin_version: &str,
        reason: String,
    ) -> Self {
        DeadLetter {
            plugin: Some(plugin.to_string()),
            plugin_version: Some(plugin_version.to_string()),
            ..DeadLetter::new(event, topic, reason)
        }
    }

    /// An event a router sent to a table its pipeline does not have.
    pub fn unrouted(event: &Event<'_>, topic: &str, table: &str) -> Self {
        let reason = format!("routed to table `{table}`, which this pipeline does not have");
        DeadLetter {
            table: Some(table.to_string()),
            ..DeadLetter::new(event, topic, reason)
        }
    }

    /// An event the table decoder refused.
    pub fn rejected(event: &Event<'_>, reason: &RejectReason, table: &str, topic: &str) -> Self {
        DeadLetter {
            table: Some(table.to_string()),
            ..DeadLetter::new(event, topic, reason.to_string())
        }
    }

    /// The part of an event a dead letter keeps: its first 64 KiB, cut at a
    /// character boundary, with invalid UTF-8 replaced by U+FFFD (the
    /// column is a string, and the reason already says it was invalid).
    pub fn keep_raw_event(json: &[u8]) -> String {
        let mut cut = json.len().min(DEAD_LETTER_RAW_EVENT_BYTES);
        if let Err(e) = std::str::from_utf8(&json[..cut]) {
            // An error at the very end is a character cut in half: drop it.
            if e.error_len().is_none() {
                cut = e.valid_up_to();
            }
        }
        let mut text = String::from_utf8_lossy(&json[..cut]).into_owned();
        while text.len() > DEAD_LETTER_RAW_EVENT_BYTES {
            text.pop();
        }
        text
    }
}

static DEAD_LETTER_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(ArrowSchema::new(vec![
        Field::new(RAW_EVENT, DataType::Utf8, true),
        Field::new("table", DataType::Utf8, true),
        Field::new("plugin", DataType::Utf8, true),
        Field::new("plugin_version", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, true),
        Field::new("topic", DataType::Utf8, true),
        Field::new("partition", DataType::Int32, true),
        Field::new("offset", DataType::Int64, true),
        Field::new(TIMESTAMP, kafka_timestamp_type(), true),
    ]))
});

/// The dead-letter table's schema:
/// `raw_event string, table string, plugin string, plugin_version string,
/// reason string, topic string, partition int, offset bigint, timestamp`.
pub fn dead_letter_schema() -> SchemaRef {
    DEAD_LETTER_SCHEMA.clone()
}

/// The batch of `letters`, in order. Raw events longer than the limit are
/// cut here too, so no path into the table skips the rule.
pub fn dead_letter_batch(letters: &[DeadLetter]) -> Result<RecordBatch, ArrowError> {
    let raw: StringArray = letters
        .iter()
        .map(|l| {
            Some(if l.raw_event.len() > DEAD_LETTER_RAW_EVENT_BYTES {
                DeadLetter::keep_raw_event(l.raw_event.as_bytes())
            } else {
                l.raw_event.clone()
            })
        })
        .collect();
    let strings = |get: fn(&DeadLetter) -> Option<&str>| -> ArrayRef {
        Arc::new(letters.iter().map(get).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(raw),
        strings(|l| l.table.as_deref()),
        strings(|l| l.plugin.as_deref()),
        strings(|l| l.plugin_version.as_deref()),
        strings(|l| Some(l.reason.as_str())),
        strings(|l| Some(l.topic.as_str())),
        Arc::new(letters.iter().map(|l| l.partition).collect::<Int32Array>()),
        Arc::new(letters.iter().map(|l| l.offset).collect::<Int64Array>()),
        Arc::new(
            TimestampMicrosecondArray::from(
                letters
                    .iter()
                    .map(|l| l.timestamp_ms.saturating_mul(1000))
                    .collect::<Vec<i64>>(),
            )
            .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(dead_letter_schema(), columns)
}
