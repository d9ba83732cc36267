//! [`Edits`]: the top-level writes to an event that has not been parsed,
//! kept as JSON text beside the event's own bytes until the event is written
//! ([`splice`](super::splice)) or parsed ([`Edits::apply`]).
//!
//! A transform like `munge_event` sets two keys of a 230-byte event. Parsing
//! it into a map and serializing the map again costs thousands of
//! nanoseconds in wasm (every key and string allocated, hashed, freed);
//! noting the two values costs two small copies into buffers the previous
//! event left behind ([`SPARE`]).

use std::cell::Cell;

use serde::Serialize;
use serde_json::Value;

use super::Object;
use super::splice::length_bit;

/// Writes to an unparsed event, in the order the full parse would put any
/// new keys: one entry per key, its latest state.
#[derive(Clone, Default)]
pub(super) struct Edits {
    /// Each entry's key (as UTF-8, unescaped) and value (as compact JSON),
    /// back to back. A rewritten value leaves its old text behind: a few
    /// bytes, gone with the event.
    text: Vec<u8>,
    list: Vec<Edit>,
}

/// What the text of an event's edits starts with room for.
const TEXT_CAPACITY: usize = 64;
/// The largest text kept for the next event ([`SPARE`]): one huge edit
/// should not pin its memory for the rest of the instance's life.
const MAX_SPARE_CAPACITY: usize = 4096;
/// Nesting an edit's value may have. An edit's JSON is parsed again if the
/// event is parsed later, and serde_json refuses more than 128 levels.
const MAX_DEPTH: usize = 100;

thread_local! {
    /// The buffers of the last event dropped with edits. A transform that
    /// edits every event reuses them instead of allocating and freeing two
    /// buffers per event. (A plugin instance runs one thread.)
    static SPARE: Cell<Edits> = const {
        Cell::new(Edits {
            text: Vec::new(),
            list: Vec::new(),
        })
    };
}

/// Why an edit was not recorded.
pub(super) enum NotRecorded {
    /// The value nests too deep to be parsed again: it goes into the parsed
    /// map instead.
    TooDeep,
    /// The value's `Serialize` failed.
    Serialize(serde_json::Error),
}

#[derive(Clone, Copy)]
struct Edit {
    key: Span,
    /// The new value's JSON, or `None` if the key was removed.
    value: Option<Span>,
    /// Set, removed, then set again: like `shift_remove` then `insert` on
    /// the map, the key moves to the end even if the event had it.
    moved_to_end: bool,
}

/// A range of [`Edits::text`].
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// What an edit says about a key.
pub(super) enum Lookup<'e> {
    /// No edit touches the key: the event's bytes answer.
    Untouched,
    Removed,
    /// The key's new value, as JSON.
    Set(&'e [u8]),
}

impl Edits {
    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// The length of all keys and values together, an upper bound on what
    /// the edits add to an event.
    pub(super) fn text_len(&self) -> usize {
        self.text.len()
    }

    /// One [`length_bit`] per edited key: most keys of an event are not
    /// edited, and one whose length no edit has is passed over without
    /// comparing bytes.
    pub(super) fn key_lengths(&self) -> u64 {
        self.list.iter().fold(0, |lengths, edit| {
            lengths | length_bit(edit.key.end - edit.key.start)
        })
    }

    /// The new value of edit `at` (`None` if removed), and whether it moves
    /// its key to the end.
    pub(super) fn entry(&self, at: usize) -> (Option<&[u8]>, bool) {
        match self.list.get(at) {
            Some(edit) => (edit.value.map(|value| self.text(value)), edit.moved_to_end),
            None => (None, false),
        }
    }

    /// Every key set, in order: its index, key, new value and whether it
    /// moves to the end.
    pub(super) fn sets(&self) -> impl Iterator<Item = (usize, &[u8], &[u8], bool)> {
        self.list.iter().enumerate().filter_map(|(at, edit)| {
            let value = edit.value?;
            Some((at, self.text(edit.key), self.text(value), edit.moved_to_end))
        })
    }

    fn text(&self, span: Span) -> &[u8] {
        self.text.get(span.start..span.end).unwrap_or_default()
    }

    pub(super) fn position(&self, key: &[u8]) -> Option<usize> {
        self.list.iter().position(|edit| self.text(edit.key) == key)
    }

