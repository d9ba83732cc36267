//! The configuration file: where events come from (Kafka), where tables go
//! (the lake), and the pipelines in between. TOML, with every setting
//! defaulted so `sluice serve` runs the example pipelines with no file at
//! all. Unknown keys are errors, so a typo never silently means "default".
//!
//! In: a path (or nothing). Out: a checked [`Config`].

mod defaults;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::schema::Schema;

pub use defaults::{DEFAULT_BROKERS, DEFAULT_TOPIC, EXAMPLE_CONFIG};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub source: SourceConfig,
    #[serde(default)]
    pub lake: LakeConfig,
    #[serde(default)]
    pub flush: FlushConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Where plugins named by bare name (`"is_purchase"`) are found, as
    /// `<plugin_dir>/<name>.wasm`.
    #[serde(default = "defaults::plugin_dir")]
    pub plugin_dir: PathBuf,
    #[serde(default = "defaults::pipelines", rename = "pipeline")]
    pub pipelines: Vec<PipelineConfig>,
    #[serde(default)]
    pub query: QueryConfig,
    #[serde(default)]
    pub broker: BrokerSection,
    /// SQL views over the tables, name → query: how old table names (the
    /// reference's `join_guilds`) keep working.
    #[serde(default = "defaults::views")]
    pub views: BTreeMap<String, String>,
}

/// The limits of the SQL endpoint (`POST /query`, `sluice sql`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// A query's time, from arrival to its last row.
    #[serde(default = "defaults::query_timeout_seconds")]
    pub timeout_seconds: f64,
    /// Rows returned; more are cut and flagged `truncated`.
    #[serde(default = "defaults::query_max_rows")]
    pub max_rows: usize,
    /// The memory pool all queries share.
    #[serde(default = "defaults::query_memory_mib")]
    pub memory_mib: usize,
    /// Queries running at once; the rest wait.
    #[serde(default = "defaults::query_concurrent")]
    pub concurrent: usize,
    /// Threads queries run on, apart from the pipelines'.
    #[serde(default = "defaults::query_threads")]
    pub threads: usize,
    /// Bytes one answer, or one batch of a growing function's output
    /// (`repeat`, `lpad`, `range`…), may take; past it the query fails.
    #[serde(default = "defaults::query_max_output_mib")]
    pub max_output_mib: usize,
}

impl Default for QueryConfig {
    fn default() -> QueryConfig {
        toml::from_str("").expect("the empty [query] is valid")
    }
}

/// How the embedded broker (`sluice broker`, and `sluice serve` when no
/// Kafka is named) keeps its log; `sluice broker` flags override these.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    /// When the log is synced to disk: `request` (before each produce is
    /// acknowledged), an interval such as `1s`, or `never` (the OS decides).
    #[serde(default = "defaults::broker_flush")]
    pub flush: String,
    /// Closed segments whose records are all older than this are deleted
    /// (`7d`, `12h`, or `forever`): Kafka's `retention.ms`.
    #[serde(default = "defaults::broker_retention")]
    pub retention: String,
    /// A partition's oldest segments are deleted while it is larger; -1: no
    /// limit. Kafka's `retention.bytes`.
    #[serde(default = "defaults::broker_retention_bytes")]
    pub retention_bytes: i64,
    /// A segment is closed past this size (Kafka's `segment.bytes`).
    #[serde(default = "defaults::broker_segment_bytes")]
    pub segment_bytes: u64,
    /// The largest record batch a producer may send (Kafka's `max.message.bytes`).
    #[serde(default = "defaults::broker_max_message_bytes")]
    pub max_message_bytes: u64,
    /// How often retention runs (Kafka's `log.retention.check.interval.ms`).
    #[serde(default = "defaults::broker_retention_check")]
    pub retention_check: String,
}

impl Default for BrokerSection {
    fn default() -> BrokerSection {
        toml::from_str("").expect("the empty [broker] is valid")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    #[serde(default = "defaults::brokers")]
    pub brokers: String,
    #[serde(default = "defaults::topics")]
    pub topics: Vec<String>,
    /// The consumer group; processes in one group split the partitions.
    #[serde(default = "defaults::group")]
    pub group: String,
    /// Which life of the topics the tables' progress belongs to. Raise it
    /// by one after the topics were recreated or restored (their offsets
    /// started again): sluice refuses to start until then, as it cannot
    /// tell new events from old ones otherwise.
    #[serde(default)]
    pub incarnation: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// `file:///abs/path`, a plain path, or `hdfs://namenode:8020/path`.
    #[serde(default = "defaults::lake_url")]
    pub url: String,
    /// How often a pipeline process merges its tables' small files (`10m`;
    /// `off` turns it off).
    #[serde(default = "defaults::compact_every")]
    pub compact_every: String,
    /// Files no version this recent names are deleted, once a day (Delta's
    /// default, `7d`; `off` keeps every file).
    #[serde(default = "defaults::vacuum_retention")]
    pub vacuum_retention: String,
}

impl LakeConfig {
    /// `[lake] compact_every`, `None` when off.
    pub fn compact_every(&self) -> Result<Option<Duration>, ConfigError> {
        duration_or_off("lake.compact_every", &self.compact_every)
    }

