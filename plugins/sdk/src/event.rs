//! [`Event`]: one event as a plugin function sees it, read lazily from the
//! batch buffer.
//!
//! An input event is its JSON bytes, lent by the batch, plus its Kafka
//! metadata. Reading a top-level string scans those bytes ([`scan`]) and
//! lends the value out; anything harder, and every write, parses the event
//! once into a map kept inside it. An event nobody changed is never written
//! back: the runner turns it into a `keep`.

mod scan;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Error;

/// An event's JSON object, with keys in their original order.
type Object = Map<String, Value>;

/// One event: a JSON object and the Kafka metadata it came with.
///
/// Reads take `&self` and cost only what they touch: `e.str("event_type")`
/// scans the bytes up to that key. Writes ([`set`](Event::set),
/// [`remove`](Event::remove), [`as_object_mut`](Event::as_object_mut)) parse
/// the whole event once and mark it modified, so the host gets the new JSON.
///
/// Keys match exactly (`"Host"` is not `"host"`).
#[derive(Clone)]
pub struct Event<'a> {
    /// The JSON the event arrived as (empty for an event built here). It is
    /// the truth until the event is modified.
    raw: Cow<'a, [u8]>,
    /// The parsed object, once something needed it; the truth once modified.
    object: OnceCell<Object>,
    modified: bool,
    /// Whether this is the batch's own event, which an unchanged return
    /// can leave where it is (`keep`) instead of copying it back.
    is_input: bool,
    meta: Metadata<'a>,
}

/// Kafka metadata; a derived event carries its parent's.
#[derive(Clone, Default)]
pub(crate) struct Metadata<'a> {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp_ms: i64,
    pub(crate) header_keys: Cow<'a, [String]>,
    pub(crate) header_values: Cow<'a, [Vec<u8>]>,
}

impl Event<'static> {
    /// A new event, e.g. one a split adds. It has no metadata; use
    /// [`derive`](Event::derive) to give it an input event's.
    ///
    /// # Panics
    ///
    /// If `object` is not a JSON object: an event is always one, and building
    /// anything else is a bug in the plugin (the host then dead-letters the
    /// event being processed, with this message).
    #[must_use]
    #[track_caller]
    pub fn new(object: Value) -> Event<'static> {
        Event::built(object, Metadata::default())
    }

    /// An event from its JSON text, read as the host would send it: lazily,
    /// and unmodified. Meant for tests and for plugins that produce JSON text.
    ///
    /// # Errors
    ///
    /// If `json` is not valid JSON, or not an object.
    pub fn from_json(json: &str) -> Result<Event<'static>, Error> {
        check_object(json.as_bytes())?;
        Ok(Event {
            raw: Cow::Owned(json.as_bytes().to_vec()),
            object: OnceCell::new(),
            modified: false,
            is_input: false,
            meta: Metadata::default(),
        })
    }
}

