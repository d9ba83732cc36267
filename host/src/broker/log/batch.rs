//! One Kafka record batch (format v2, "magic 2") as the log stores it: the
//! 61-byte header followed by the records, byte for byte as the producer
//! sent them. The log rewrites only the base offset, which the batch CRC does
//! not cover, so a stored batch is still the producer's batch.
//!
//! ```text
//!  0 base offset  i64      21 attributes      i16    43 producer id     i64
//!  8 batch length i32      23 last off. delta i32    51 producer epoch  i16
//! 12 leader epoch i32      27 base timestamp  i64    53 base sequence   i32
//! 16 magic        i8       35 max timestamp   i64    57 record count    i32
//! 17 crc32c       u32      (covers bytes 21.. to the end of the batch)
//! ```

use tansu_sans_io::record::deflated;

/// Bytes before the records.
pub const HEADER_LEN: usize = 61;

/// The base offset and length fields, which `batch length` does not count.
const LENGTH_PREFIX: usize = 12;

/// Where the CRC-covered part of a batch starts.
const CRC_FROM: usize = 21;

/// The only record batch format the log takes (Kafka 0.11 and later).
const MAGIC: i8 = 2;

/// One broker, no leader elections: batches and metadata carry no leader
/// epoch, so clients skip leader-epoch validation (KIP-320).
pub const NO_LEADER_EPOCH: i32 = -1;

/// `attributes` bits.
const COMPRESSION_MASK: i16 = 0b111;
const TRANSACTIONAL: i16 = 0b1_0000;
const CONTROL: i16 = 0b10_0000;

/// The fields of a batch header the log works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

/// Why a batch is not one the log can take or trust.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchFault {
    #[error("{have} bytes cannot hold a batch header ({HEADER_LEN} bytes)")]
    ShortHeader { have: usize },
    #[error("the batch says it is {claimed} bytes but only {have} are there")]
    Truncated { claimed: usize, have: usize },
    #[error("batch length {0} is impossible")]
    BadLength(i32),
    #[error("record batch format (magic) {0} is not 2")]
    Magic(i8),
    #[error("CRC mismatch: the batch says {stored:#010x}, its bytes give {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("the batch starts at offset {found} where {expected} was next")]
    Offset { expected: i64, found: i64 },
    #[error("its records do not decode: {0}")]
    Records(String),
    #[error("{count} records but a last offset delta of {delta}")]
    Count { count: i32, delta: i32 },
}

impl BatchHeader {
    /// Reads a header from the first [`HEADER_LEN`] bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchFault> {
        if bytes.len() < HEADER_LEN {
            return Err(BatchFault::ShortHeader { have: bytes.len() });
        }
        let i16_at = |at: usize| i16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let i32_at = |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let i64_at = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let header = BatchHeader {
            base_offset: i64_at(0),
            batch_length: i32_at(8),
            magic: bytes[16] as i8,
            crc: i32_at(17) as u32,
            attributes: i16_at(21),
            last_offset_delta: i32_at(23),
            base_timestamp: i64_at(27),
            max_timestamp: i64_at(35),
            producer_id: i64_at(43),
            producer_epoch: i16_at(51),
            base_sequence: i32_at(53),
            record_count: i32_at(57),
        };
        if (header.batch_length as i64) < (HEADER_LEN - LENGTH_PREFIX) as i64 {
            return Err(BatchFault::BadLength(header.batch_length));
        }
        if header.magic != MAGIC {
            return Err(BatchFault::Magic(header.magic));
        }
        Ok(header)
    }

    /// The header of a batch tansu decoded from a produce request, with the
    /// base offset the log assigns.
    pub fn of(batch: &deflated::Batch, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: batch.batch_length,
            magic: batch.magic,
            crc: batch.crc,
            attributes: batch.attributes,
            last_offset_delta: batch.last_offset_delta,
            base_timestamp: batch.base_timestamp,
            max_timestamp: batch.max_timestamp,
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            base_sequence: batch.base_sequence,
            record_count: batch.record_count as i32,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&self.base_offset.to_be_bytes());
        out[8..12].copy_from_slice(&self.batch_length.to_be_bytes());
        // Partition leader epoch: none (-1), as the metadata says.
        out[12..16].copy_from_slice(&NO_LEADER_EPOCH.to_be_bytes());
        out[16] = self.magic as u8;
        out[17..21].copy_from_slice(&self.crc.to_be_bytes());
        out[21..23].copy_from_slice(&self.attributes.to_be_bytes());
        out[23..27].copy_from_slice(&self.last_offset_delta.to_be_bytes());
        out[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        out[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        out[43..51].copy_from_slice(&self.producer_id.to_be_bytes());
        out[51..53].copy_from_slice(&self.producer_epoch.to_be_bytes());
        out[53..57].copy_from_slice(&self.base_sequence.to_be_bytes());
        out[57..61].copy_from_slice(&self.record_count.to_be_bytes());
        out
    }

    /// The whole batch's size on disk and on the wire.
    pub fn total_len(&self) -> usize {
        self.batch_length as usize + LENGTH_PREFIX
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The sequence number of the batch's last record (sequences wrap at
    /// `i32::MAX`, as Kafka's do).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }

    /// Kafka's compression codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL != 0
    }

    /// An idempotent producer's batch carries its producer id and sequence.
    pub fn is_idempotent(&self) -> bool {
        self.producer_id >= 0 && self.base_sequence >= 0
    }

    /// The count and the offset delta must agree: the log hands out
    /// `record_count` offsets for this batch.
    pub fn check_count(&self) -> Result<(), BatchFault> {
        if self.record_count < 1 || self.last_offset_delta != self.record_count - 1 {
            return Err(BatchFault::Count {
                count: self.record_count,
                delta: self.last_offset_delta,
            });
        }
        Ok(())
    }
}

