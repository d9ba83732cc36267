//! [`Event`]: one event as a plugin function sees it, read and written
//! lazily over the batch buffer.
//!
//! An input event is its JSON bytes, lent by the batch, plus its Kafka
//! metadata. Reading a top-level key scans those bytes ([`scan`]) and lends
//! the value out. Setting or removing a top-level key records an edit
//! ([`edits`]); the new event is written by copying the bytes around the
//! edits. Anything harder — `get`, `as_object`, `as_object_mut`, or an event
//! the scanner cannot vouch for — parses the event once into a map kept
//! inside it, with the edits applied, and from then on the map is the event.
//! An event that ends up as it came is never written back: the runner turns
//! it into a `keep`.

mod edits;
mod scan;
mod splice;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use self::edits::{Edits, Lookup, NotRecorded};
use crate::Error;

/// An event's JSON object, with keys in their original order.
type Object = Map<String, Value>;

/// One event: a JSON object and the Kafka metadata it came with.
///
/// Everything costs only what it touches. `e.str("event_type")` scans the
/// bytes up to that key; [`set`](Event::set) and [`remove`](Event::remove)
/// note the change, and returning the event writes its bytes once with the
/// changes spliced in. [`get`](Event::get), [`as_object`](Event::as_object)
/// and [`as_object_mut`](Event::as_object_mut) parse the whole event once.
///
/// An event is *modified* when some key ends up with a value other than it
/// had (or is added, or removed): only then does the host get new JSON.
///
/// Keys match exactly (`"Host"` is not `"host"`).
#[derive(Clone)]
pub struct Event<'a> {
    /// The JSON the event arrived as (empty for an event built here). With
    /// `edits`, the truth until the event is parsed.
    raw: Cow<'a, [u8]>,
    /// Top-level writes not applied to `raw`; stale once `object` is filled.
    edits: Edits,
    /// The parsed object, once something needed it; the truth from then on.
    /// Boxed: an `Event` moves by value through every transform call.
    object: OnceCell<Box<Parsed>>,
    /// Whether the parsed object was changed (or built here); edits made
    /// before the parse are judged by `Parsed::changed`.
    modified: bool,
    /// Whether this is the batch's own event, which an unchanged return
    /// can leave where it is (`keep`) instead of copying it back.
    is_input: bool,
    meta: Metadata<'a>,
}

/// The event parsed, with the edits made before the parse applied.
#[derive(Clone)]
struct Parsed {
    object: Object,
    /// Whether those edits changed any key's value.
    changed: bool,
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
            edits: Edits::default(),
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
            edits: Edits::default(),
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
            edits: Edits::default(),
            object: OnceCell::from(Box::new(Parsed {
                object,
                changed: false,
            })),
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
    /// not a string. Without escapes it is lent straight from the batch (or
    /// from the edit that set it).
    #[must_use]
    pub fn str(&self, key: &str) -> Option<&str> {
        if self.object.get().is_none() {
            let found = match self.edits.lookup(key) {
                Lookup::Removed => return None,
                // serde_json wrote it: a string has escapes only where
                // there is a backslash.
                Lookup::Set(json) => match json {
                    [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
                        return std::str::from_utf8(inner).ok();
                    }
                    [b'"', ..] => None,
                    _ => return None,
                },
                Lookup::Untouched => scan::find(&self.raw, key).ok(),
            };
            match found {
                Some(None) => return None,
                Some(Some(found)) => match found.plain_str() {
                    Some(plain) => return std::str::from_utf8(plain).ok(),
                    None if !found.json.starts_with(b"\"") => return None,
                    // An escaped string: the parse below unescapes it.
                    None => {}
                },
                // An escaped string edit, or the scanner gave up.
                None => {}
            }
        }
        self.as_object().get(key)?.as_str()
    }

