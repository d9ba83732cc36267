//! Errors of the plugin runtime. Each names the plugin file and what to do.

use crate::schema::SchemaError;

/// Why a plugin could not be loaded. The message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin `{origin}`: {source}")]
    Read {
        origin: String,
        source: std::io::Error,
    },
    #[error(
        "plugin `{origin}` is not a WebAssembly component: {cause}; build it for wasm32-wasip2 (`sluice plugin build`)"
    )]
    NotAComponent { origin: String, cause: String },
    #[error(
        "plugin `{origin}` is not a sluice plugin: {cause}; it must target the `sluice:plugin/plugin@0.1.0` world"
    )]
    WrongWorld { origin: String, cause: String },
    #[error("plugin `{origin}` failed in describe(): {reason}")]
    Describe { origin: String, reason: String },
    #[error(
        "plugin `{origin}` ({name}) describes table `{table}` with a schema that does not parse: {problem}"
    )]
    Schema {
        origin: String,
        name: String,
        table: String,
        problem: Box<SchemaError>,
    },
    #[error("plugin `{origin}` describes itself wrongly: {reason}")]
    Invalid { origin: String, reason: String },
    #[error("cannot set up the plugin engine: {0}")]
    Engine(String),
}

/// A whole chain stops: a plugin fails most events of several batches in a
/// row, which looks like a broken deploy rather than bad events.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    #[error(
        "plugin `{plugin}` {version} is failing: {failed} of {events} events failed in each of the last {batches} batches (last reason: {last_reason}); \
         the pipeline is paused until a new version or a rollback is loaded"
    )]
    PluginFailing {
        plugin: String,
        version: String,
        failed: usize,
        events: usize,
        batches: u32,
        last_reason: String,
    },
}
