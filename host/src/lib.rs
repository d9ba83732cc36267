//! sluice: a WebAssembly-plugin stream processor for game telemetry.
//!
//! Each folder is one part of the pipeline:
//! - [`plugin`]: the sandboxed plugin runtime and plugin chains;
//! - [`schema`]: Hive-style table schemas;
//! - [`commands`]: the `sluice` command line.

pub mod commands;
pub mod config;
pub mod plugin;
pub mod schema;
pub mod source;
