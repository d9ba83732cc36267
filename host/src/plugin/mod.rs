//! The plugin runtime: loads user plugins (WebAssembly components of the
//! `sluice:plugin@0.1.0` world), runs them sandboxed over batches of events,
//! and chains them.
//!
//! In: an [`EventBatch`] of JSON events with their Kafka metadata.
//! Out: a [`ChainOutput`]: the surviving events with the table each goes to,
//! the dead letters with their reasons, and a count of dropped events.
//!
//! A plugin is compiled once ([`Plugin::load`]) and instantiated from its
//! cached `InstancePre`. It has no files, network, environment or real clock;
//! it has a memory cap and a CPU deadline per batch. A trap costs only the
//! events that cause it (see `runner`).

mod batch;
mod bindings;
mod chain;
mod clocks;
mod diff;
mod engine;
mod error;
mod guest_log;
mod loaded;
mod runner;
mod sandbox;
mod stdio;
mod trap;

pub use batch::{EventBatch, EventMeta};
pub use chain::{ChainOutput, PluginChain, PluginFailure, Survivor};
pub use diff::{Change, DiffExample, PluginDiff, diff};
pub use engine::{PluginEngine, SandboxLimits};
pub use error::{ChainError, LoadError};
pub use loaded::{Plugin, PluginTable, content_hash};
pub use runner::{NewEvents, PluginRunner, PluginStats, RunResult, Verdict, check_json_object};
