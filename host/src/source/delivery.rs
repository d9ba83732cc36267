//! What travels from the source to a pipeline, and what comes back: the
//! offsets a pipeline has made durable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::plugin::EventBatch;

/// A topic and partition.
pub type PartitionKey = (Arc<str>, i32);

/// Events from one topic (any of its partitions), in Kafka order per partition.
#[derive(Debug)]
pub struct SourceBatch {
    pub topic: Arc<str>,
    pub events: EventBatch,
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