    /// `event_type`, the field every reference event has.
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.str("event_type")
    }

    /// The top-level value under `key`. Parses the whole event (once),
    /// unless the key was removed.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        if self.object.get().is_none() && matches!(self.edits.lookup(key), Lookup::Removed) {
            return None;
        }
        self.as_object().get(key)
    }

    /// The top-level value under `key` as a `T`, or `None` if it is missing or
    /// is not a `T`. Deserializes only that value from the event's bytes (or
    /// from the edit that set it) while the event is unparsed.
    #[must_use]
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        if self.object.get().is_none() {
            match self.edits.lookup(key) {
                Lookup::Removed => return None,
                Lookup::Set(json) => return serde_json::from_slice(json).ok(),
                Lookup::Untouched => match scan::find(&self.raw, key) {
                    Ok(None) => return None,
                    Ok(Some(found)) => return serde_json::from_slice(found.json).ok(),
                    Err(scan::GiveUp) => {}
                },
            }
        }
        T::deserialize(self.get(key)?).ok()
    }

    /// Sets `key` to `value`: anything serde can serialize (`&str`, numbers,
    /// a `Value` from `json!`, your own `#[derive(Serialize)]` types).
    /// Existing keys keep their place, new ones go last.
    ///
    /// On an unparsed event this only notes the new value, serialized once:
    /// it neither parses the event nor looks the key up, which is why it
    /// does not return the value it replaces (read it with
    /// [`get`](Event::get) or take it with [`remove`](Event::remove) first).
    /// Setting a key to the value it already has leaves the event
    /// unmodified.
    ///
    /// # Panics
    ///
    /// If `value`'s `Serialize` fails (a map with keys that are not strings,
    /// say): that is a bug in the plugin, and the host dead-letters the
    /// event with this message.
    #[track_caller]
    pub fn set(&mut self, key: impl AsRef<str>, value: impl Serialize) {
        let key = key.as_ref();
        if self.object.get().is_none() {
            match self.edits.set(key, &value) {
                Ok(()) => return,
                Err(NotRecorded::TooDeep) => {}
                Err(NotRecorded::Serialize(error)) => cannot_set(key, &error),
            }
        }
        let value = match serde_json::to_value(&value) {
            Ok(value) => value,
            Err(error) => cannot_set(key, &error),
        };
        let object = &mut self.parsed_mut().object;
        if object.get(key) != Some(&value) {
            object.insert(key.to_owned(), value);
            self.modified = true;
        }
    }

    /// Removes `key`, keeping the order of the other keys, and returns its
    /// value. On an unparsed event this parses only that value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        if self.object.get().is_none() {
            match self.edits.lookup(key) {
                Lookup::Removed => return None,
                Lookup::Set(_) => {
                    let json = self.edits.remove(key)?;
                    return serde_json::from_slice(json).ok();
                }
                // The full parse keeps the last of duplicated keys, the
                // scanner the first: a write has to know there is one.
                Lookup::Untouched => match scan::find_unique(&self.raw, key) {
                    Ok(None) => return None,
                    Ok(Some(found)) => {
                        if let Ok(old) = serde_json::from_slice(found.json) {
                            self.edits.remove(key);
                            return Some(old);
                        }
                    }
                    Err(scan::GiveUp) => {}
                },
            }
        }
        let old = self.parsed_mut().object.shift_remove(key);
        self.modified |= old.is_some();
        old
    }

    /// The whole object. Parses the event (once); an input event that is not
    /// a JSON object, which the host never sends, reads as an empty one.
    #[must_use]
    pub fn as_object(&self) -> &Map<String, Value> {
        &self.parsed().object
    }

    /// The whole object, to change at will; marks the event modified.
    pub fn as_object_mut(&mut self) -> &mut Map<String, Value> {
        self.modified = true;
        &mut self.parsed_mut().object
    }

    /// The event parsed, with the edits so far applied.
    fn parsed(&self) -> &Parsed {
        self.object.get_or_init(|| {
            let mut object: Object = serde_json::from_slice(&self.raw).unwrap_or_default();
            let changed = self.edits.apply(&mut object);
            Box::new(Parsed { object, changed })
        })
    }

    fn parsed_mut(&mut self) -> &mut Parsed {
        let _ = self.parsed();
        match self.object.get_mut() {
            Some(parsed) => parsed,
            None => unreachable!("parsed() just filled the cell"),
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

    /// Whether the event has to be sent back as new JSON: a key's value
    /// changed, or the event was built in the plugin. For an event with
    /// unwritten edits this writes it to find out; the runner instead writes
    /// it once where it goes.
    #[must_use]
    pub fn is_modified(&self) -> bool {
        match self.object.get() {
            Some(parsed) => self.modified || parsed.changed,
            None => !self.edits.is_empty() && self.write_changes(&mut Vec::new()),
        }
    }

    /// The event's JSON: its original bytes while unmodified.
    #[must_use]
    pub fn to_json_bytes(&self) -> Cow<'_, [u8]> {
        let mut out = Vec::new();
        if self.write_changes(&mut out) {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(&self.raw)
        }
    }

    /// Appends the event's JSON to `out`.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        if !self.write_changes(out) {
            out.extend_from_slice(&self.raw);
        }
    }

    /// Appends the event's new JSON to `out` if it is modified, and says
    /// whether it was. Otherwise `out` is left as it was.
    ///
    /// Unparsed edits are spliced into the original bytes: one pass, no
    /// parse. Where the splice gives up, the event is parsed after all.
    pub(crate) fn write_changes(&self, out: &mut Vec<u8>) -> bool {
        if self.object.get().is_none() {
            if self.edits.is_empty() {
                return false;
            }
            let mark = out.len();
            match splice::splice(&self.raw, &self.edits, out) {
                Ok(true) => return true,
                Ok(false) => {
                    out.truncate(mark);
                    return false;
                }
                Err(scan::GiveUp) => out.truncate(mark),
            }
        }
        let parsed = self.parsed();
        if !(self.modified || parsed.changed) {
            return false;
        }
        // Writing a map of JSON values into memory cannot fail: keys are
        // strings and a `Value` holds no non-finite number.
        if let Err(error) = serde_json::to_writer(&mut *out, &parsed.object) {
            unreachable!("serializing a JSON object into memory failed: {error}");
        }
        true
    }

    /// Whether this is the batch's own event (changed or not), whose
    /// original the host already has.
    pub(crate) fn is_input(&self) -> bool {
        self.is_input
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

impl Drop for Event<'_> {
    /// Leaves the edit buffers, if any, to the next event (see `Edits`).
    fn drop(&mut self) {
        if self.edits.has_buffers() {
            std::mem::take(&mut self.edits).recycle();
        }
    }
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = self.to_json_bytes();
        f.debug_struct("Event")
            .field("json", &String::from_utf8_lossy(&json))
            .field("modified", &self.is_modified())
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

#[track_caller]
fn cannot_set(key: &str, error: &serde_json::Error) -> ! {
    panic!("cannot set `{key}`: its value does not serialize to JSON: {error}");
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
