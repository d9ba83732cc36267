//! Idempotent producers, per partition, as Kafka keeps them (KIP-98,
//! KIP-360): for each producer id its epoch and the sequence numbers and
//! offsets of its last five batches.
//!
//! - A batch whose sequences match one of those five is a retry of a batch
//!   already in the log: it is acknowledged with its first offset and not
//!   written again.
//! - A batch that does not follow the last one is refused with
//!   `OUT_OF_ORDER_SEQUENCE_NUMBER`; the producer resends in order.
//! - A higher epoch starts again at sequence 0; a lower one is a fenced
//!   (zombie) producer and gets `INVALID_PRODUCER_EPOCH`.
//!
//! The state is rebuilt after a restart from a snapshot (taken when a
//! segment closes and at a clean stop, kept in the metadata store) plus the
//! headers of the batches written after it.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use tansu_sans_io::ErrorCode;

use super::batch::BatchHeader;

/// Batches remembered per producer (Kafka's and librdkafka's in-flight limit).
const REMEMBERED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct BatchSeen {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Producer {
    epoch: i16,
    batches: VecDeque<BatchSeen>,
    /// Wall clock of the last append, milliseconds since the epoch.
    last_write_ms: i64,
}

/// What to do with an idempotent producer's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Write it.
    Append,
    /// Already in the log at this base offset: acknowledge, do not write.
    Duplicate { base_offset: i64 },
}

/// The producers of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Producers {
    by_id: BTreeMap<i64, Producer>,
}

impl Producers {
    /// Decides on a batch before it is written (its base offset is not set yet).
    pub fn check(&self, batch: &BatchHeader) -> Result<SequenceCheck, ErrorCode> {
        if !batch.is_idempotent() {
            return Ok(SequenceCheck::Append);
        }
        let Some(producer) = self.by_id.get(&batch.producer_id) else {
            // A producer new to this partition starts at 0. One that was
            // forgotten (expired) learns so and starts over.
            return if batch.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ErrorCode::UnknownProducerId)
            };
        };
        if batch.producer_epoch < producer.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if batch.producer_epoch > producer.epoch {
            return if batch.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        let last_sequence = batch.last_sequence();
        if let Some(seen) = producer
            .batches
            .iter()
            .find(|b| b.first_sequence == batch.base_sequence && b.last_sequence == last_sequence)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: seen.base_offset,
            });
        }
        let expected = producer
            .batches
            .back()
            .map_or(0, |last| next_sequence(last.last_sequence));
        if batch.base_sequence == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(ErrorCode::OutOfOrderSequenceNumber)
        }
    }

    /// Records a batch written at `batch.base_offset`.
    pub fn record(&mut self, batch: &BatchHeader, now_ms: i64) {
        if !batch.is_idempotent() {
            return;
        }
        let producer = self
            .by_id
            .entry(batch.producer_id)
            .or_insert_with(|| Producer {
                epoch: batch.producer_epoch,
                batches: VecDeque::new(),
                last_write_ms: now_ms,
            });
        if batch.producer_epoch != producer.epoch {
            producer.epoch = batch.producer_epoch;
            producer.batches.clear();
        }
        if producer.batches.len() == REMEMBERED_BATCHES {
            producer.batches.pop_front();
        }
        producer.batches.push_back(BatchSeen {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            base_offset: batch.base_offset,
        });
        producer.last_write_ms = producer.last_write_ms.max(now_ms);
    }

    /// Forgets producers that have not written since `before_ms`
    /// (Kafka's `producer.id.expiration.ms`). Returns how many.
    pub fn expire(&mut self, before_ms: i64) -> usize {
        let was = self.by_id.len();
        self.by_id.retain(|_, p| p.last_write_ms >= before_ms);
        was - self.by_id.len()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

fn next_sequence(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(producer_id: i64, epoch: i16, base_sequence: i32, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 100,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            record_count: count,
        }
    }

    fn write(
        producers: &mut Producers,
        mut b: BatchHeader,
        at: i64,
    ) -> Result<SequenceCheck, ErrorCode> {
        let check = producers.check(&b)?;
        if check == SequenceCheck::Append {
            b.base_offset = at;
            producers.record(&b, 0);
        }
        Ok(check)
    }

    #[test]
    fn in_order_batches_are_appended_and_retries_are_not() {
        let mut p = Producers::default();
        assert_eq!(
            write(&mut p, batch(1, 0, 0, 10), 0),
            Ok(SequenceCheck::Append)
        );
        assert_eq!(
            write(&mut p, batch(1, 0, 10, 5), 10),
            Ok(SequenceCheck::Append)
        );
        // The first batch again, as a producer retries after a lost ack.
        assert_eq!(
            write(&mut p, batch(1, 0, 0, 10), 15),
            Ok(SequenceCheck::Duplicate { base_offset: 0 })
        );
        assert_eq!(
            write(&mut p, batch(1, 0, 10, 5), 15),
            Ok(SequenceCheck::Duplicate { base_offset: 10 })
        );
        assert_eq!(
            write(&mut p, batch(1, 0, 15, 1), 15),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn a_gap_is_out_of_order() {
        let mut p = Producers::default();
        write(&mut p, batch(1, 0, 0, 10), 0).unwrap();
        assert_eq!(
            write(&mut p, batch(1, 0, 11, 1), 10),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            write(&mut p, batch(2, 0, 3, 1), 10),
            Err(ErrorCode::UnknownProducerId),
            "a producer new to the partition starts at 0"
        );
    }

    #[test]
    fn a_bumped_epoch_starts_at_zero_and_fences_the_old_one() {
        let mut p = Producers::default();
        write(&mut p, batch(1, 0, 0, 10), 0).unwrap();
        assert_eq!(
            write(&mut p, batch(1, 1, 5, 1), 10),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            write(&mut p, batch(1, 1, 0, 3), 10),
            Ok(SequenceCheck::Append)
        );
        assert_eq!(
            write(&mut p, batch(1, 0, 10, 1), 13),
            Err(ErrorCode::InvalidProducerEpoch)
        );
        assert_eq!(
            write(&mut p, batch(1, 1, 3, 1), 13),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn sequences_wrap_and_only_five_batches_are_kept() {
        let mut p = Producers::default();
        write(&mut p, batch(1, 0, 0, 1), 0).unwrap();
        p.by_id
            .get_mut(&1)
            .unwrap()
            .batches
            .back_mut()
            .unwrap()
            .last_sequence = i32::MAX;
        assert_eq!(
            write(&mut p, batch(1, 0, 0, 1), 1),
            Ok(SequenceCheck::Append)
        );
        for s in 1..7 {
            write(&mut p, batch(1, 0, s, 1), 1 + i64::from(s)).unwrap();
        }
        assert_eq!(p.by_id[&1].batches.len(), REMEMBERED_BATCHES);
        // Sequence 1 fell out of the window: it is neither a known retry
        // nor next, so the producer hears it is out of order.
        assert_eq!(
            write(&mut p, batch(1, 0, 1, 1), 8),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
    }

    #[test]
    fn idle_producers_expire() {
        let mut p = Producers::default();
        let mut b = batch(1, 0, 0, 1);
        p.record(&b, 1_000);
        b.producer_id = 2;
        p.record(&b, 5_000);
        assert_eq!(p.expire(2_000), 1);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn plain_producers_are_not_tracked() {
        let mut p = Producers::default();
        let b = batch(-1, -1, -1, 3);
        assert_eq!(p.check(&b), Ok(SequenceCheck::Append));
        p.record(&b, 0);
        assert_eq!(p.len(), 0);
    }
}