    pub(super) fn lookup(&self, key: &str) -> Lookup<'_> {
        match self.position(key.as_bytes()).map(|at| self.list[at].value) {
            None => Lookup::Untouched,
            Some(None) => Lookup::Removed,
            Some(Some(value)) => Lookup::Set(self.text(value)),
        }
    }

    /// Appends `bytes` to the text and returns where they went.
    fn push_text(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Span {
        let start = self.text.len();
        write(&mut self.text);
        Span {
            start,
            end: self.text.len(),
        }
    }

    /// Records `key` = `value`, serialized now, once.
    pub(super) fn set(&mut self, key: &str, value: &impl Serialize) -> Result<(), NotRecorded> {
        self.make_room();
        let start = self.text.len();
        if let Err(error) = serde_json::to_writer(&mut self.text, value) {
            self.text.truncate(start);
            return Err(NotRecorded::Serialize(error));
        }
        let json = Span {
            start,
            end: self.text.len(),
        };
        if let Some(b'[' | b'{') = self.text.get(start)
            && nests_deeper(self.text(json), MAX_DEPTH)
        {
            self.text.truncate(start);
            return Err(NotRecorded::TooDeep);
        }
        match self.position(key.as_bytes()) {
            // Set again: a map keeps the key where it is.
            Some(at) if self.list[at].value.is_some() => self.list[at].value = Some(json),
            // Removed, now set again: to the end, as on a map.
            Some(at) => {
                let key = self.list.remove(at).key;
                self.list.push(Edit {
                    key,
                    value: Some(json),
                    moved_to_end: true,
                });
            }
            None => {
                let key = self.push_text(|text| text.extend_from_slice(key.as_bytes()));
                self.list.push(Edit {
                    key,
                    value: Some(json),
                    moved_to_end: false,
                });
            }
        }
        Ok(())
    }

    /// Before the first edit: the spare buffers, else new ones with room for
    /// a few edits. (Every edit has an entry in `list`, so a `list` with no
    /// room has no edits to lose.)
    fn make_room(&mut self) {
        if self.list.capacity() != 0 {
            return;
        }
        *self = SPARE.take();
        if self.list.capacity() == 0 {
            self.text.reserve(TEXT_CAPACITY);
            self.list.reserve(4);
        }
    }

    /// Whether there are buffers to [`recycle`](Edits::recycle): only
    /// after an edit.
    pub(super) fn has_buffers(&self) -> bool {
        self.list.capacity() != 0
    }

    /// Leaves the buffers for the next event's edits.
    pub(super) fn recycle(mut self) {
        if self.has_buffers() && self.text.capacity() <= MAX_SPARE_CAPACITY {
            self.text.clear();
            self.list.clear();
            SPARE.set(self);
        }
    }

    /// Records that `key` is gone. Returns the value an earlier edit gave it,
    /// as JSON, if any.
    pub(super) fn remove(&mut self, key: &str) -> Option<&[u8]> {
        match self.position(key.as_bytes()) {
            Some(at) => {
                let old = self.list[at].value.take()?;
                Some(self.text(old))
            }
            None => {
                self.make_room();
                let key = self.push_text(|text| text.extend_from_slice(key.as_bytes()));
                self.list.push(Edit {
                    key,
                    value: None,
                    moved_to_end: false,
                });
                None
            }
        }
    }

    /// Applies the edits to `object`, the event parsed, in the order they
    /// were made. Returns whether any key ended up with another value (or
    /// none) than it had.
    pub(super) fn apply(&self, object: &mut Object) -> bool {
        let mut changed = false;
        for edit in &self.list {
            let key = String::from_utf8_lossy(self.text(edit.key)).into_owned();
            match edit.value {
                None => changed |= object.shift_remove(&key).is_some(),
                Some(json) => {
                    // What serde_json wrote parses back: values nested too
                    // deep to parse are never recorded (`MAX_DEPTH`).
                    let value: Value = serde_json::from_slice(self.text(json)).unwrap_or_default();
                    if edit.moved_to_end {
                        changed |= object.shift_remove(&key).as_ref() != Some(&value);
                    } else {
                        changed |= object.get(&key) != Some(&value);
                    }
                    object.insert(key, value);
                }
            }
        }
        changed
    }
}

/// Whether the JSON `json` (as serde_json writes it) nests arrays and
/// objects more than `limit` deep.
fn nests_deeper(json: &[u8], limit: usize) -> bool {
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}
