//! `EventBatch`: events on their way into a plugin, laid out as the WIT
//! `batch` record wants them (one byte buffer plus columns), so handing a
//! batch to a plugin is a handful of memcpys.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::bindings::Batch;

/// Where an event came from in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventMeta {
    pub partition: i32,
    pub offset: i64,
    /// Kafka record timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

#[derive(Debug, Clone)]
pub struct EventBatch {
    pub(crate) inner: Batch,
}

impl Default for EventBatch {
    fn default() -> Self {
        EventBatch::new()
    }
}

impl EventBatch {
    pub fn new() -> EventBatch {
        EventBatch {
            inner: Batch {
                data: Vec::new(),
                ends: Vec::new(),
                partitions: Vec::new(),
                offsets: Vec::new(),
                timestamps: Vec::new(),
                header_ends: Vec::new(),
                header_keys: Vec::new(),
                header_values: Vec::new(),
            },
        }
    }

    pub fn with_capacity(events: usize, bytes: usize) -> EventBatch {
        let mut b = EventBatch::new();
        b.inner.data.reserve(bytes);
        b.inner.ends.reserve(events);
        b.inner.partitions.reserve(events);
        b.inner.offsets.reserve(events);
        b.inner.timestamps.reserve(events);
        b.inner.header_ends.reserve(events);
        b
    }

    /// Appends one event's JSON bytes (not checked here: the pipeline
    /// validates events where they enter) with its Kafka metadata.
    pub fn push(&mut self, json: &[u8], meta: EventMeta) {
        self.push_with_headers(json, meta, std::iter::empty::<(&str, &[u8])>());
    }

    pub fn push_with_headers<'h>(
        &mut self,
        json: &[u8],
        meta: EventMeta,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    ) {
        let b = &mut self.inner;
        b.data.extend_from_slice(json);
        b.ends
            .push(u32::try_from(b.data.len()).expect("a batch holds under 4 GiB"));
        b.partitions.push(meta.partition);
        b.offsets.push(meta.offset);
        b.timestamps.push(meta.timestamp_ms);
        for (k, v) in headers {
            b.header_keys.push(k.to_string());
            b.header_values.push(v.to_vec());
        }
        b.header_ends.push(b.header_keys.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.inner.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.ends.is_empty()
    }

    pub fn clear(&mut self) {
        let b = &mut self.inner;
        b.data.clear();
        b.ends.clear();
        b.partitions.clear();
        b.offsets.clear();
        b.timestamps.clear();
        b.header_ends.clear();
        b.header_keys.clear();
        b.header_values.clear();
    }

    /// Total JSON bytes in the batch.
    pub fn bytes(&self) -> usize {
        self.inner.data.len()
    }

    pub fn event(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.inner.ends[i - 1] as usize
        };
        &self.inner.data[start..self.inner.ends[i] as usize]
    }

    pub fn meta(&self, i: usize) -> EventMeta {
        EventMeta {
            partition: self.inner.partitions[i],
            offset: self.inner.offsets[i],
            timestamp_ms: self.inner.timestamps[i],
        }
    }

    pub fn headers(&self, i: usize) -> impl Iterator<Item = (&str, &[u8])> {
        let start = if i == 0 {
            0
        } else {
            self.inner.header_ends[i - 1] as usize
        };
        let end = self.inner.header_ends[i] as usize;
        (start..end).map(|h| {
            (
                self.inner.header_keys[h].as_str(),
                self.inner.header_values[h].as_slice(),
            )
        })
    }

    /// Copies event `i` with its metadata and headers onto the end of `out`.
    pub(crate) fn copy_event_to(&self, i: usize, out: &mut EventBatch) {
        out.push_with_headers(self.event(i), self.meta(i), self.headers(i));
    }

    /// Copies events `range` into a new batch (used to retry part of a batch).
    pub(crate) fn slice(&self, range: std::ops::Range<usize>) -> EventBatch {
        let bytes = self.inner.ends[range.end - 1] as usize
            - if range.start == 0 {
                0
            } else {
                self.inner.ends[range.start - 1] as usize
            };
        let mut out = EventBatch::with_capacity(range.len(), bytes);
        for i in range {
            self.copy_event_to(i, &mut out);
        }
        out
    }

    /// The batch's event time: the newest Kafka timestamp in it. Plugins read
    /// it from the WASI clocks.
    pub fn event_time_ms(&self) -> i64 {
        self.inner.timestamps.iter().copied().max().unwrap_or(0)
    }

    /// The per-batch random seed: a function of the events' positions, so a
    /// replay of the same events draws the same numbers.
    pub fn seed(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.inner.partitions.first().hash(&mut h);
        self.inner.offsets.first().hash(&mut h);
        self.inner.offsets.last().hash(&mut h);
        self.len().hash(&mut h);
        h.finish()
    }
}
