//! Every metric sluice records, in one place: its name, what it measures
//! and its labels. The parts record with the `metrics` macros under these
//! names; `http/metrics.rs` renders them as Prometheus text on `/metrics`.

// The game API (labels: none).
/// Events Kafka acknowledged for the game API.
pub const API_EVENTS_LOGGED: &str = "sluice_api_events_logged_total";
/// Events Kafka did not acknowledge in time (answered 503).
pub const API_EVENTS_FAILED: &str = "sluice_api_events_failed_total";

// The Kafka source.
/// Records consumed (labels: none).
pub const SOURCE_EVENTS: &str = "sluice_source_events_total";
/// Records past the committed offset, per owned partition (labels: topic,
/// partition), from librdkafka's statistics.
pub const CONSUMER_LAG: &str = "sluice_consumer_lag";

// A pipeline (labels: pipeline).
/// Events a pipeline took in.
pub const EVENTS_IN: &str = "sluice_events_in_total";
/// Events its plugins dropped (filtered out).
pub const EVENTS_DROPPED: &str = "sluice_events_dropped_total";
/// Events that became dead letters.
pub const DEAD_LETTERS: &str = "sluice_dead_letters_total";
/// 1 while the pipeline is paused on a failing plugin, else 0.
pub const PIPELINE_PAUSED: &str = "sluice_pipeline_paused";
/// Rows written, per table (labels: pipeline, table).
pub const ROWS: &str = "sluice_rows_total";
/// Files committed, per table (labels: pipeline, table).
pub const FILES: &str = "sluice_files_total";

// A pipeline's plugins (labels: pipeline, plugin).
pub const PLUGIN_EVENTS_IN: &str = "sluice_plugin_events_in_total";
pub const PLUGIN_EVENTS_FAILED: &str = "sluice_plugin_events_failed_total";
pub const PLUGIN_EVENTS_DROPPED: &str = "sluice_plugin_events_dropped_total";
pub const PLUGIN_BUSY_SECONDS: &str = "sluice_plugin_busy_seconds_total";
/// Compiled plugin versions alive in the process (labels: none): hot
/// loading must let go of the versions it replaced.
pub const PLUGIN_VERSIONS_LIVE: &str = "sluice_plugin_versions_live";

// The lake (labels: table).
/// From a file's sealing to its commit.
pub const FLUSH_SECONDS: &str = "sluice_flush_seconds";
/// Writing one data file to the store.
pub const FILE_WRITE_SECONDS: &str = "sluice_file_write_seconds";
/// One Delta commit (the files' `add`s and the `txn`s).
pub const COMMIT_SECONDS: &str = "sluice_commit_seconds";
