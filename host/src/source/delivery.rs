//! What travels from the source to a pipeline, and what comes back: the
//! offsets a pipeline has made durable.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::plugin::EventBatch;
use crate::table::{DecodeLimits, check_event};

/// A topic and partition.
pub type PartitionKey = (Arc<str>, i32);

/// Events from one topic (any of its partitions), in Kafka order per partition.
#[derive(Debug)]
pub struct SourceBatch {
    pub topic: Arc<str>,
    pub events: EventBatch,
    /// The entry checks' verdicts, worked out by the first pipeline that
    /// asks, with the limits it asked with.
    refused: OnceLock<(DecodeLimits, Vec<(usize, String)>)>,
}

impl SourceBatch {
    pub fn new(topic: Arc<str>, events: EventBatch) -> SourceBatch {
        SourceBatch {
            topic,
            events,
            refused: OnceLock::new(),
        }
    }

    /// The events that fail the entry checks (size, UTF-8, one JSON object,
    /// depth) under `limits`, by index, with the reason. Every pipeline
    /// reads the same batch, so the events are scanned once per batch, not
    /// once per pipeline; a pipeline with other limits checks for itself.
    pub fn refused(&self, limits: &DecodeLimits) -> Cow<'_, [(usize, String)]> {
        let check = || {
            (0..self.events.len())
                .filter_map(|i| {
                    check_event(self.events.event(i), limits)
                        .err()
                        .map(|reason| (i, reason.to_string()))
                })
                .collect::<Vec<_>>()
        };
        let (checked_with, refused) = self.refused.get_or_init(|| (*limits, check()));
        if checked_with == limits {
            Cow::Borrowed(refused)
        } else {
            Cow::Owned(check())
        }
    }
}

/// One message on a pipeline's channel. Order matters: a revocation comes
/// after every batch that holds records of the revoked partitions.
#[derive(Debug)]
pub enum Delivery {
    Batch(Arc<SourceBatch>),
    /// These partitions are now this process's: read the lake's progress
    /// for them. With each, where the partition ended at assignment (its
    /// high watermark), when Kafka said.
    Assigned(Vec<(PartitionKey, Option<i64>)>),
    /// These partitions go elsewhere: flush what is buffered for them, then ack.
    Revoked(Vec<PartitionKey>, Sender<()>),
    /// Stop: flush everything, then ack.
    Shutdown(Sender<()>),
}

/// A pipeline's end of the channel and the source's end. A few batches in
/// flight are enough to keep both sides busy; more only costs memory.
pub fn inbox() -> (Sender<Delivery>, Receiver<Delivery>) {
    bounded(4)
}

/// The next offset to commit per pipeline and partition: every record before
/// it is in the lake (or needed nowhere). The source commits the minimum
/// over pipelines.
#[derive(Debug, Clone, Default)]
pub struct DurableOffsets {
    inner: Arc<Mutex<HashMap<(usize, PartitionKey), i64>>>,
}

impl DurableOffsets {
    /// Pipeline `pipeline` has everything before `next_offset` durable.
    pub fn report(&self, pipeline: usize, partition: PartitionKey, next_offset: i64) {
        let mut map = self.inner.lock().expect("durable offsets lock");
        let entry = map.entry((pipeline, partition)).or_insert(next_offset);
        *entry = (*entry).max(next_offset);
    }

    /// What may be committed for `partition`: the minimum over `pipelines`,
    /// or `None` while any of them has reported nothing for it.
    pub fn committable(&self, pipelines: usize, partition: &PartitionKey) -> Option<i64> {
        let map = self.inner.lock().expect("durable offsets lock");
        (0..pipelines)
            .map(|p| map.get(&(p, partition.clone())).copied())
            .collect::<Option<Vec<i64>>>()?
            .into_iter()
            .min()
    }

    /// Forgets a partition that was revoked, so a later owner starts afresh.
    pub fn forget(&self, partition: &PartitionKey) {
        self.inner
            .lock()
            .expect("durable offsets lock")
            .retain(|(_, k), _| k != partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::EventMeta;

    fn batch(events: &[&str]) -> SourceBatch {
        let mut batch = EventBatch::new();
        for json in events {
            batch.push(json.as_bytes(), EventMeta::default());
        }
        SourceBatch::new("events".into(), batch)
    }

    #[test]
    fn entry_checks_are_worked_out_once_per_batch_and_per_limits() {
        let batch = batch(&[
            r#"{"event_type": "login"}"#,
            "[1, 2]",
            r#"{"pad": "a long value"}"#,
            "{",
        ]);
        let limits = DecodeLimits::default();
        let first = batch.refused(&limits);
        assert!(matches!(first, Cow::Borrowed(_)));
        let indices: Vec<usize> = first.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [1, 3]);
        assert!(first[0].1.contains("not an object"), "{first:?}");
        // A second pipeline with the same limits shares the verdicts.
        assert!(std::ptr::eq(
            batch.refused(&limits).as_ptr(),
            first.as_ptr()
        ));
        // Other limits: checked afresh, with those limits.
        let tight = DecodeLimits {
            max_event_bytes: 20,
            ..limits
        };
        let again = batch.refused(&tight);
        assert!(matches!(again, Cow::Owned(_)));
        let indices: Vec<usize> = again.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [0, 1, 2, 3]);
        assert!(
            again[0].1.contains("over the limit of 20 bytes"),
            "{again:?}"
        );
    }
}
