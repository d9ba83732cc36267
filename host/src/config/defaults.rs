//! Every default in one place: what `sluice serve` does with no config file,
//! which is what the reference stack did — the `events` topic, a local lake,
//! and its Spark jobs as two pipelines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{FlushConfig, LakeConfig, LimitsConfig, PipelineConfig, SourceConfig, TableConfig};

pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
pub const DEFAULT_TOPIC: &str = "events";

/// The example config shipped in the repository, checked by a test.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../sluice.example.toml");

pub(super) fn brokers() -> String {
    DEFAULT_BROKERS.to_string()
}

pub(super) fn topics() -> Vec<String> {
    vec![DEFAULT_TOPIC.to_string()]
}

pub(super) fn group() -> String {
    "sluice".to_string()
}

pub(super) fn lake_url() -> String {
    "./lake".to_string()
}

pub(super) fn compact_every() -> String {
    "10m".to_string()
}

pub(super) fn vacuum_retention() -> String {
    "7d".to_string()
}

pub(super) fn plugin_dir() -> PathBuf {
    PathBuf::from("./data/plugins")
}

pub(super) fn flush_rows() -> usize {
    1_000_000
}

pub(super) fn flush_bytes() -> usize {
    128 << 20
}

pub(super) fn flush_seconds() -> f64 {
    10.0
}

pub(super) fn batch_size() -> usize {
    1024
}

pub(super) fn max_event_bytes() -> usize {
    1 << 20
}

pub(super) fn plugin_memory_mib() -> usize {
    64
}

pub(super) fn plugin_deadline_ms() -> u64 {
    1000
}

pub(super) fn plugin_max_events_per_event() -> u32 {
    crate::plugin::SandboxLimits::default().max_events_per_event
}

pub(super) fn plugin_max_events_per_call() -> usize {
    crate::plugin::SandboxLimits::default().max_events_per_call
}

/// The reference stack's jobs: `stream_*_events.py` became the `game_events`
/// router; `filtered_writes.py`'s sword purchases became `is_purchase`.
pub(super) fn pipelines() -> Vec<PipelineConfig> {
    vec![
        PipelineConfig {
            name: "game_events".into(),
            plugins: vec!["game_events".into()],
            table: None,
        },
        PipelineConfig {
            name: "is_purchase".into(),
            plugins: vec!["is_purchase".into()],
            table: Some(TableConfig {
                name: "sword_purchases".into(),
                schema: SWORD_PURCHASES_SCHEMA.into(),
            }),
        },
    ]
}

/// The columns `filtered_writes.py` wrote for sword purchases.
pub const SWORD_PURCHASES_SCHEMA: &str = "accept string, host string, user_agent string, event_type string, event_id string, description string";

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            brokers: brokers(),
            topics: topics(),
            group: group(),
            incarnation: 0,
        }
    }
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            url: lake_url(),
            compact_every: compact_every(),
            vacuum_retention: vacuum_retention(),
        }
    }
}

impl Default for FlushConfig {
    fn default() -> Self {
        FlushConfig {
            rows: flush_rows(),
            bytes: flush_bytes(),
            seconds: flush_seconds(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            batch_size: batch_size(),
            max_event_bytes: max_event_bytes(),
            plugin_memory_mib: plugin_memory_mib(),
            plugin_deadline_ms: plugin_deadline_ms(),
            plugin_max_events_per_event: plugin_max_events_per_event(),
            plugin_max_events_per_call: plugin_max_events_per_call(),
        }
    }
}

pub(super) fn broker_flush() -> String {
    crate::broker::FlushPolicy::default().to_string()
}

pub(super) fn broker_retention() -> String {
    "7d".to_string()
}

pub(super) fn broker_retention_bytes() -> i64 {
    -1
}

pub(super) fn broker_segment_bytes() -> u64 {
    crate::broker::TopicConfig::default().segment_bytes
}

pub(super) fn broker_max_message_bytes() -> u64 {
    crate::broker::TopicConfig::default().max_message_bytes
}

pub(super) fn broker_retention_check() -> String {
    "5m".to_string()
}

pub(super) fn query_timeout_seconds() -> f64 {
    30.0
}

pub(super) fn query_max_rows() -> usize {
    10_000
}

pub(super) fn query_memory_mib() -> usize {
    1024
}

pub(super) fn query_concurrent() -> usize {
    4
}

pub(super) fn query_threads() -> usize {
    2
}

pub(super) fn query_max_output_mib() -> usize {
    64
}

/// The reference's Presto queries used `join_guilds`; its rows are the
/// `join_guild` events of `events_guild`.
pub(super) fn views() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "join_guilds".to_string(),
        "SELECT * FROM events_guild WHERE event_type = 'join_guild'".to_string(),
    )])
}
