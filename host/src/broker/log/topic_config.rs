//! A topic's log settings, under Kafka's own config names, so `kafka-configs`,
//! kafkajs' admin client or confluent-kafka's `AdminClient` set them as they
//! would on Kafka: broker-wide defaults (`sluice broker` flags and the
//! config file's `[broker]` table), overridden per topic at creation or by
//! `IncrementalAlterConfigs`.

use std::collections::BTreeMap;
use std::time::Duration;

/// Kafka's defaults, but for retention, which is 7 days as on Kafka.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;
pub const DEFAULT_SEGMENT_MS: i64 = 7 * 24 * 3600 * 1000;
/// The largest record batch a producer may send. Kafka's default is 1 MB;
/// the embedded broker takes 8 MiB, so an event too large for a pipeline
/// (`max_event_bytes`, 1 MiB) still reaches it and becomes a dead letter
/// with its reason instead of a producer error. With KIP-74 fetches a large
/// batch never stalls its partition.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 8 << 20;

/// Kafka's smallest segment: a segment must hold at least a batch header.
const MIN_SEGMENT_BYTES: u64 = 14;

/// The config names the embedded broker knows.
pub const RETENTION_MS: &str = "retention.ms";
pub const RETENTION_BYTES: &str = "retention.bytes";
pub const SEGMENT_BYTES: &str = "segment.bytes";
pub const SEGMENT_MS: &str = "segment.ms";
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const CLEANUP_POLICY: &str = "cleanup.policy";
const NAMES: [&str; 6] = [
    RETENTION_MS,
    RETENTION_BYTES,
    SEGMENT_BYTES,
    SEGMENT_MS,
    MAX_MESSAGE_BYTES,
    CLEANUP_POLICY,
];

/// How the log of a topic's partitions is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicConfig {
    /// Closed segments whose newest record is older than this are deleted;
    /// -1 keeps them for ever.
    pub retention_ms: i64,
    /// Oldest closed segments are deleted while a partition is larger; -1: no limit.
    pub retention_bytes: i64,
    /// A segment is closed (and a new one started) past this size...
    pub segment_bytes: u64,
    /// ...or this long after its first record.
    pub segment_ms: i64,
    /// The largest record batch a produce may carry.
    pub max_message_bytes: u64,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            retention_ms: DEFAULT_RETENTION.as_millis() as i64,
            retention_bytes: -1,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_ms: DEFAULT_SEGMENT_MS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// A config a topic cannot take, with Kafka's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigFault {
    #[error("unknown topic config `{name}`; the embedded broker knows {}", NAMES.join(", "))]
    Unknown { name: String },
    #[error("`{name}` = `{value}`: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: &'static str,
    },
}

impl TopicConfig {
    /// `self` (the broker's defaults) with a topic's own settings applied.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, ConfigFault> {
        let mut config = *self;
        for (name, value) in overrides {
            config.set(name, value)?;
        }
        Ok(config)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigFault> {
        let invalid = |reason| ConfigFault::Invalid {
            name: name.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let long = |min: i64| -> Result<i64, ConfigFault> {
            value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= min)
                .ok_or_else(|| {
                    invalid(if min < 0 {
                        "a whole number, -1 or more"
                    } else {
                        "a whole number, 1 or more"
                    })
                })
        };
        match name {
            RETENTION_MS => self.retention_ms = long(-1)?,
            RETENTION_BYTES => self.retention_bytes = long(-1)?,
            SEGMENT_MS => self.segment_ms = long(1)?,
            SEGMENT_BYTES => {
                let bytes = long(MIN_SEGMENT_BYTES as i64)?;
                if bytes > i64::from(i32::MAX) {
                    return Err(invalid(
                        "at most 2147483647 (a segment's positions are 32-bit)",
                    ));
                }
                self.segment_bytes = bytes as u64;
            }
            MAX_MESSAGE_BYTES => {
                let bytes = long(0)?;
                if bytes > i64::from(i32::MAX) {
                    return Err(invalid("at most 2147483647"));
                }
                self.max_message_bytes = bytes as u64;
            }
            CLEANUP_POLICY => {
                if value.trim() != "delete" {
                    return Err(invalid(
                        "only `delete` is supported: the embedded broker does not compact",
                    ));
                }
            }
            _ => {
                return Err(ConfigFault::Unknown {
                    name: name.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Every known setting as `DescribeConfigs` shows it: name, value, and
    /// whether the topic sets it itself.
    pub fn describe(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<(&'static str, String, bool)> {
        NAMES
            .iter()
            .map(|name| {
                let value = match *name {
                    RETENTION_MS => self.retention_ms.to_string(),
                    RETENTION_BYTES => self.retention_bytes.to_string(),
                    SEGMENT_BYTES => self.segment_bytes.to_string(),
                    SEGMENT_MS => self.segment_ms.to_string(),
                    MAX_MESSAGE_BYTES => self.max_message_bytes.to_string(),
                    _ => "delete".to_owned(),
                };
                (*name, value, overrides.contains_key(*name))
            })
            .collect()
    }

    /// These settings under their Kafka names, as a topic's own configs.
    pub fn as_overrides(&self) -> BTreeMap<String, String> {
        self.describe(&BTreeMap::new())
            .into_iter()
            .filter(|(name, _, _)| *name != CLEANUP_POLICY)
            .map(|(name, value, _)| (name.to_owned(), value))
            .collect()
    }

    /// The most a compressed batch may inflate to: beyond this it is a
    /// decompression bomb, refused at produce. JSON compresses 5 to 10
    /// times; 16 leaves room for that and refuses the gigabytes of zeros.
    pub fn max_inflated_bytes(&self) -> u64 {
        self.max_message_bytes.saturating_mul(16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kafka_names_override_the_defaults() {
        let config = TopicConfig::default()
            .with_overrides(&overrides(&[
                (RETENTION_MS, "60000"),
                (RETENTION_BYTES, "1048576"),
                (SEGMENT_BYTES, "4096"),
                (MAX_MESSAGE_BYTES, "10485760"),
                (CLEANUP_POLICY, "delete"),
            ]))
            .unwrap();
        assert_eq!(config.retention_ms, 60_000);
        assert_eq!(config.retention_bytes, 1_048_576);
        assert_eq!(config.segment_bytes, 4096);
        assert_eq!(config.max_message_bytes, 10 << 20);
        assert_eq!(config.segment_ms, DEFAULT_SEGMENT_MS);
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        for (name, value, says) in [
            (SEGMENT_BYTES, "10", "whole number"),
            (RETENTION_MS, "soon", "whole number"),
            (CLEANUP_POLICY, "compact", "does not compact"),
            (SEGMENT_BYTES, "4294967296", "32-bit"),
        ] {
            let error = TopicConfig::default()
                .with_overrides(&overrides(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(error.contains(name) && error.contains(says), "{error}");
        }
        let error = TopicConfig::default()
            .with_overrides(&overrides(&[("min.compaction.lag.ms", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("retention.ms"),
            "names what is known: {error}"
        );
    }
}