impl<'a> Event<'a> {
    /// The batch's event `raw` (validated by the host as a JSON object).
    pub(crate) fn from_batch(raw: &'a [u8], meta: Metadata<'a>) -> Event<'a> {
        Event {
            raw: Cow::Borrowed(raw),
            object: OnceCell::new(),
            modified: false,
            is_input: true,
            meta,
        }
    }

    #[track_caller]
    fn built(object: Value, meta: Metadata<'a>) -> Event<'a> {
        let Value::Object(object) = object else {
            panic!("an event must be a JSON object, not {}", kind_of(&object));
        };
        Event {
            raw: Cow::Borrowed(&[]),
            object: OnceCell::from(object),
            modified: true,
            is_input: false,
            meta,
        }
    }

    /// A new event with this one's partition, offset, timestamp and headers,
    /// so what it produces can be traced back to it.
    ///
    /// # Panics
    ///
    /// If `object` is not a JSON object, as [`Event::new`].
    #[must_use]
    #[track_caller]
    pub fn derive(&self, object: Value) -> Event<'a> {
        Event::built(object, self.meta.clone())
    }

    /// The top-level string under `key`, or `None` if there is none or it is
    /// not a string. Without escapes it is lent straight from the batch.
    #[must_use]
    pub fn str(&self, key: &str) -> Option<&str> {
        if self.object.get().is_none() {
            match scan::find(&self.raw, key) {
                Ok(None) => return None,
                Ok(Some(found)) => match found.plain_str() {
                    Some(plain) => return std::str::from_utf8(plain).ok(),
                    None if !found.json.starts_with(b"\"") => return None,
                    // An escaped string: the parse below unescapes it.
                    None => {}
                },
                Err(scan::GiveUp) => {}
            }
        }
        self.as_object().get(key)?.as_str()
    }

    /// `event_type`, the field every reference event has.
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.str("event_type")
    }

    /// The top-level value under `key`. Parses the whole event (once).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().get(key)
    }

    /// The top-level value under `key` as a `T`, or `None` if it is missing or
    /// is not a `T`. Deserializes only that value from the event's bytes
    /// while the event is unparsed.
    #[must_use]
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        if self.object.get().is_none() {
            match scan::find(&self.raw, key) {
                Ok(None) => return None,
                Ok(Some(found)) => return serde_json::from_slice(found.json).ok(),
                Err(scan::GiveUp) => {}
            }
        }
        T::deserialize(self.get(key)?).ok()
    }

    /// Sets `key` to `value`, returning the value it replaces. Setting a key
    /// to the value it already has leaves the event unmodified.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        if self.as_object().get(&key) == Some(&value) {
            return Some(value);
        }
        self.as_object_mut().insert(key, value)
    }

    /// Removes `key`, keeping the order of the other keys.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        if !self.as_object().contains_key(key) {
            return None;
        }
        self.as_object_mut().shift_remove(key)
    }

    /// The whole object. Parses the event (once); an input event that is not
    /// a JSON object, which the host never sends, reads as an empty one.
    #[must_use]
    pub fn as_object(&self) -> &Map<String, Value> {
        self.object
            .get_or_init(|| serde_json::from_slice(&self.raw).unwrap_or_default())
    }

    /// The whole object, to change at will; marks the event modified.
    pub fn as_object_mut(&mut self) -> &mut Map<String, Value> {
        let _ = self.as_object();
        self.modified = true;
        match self.object.get_mut() {
            Some(object) => object,
            None => unreachable!("as_object just filled the cell"),
        }
    }

    /// The Kafka partition the event came from.
    #[must_use]
    pub fn partition(&self) -> i32 {
        self.meta.partition
    }

    /// The event's Kafka offset.
    #[must_use]
    pub fn offset(&self) -> i64 {
        self.meta.offset
    }

    /// The Kafka record timestamp, milliseconds since the Unix epoch.
    #[must_use]
    pub fn timestamp_ms(&self) -> i64 {
        self.meta.timestamp_ms
    }

    /// The first Kafka record header named `name` (names match exactly).
    /// Usually there is none: sluice keeps request headers in the JSON body.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find_map(|(key, value)| (key == name).then_some(value))
    }

    /// Every Kafka record header, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.meta
            .header_keys
            .iter()
            .zip(self.meta.header_values.iter())
            .map(|(key, value)| (key.as_str(), value.as_slice()))
    }

    /// Whether the event has to be sent back as new JSON: it was changed, or
    /// built in the plugin.
    #[must_use]
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// The event's JSON: its original bytes while unmodified.
    #[must_use]
    pub fn to_json_bytes(&self) -> Cow<'_, [u8]> {
        if self.modified {
            let mut out = Vec::new();
            self.write_json(&mut out);
            Cow::Owned(out)
        } else {
            Cow::Borrowed(&self.raw)
        }
    }

    /// Appends the event's JSON to `out`.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        if self.modified {
            // Writing a map of JSON values into memory cannot fail: keys are
            // strings and a `Value` holds no non-finite number.
            if let Err(error) = serde_json::to_writer(&mut *out, self.as_object()) {
                unreachable!("serializing a JSON object into memory failed: {error}");
            }
        } else {
            out.extend_from_slice(&self.raw);
        }
    }

    /// Whether this is the batch's event, unchanged: the host already has it.
    pub(crate) fn is_unchanged_input(&self) -> bool {
        self.is_input && !self.modified
    }

    /// Sets the Kafka partition, for tests.
    #[must_use]
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.meta.partition = partition;
        self
    }

    /// Sets the Kafka offset, for tests.
    #[must_use]
    pub fn with_offset(mut self, offset: i64) -> Self {
        self.meta.offset = offset;
        self
    }

    /// Sets the Kafka timestamp (ms since the Unix epoch), for tests.
    #[must_use]
    pub fn with_timestamp_ms(mut self, timestamp_ms: i64) -> Self {
        self.meta.timestamp_ms = timestamp_ms;
        self
    }

    /// Adds a Kafka record header, for tests.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.meta.header_keys.to_mut().push(name.into());
        self.meta.header_values.to_mut().push(value.into());
        self
    }
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = self.to_json_bytes();
        f.debug_struct("Event")
            .field("json", &String::from_utf8_lossy(&json))
            .field("modified", &self.modified)
            .field("partition", &self.meta.partition)
            .field("offset", &self.meta.offset)
            .field("timestamp_ms", &self.meta.timestamp_ms)
            .field("headers", &self.meta.header_keys)
            .finish()
    }
}

/// Checks that `json` is one JSON object, without building it.
fn check_object(json: &[u8]) -> Result<(), Error> {
    serde_json::from_slice::<serde::de::IgnoredAny>(json).map_err(Error::Json)?;
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        first => Err(Error::NotAnObject {
            found: match first {
                Some(b'[') => "an array",
                Some(b'"') => "a string",
                Some(b't' | b'f') => "a boolean",
                Some(b'n') => "null",
                _ => "a number",
            },
        }),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
