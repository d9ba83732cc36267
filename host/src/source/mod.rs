//! The Kafka source: one member of a consumer group, on its own thread,
//! feeding every pipeline the same batches.
//!
//! In: Kafka records (rdkafka, no auto-commit). Out: [`Delivery`]s on one
//! bounded channel per pipeline: batches of events, and the partition
//! assignments and revocations between them, in order. A slow pipeline fills
//! its channel and the source pauses its partitions (and keeps polling, so
//! it stays in the group) instead of buffering. Offsets are committed only up
//! to what every pipeline reports durable in the lake ([`DurableOffsets`]);
//! the lake, not Kafka, is the truth about what was written.

mod delivery;
mod kafka;

pub use delivery::{Delivery, DurableOffsets, PartitionKey, SourceBatch, inbox};
pub use kafka::{KafkaSource, SourceError, consumer_config};

#[cfg(test)]
mod tests;