    /// `[lake] vacuum_retention`, `None` when off.
    pub fn vacuum_retention(&self) -> Result<Option<Duration>, ConfigError> {
        duration_or_off("lake.vacuum_retention", &self.vacuum_retention)
    }
}

fn duration_or_off(name: &str, text: &str) -> Result<Option<Duration>, ConfigError> {
    match text.trim() {
        "off" => Ok(None),
        other => humantime::parse_duration(other)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Some)
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "{name} = `{text}`: a duration such as `10m`, or `off`"
                ))
            }),
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlushConfig {
    /// A file is closed at this many rows...
    #[serde(default = "defaults::flush_rows")]
    pub rows: usize,
    /// ...or when a pipeline's open files together hold this many bytes
    /// in memory (the largest is closed)...
    #[serde(default = "defaults::flush_bytes")]
    pub bytes: usize,
    /// ...or when its oldest row is this old, so a quiet table still becomes
    /// queryable (10 s, the reference Spark jobs' trigger).
    #[serde(default = "defaults::flush_seconds")]
    pub seconds: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Events per plugin call.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Larger events are dead letters (keeping their first 64 KiB).
    #[serde(default = "defaults::max_event_bytes")]
    pub max_event_bytes: usize,
    /// Linear memory cap per plugin instance.
    #[serde(default = "defaults::plugin_memory_mib")]
    pub plugin_memory_mib: usize,
    /// CPU deadline per plugin call.
    #[serde(default = "defaults::plugin_deadline_ms")]
    pub plugin_deadline_ms: u64,
    /// Events a plugin may return for one input event; more make that
    /// event a dead letter.
    #[serde(default = "defaults::plugin_max_events_per_event")]
    pub plugin_max_events_per_event: u32,
    /// New events a plugin may return from one call; the input events
    /// whose replacements pass it are dead letters.
    #[serde(default = "defaults::plugin_max_events_per_call")]
    pub plugin_max_events_per_call: usize,
}

/// One pipeline: a plugin chain and the tables it writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Lower snake case; names the dead-letter folder `_dead_letters/pipeline=<name>`.
    pub name: String,
    /// Plugin names (found in `plugin_dir`) or paths to `.wasm` files, run in order.
    pub plugins: Vec<String>,
    /// Where events no router placed go. Without it they are dropped (counted).
    #[serde(default)]
    pub table: Option<TableConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    pub name: String,
    /// Hive-style column list, as a router declares its tables.
    pub schema: String,
}

/// A configuration that cannot run, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config `{path}` is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

impl Default for Config {
    fn default() -> Config {
        toml::from_str("").expect("the empty config is valid")
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        config.check()?;
        Ok(config)
    }

    /// The rules no type can express: unique names, valid schemas, sane numbers.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.pipelines.is_empty() {
            return invalid("no [[pipeline]]: add at least one".into());
        }
        if self.source.topics.is_empty() {
            return invalid("source.topics is empty: name at least one topic".into());
        }
        let mut tables: Vec<(&str, &str)> = Vec::new();
        for (i, p) in self.pipelines.iter().enumerate() {
            if !is_snake_case(&p.name) {
                return invalid(format!(
                    "pipeline name `{}` must be lower snake case",
                    p.name
                ));
            }
            if self.pipelines[..i].iter().any(|q| q.name == p.name) {
                return invalid(format!("pipeline `{}` is defined twice", p.name));
            }
            if p.plugins.is_empty() && p.table.is_none() {
                return invalid(format!("pipeline `{}` has no plugins and no table", p.name));
            }
            if let Some(t) = &p.table {
                if !is_snake_case(&t.name) || t.name.starts_with('_') {
                    return invalid(format!(
                        "table name `{}` in pipeline `{}` must be lower snake case, not starting with `_`",
                        t.name, p.name
                    ));
                }
                if let Err(e) = Schema::parse(&t.schema) {
                    return invalid(format!("table `{}` in pipeline `{}`: {e}", t.name, p.name));
                }
                if let Some((_, other)) = tables.iter().find(|(name, _)| *name == t.name) {
                    return invalid(format!(
                        "table `{}` is written by pipelines `{other}` and `{}`; a table belongs to one pipeline",
                        t.name, p.name
                    ));
                }
                tables.push((&t.name, &p.name));
            }
        }
        if self.flush.rows == 0
            || self.flush.bytes == 0
            || self.flush.seconds.is_nan()
            || self.flush.seconds <= 0.0
        {
            return invalid("flush.rows, flush.bytes and flush.seconds must be positive".into());
        }
        self.lake.compact_every()?;
        self.lake.vacuum_retention()?;
        if self.limits.batch_size == 0 || self.limits.max_event_bytes == 0 {
            return invalid("limits.batch_size and limits.max_event_bytes must be positive".into());
        }
        let q = &self.query;
        if q.timeout_seconds.is_nan()
            || q.timeout_seconds <= 0.0
            || q.max_rows == 0
            || q.memory_mib == 0
            || q.concurrent == 0
            || q.threads == 0
        {
            return invalid("every [query] limit must be positive".into());
        }
        for name in self.views.keys() {
            if !is_snake_case(name) || name.starts_with('_') {
                return invalid(format!(
                    "view name `{name}` must be lower snake case, not starting with `_`"
                ));
            }
            if tables.iter().any(|(table, _)| table == name) {
                return invalid(format!("view `{name}` has the name of a table"));
            }
        }
        Ok(())
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_secs_f64(self.flush.seconds)
    }

    /// Where a pipeline's plugin comes from: a path if it looks like one,
    /// else `<plugin_dir>/<name>.wasm`.
    pub fn plugin_path(&self, plugin: &str) -> PathBuf {
        if plugin.ends_with(".wasm") || plugin.contains('/') {
            PathBuf::from(plugin)
        } else {
            self.plugin_dir.join(format!("{plugin}.wasm"))
        }
    }
}

fn is_snake_case(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests;