/// The CRC-32C of a batch: over the header from `attributes` on, then the records.
pub fn crc_of(header: &[u8; HEADER_LEN], records: &[u8]) -> u32 {
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    digest.update(&header[CRC_FROM..]);
    digest.update(records);
    digest.finalize() as u32
}

/// Checks a whole stored batch (header and records in `bytes`): its length
/// and its CRC. Used when the log recovers a segment after a crash.
pub fn verify(bytes: &[u8]) -> Result<BatchHeader, BatchFault> {
    let header = BatchHeader::parse(bytes)?;
    let total = header.total_len();
    if bytes.len() < total {
        return Err(BatchFault::Truncated {
            claimed: total,
            have: bytes.len(),
        });
    }
    let mut digest = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
    digest.update(&bytes[CRC_FROM..total]);
    let computed = digest.finalize() as u32;
    if computed != header.crc {
        return Err(BatchFault::Crc {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// Turns stored bytes back into the batch type tansu encodes into a fetch
/// response, without copying the records (`bytes` is sliced).
pub fn to_deflated(header: &BatchHeader, bytes: bytes::Bytes) -> deflated::Batch {
    deflated::Batch {
        base_offset: header.base_offset,
        batch_length: header.batch_length,
        partition_leader_epoch: NO_LEADER_EPOCH,
        magic: header.magic,
        crc: header.crc,
        attributes: header.attributes,
        last_offset_delta: header.last_offset_delta,
        base_timestamp: header.base_timestamp,
        max_timestamp: header.max_timestamp,
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        record_count: header.record_count as u32,
        record_data: bytes.slice(HEADER_LEN..header.total_len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (BatchHeader, Vec<u8>) {
        let records = b"some records".to_vec();
        let mut header = BatchHeader {
            base_offset: 0,
            batch_length: (HEADER_LEN - LENGTH_PREFIX + records.len()) as i32,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: 2,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_005,
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 10,
            record_count: 3,
        };
        header.crc = crc_of(&header.encode(), &records);
        let mut bytes = header.encode().to_vec();
        bytes.extend_from_slice(&records);
        (header, bytes)
    }

    #[test]
    fn a_header_reads_back_as_written() {
        let (header, bytes) = sample();
        assert_eq!(BatchHeader::parse(&bytes).unwrap(), header);
        assert_eq!(verify(&bytes).unwrap(), header);
        assert_eq!(header.total_len(), bytes.len());
        assert_eq!(header.last_sequence(), 12);
        header.check_count().unwrap();
    }

    #[test]
    fn the_base_offset_is_outside_the_crc() {
        let (mut header, _) = sample();
        let records = b"some records";
        let before = crc_of(&header.encode(), records);
        header.base_offset = 1234;
        assert_eq!(crc_of(&header.encode(), records), before);
    }

    #[test]
    fn damage_is_found() {
        let (_, bytes) = sample();
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(verify(&flipped), Err(BatchFault::Crc { .. })));
        assert!(matches!(
            verify(&bytes[..bytes.len() - 1]),
            Err(BatchFault::Truncated { .. })
        ));
        assert!(matches!(
            verify(&bytes[..10]),
            Err(BatchFault::ShortHeader { have: 10 })
        ));
        let mut old = bytes.clone();
        old[16] = 1;
        assert_eq!(verify(&old), Err(BatchFault::Magic(1)));
    }

    #[test]
    fn sequences_wrap_like_kafkas() {
        let (mut header, _) = sample();
        header.base_sequence = i32::MAX;
        header.last_offset_delta = 1;
        assert_eq!(header.last_sequence(), 0);
    }
}
