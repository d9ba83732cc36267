//! How large a compressed batch becomes once inflated, measured without
//! holding it: a decompression bomb (a few KiB of zstd that inflate to
//! gigabytes of zeros) is refused before any consumer has to inflate it.
//!
//! The log stores batches compressed, as produced; only this check reads
//! through them, streaming, and stops as soon as the limit is passed.

use std::io::Read;

/// Kafka's codec ids in a batch's attributes.
const GZIP: i16 = 1;
const SNAPPY: i16 = 2;
const LZ4: i16 = 3;
const ZSTD: i16 = 4;

/// The framing the Java client and librdkafka put around snappy blocks.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\0";
const XERIAL_HEADER: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflateFault {
    #[error("it inflates to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("its {codec} data does not decompress: {reason}")]
    Invalid { codec: &'static str, reason: String },
    #[error("compression codec {0} is not one Kafka defines")]
    UnknownCodec(i16),
}

/// The inflated size of `records` compressed with `codec`, if at most `limit`.
pub fn inflated_len(codec: i16, records: &[u8], limit: u64) -> Result<u64, InflateFault> {
    let invalid = |codec: &'static str| {
        move |e: std::io::Error| InflateFault::Invalid {
            codec,
            reason: e.to_string(),
        }
    };
    let len = match codec {
        0 => records.len() as u64,
        GZIP => {
            count(flate2::read::MultiGzDecoder::new(records), limit).map_err(invalid("gzip"))?
        }
        SNAPPY => snappy_len(records)?,
        LZ4 => {
            let decoder = lz4::Decoder::new(records).map_err(invalid("lz4"))?;
            count(decoder, limit).map_err(invalid("lz4"))?
        }
        ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(records).map_err(invalid("zstd"))?;
            count(decoder, limit).map_err(invalid("zstd"))?
        }
        other => return Err(InflateFault::UnknownCodec(other)),
    };
    if len > limit {
        return Err(InflateFault::TooLarge { limit });
    }
    Ok(len)
}

/// Reads at most `limit + 1` bytes through `reader`, keeping none of them.
fn count(reader: impl Read, limit: u64) -> std::io::Result<u64> {
    std::io::copy(
        &mut reader.take(limit.saturating_add(1)),
        &mut std::io::sink(),
    )
}

/// Snappy says each block's inflated length up front.
fn snappy_len(records: &[u8]) -> Result<u64, InflateFault> {
    let invalid = |reason: String| InflateFault::Invalid {
        codec: "snappy",
        reason,
    };
    let block_len = |block: &[u8]| {
        snap::raw::decompress_len(block)
            .map(|n| n as u64)
            .map_err(|e| invalid(e.to_string()))
    };
    if !records.starts_with(XERIAL_MAGIC) {
        return block_len(records);
    }
    let mut rest = records
        .get(XERIAL_HEADER..)
        .ok_or_else(|| invalid("a xerial header cut short".to_owned()))?;
    let mut total = 0u64;
    while !rest.is_empty() {
        let (len, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| invalid("a xerial block length cut short".to_owned()))?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = after
            .get(..len)
            .ok_or_else(|| invalid("a xerial block cut short".to_owned()))?;
        total += block_len(block)?;
        rest = &after[len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn each_codec_is_measured() {
        let data = vec![b'x'; 100_000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(inflated_len(GZIP, &gz, 1 << 20), Ok(100_000));

        let zst = zstd::encode_all(&data[..], 1).unwrap();
        assert_eq!(inflated_len(ZSTD, &zst, 1 << 20), Ok(100_000));

        let snappy = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(inflated_len(SNAPPY, &snappy, 1 << 20), Ok(100_000));
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for _ in 0..2 {
            xerial.extend_from_slice(&(snappy.len() as u32).to_be_bytes());
            xerial.extend_from_slice(&snappy);
        }
        assert_eq!(inflated_len(SNAPPY, &xerial, 1 << 20), Ok(200_000));

        let mut lz = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
        lz.write_all(&data).unwrap();
        let (lz, done) = lz.finish();
        done.unwrap();
        assert_eq!(inflated_len(LZ4, &lz, 1 << 20), Ok(100_000));
    }

    #[test]
    fn a_bomb_is_refused_without_inflating_it_all() {
        // 1 GiB of zeros is about 32 KiB of zstd.
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            encoder.write_all(&zeros).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 100_000, "{} bytes", bomb.len());
        assert_eq!(
            inflated_len(ZSTD, &bomb, 32 << 20),
            Err(InflateFault::TooLarge { limit: 32 << 20 })
        );
    }

    #[test]
    fn garbage_is_invalid() {
        assert!(matches!(
            inflated_len(ZSTD, b"not zstd at all", 1 << 20),
            Err(InflateFault::Invalid { codec: "zstd", .. })
        ));
        assert_eq!(
            inflated_len(7, b"", 1 << 20),
            Err(InflateFault::UnknownCodec(7))
        );
    }
}
