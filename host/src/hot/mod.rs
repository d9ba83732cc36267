//! Hot loading: plugins replaced while events flow.
//!
//! In: new plugin versions, from the watched plugin folder (`watch.rs`) or
//! an upload (`PUT /plugins/<name>`, served by [`crate::http`]), and
//! rollbacks. Each is validated off the hot path (`validate.rs`): compiled,
//! checked against the contract and described; its tables checked against
//! the running pipeline's and the lake's; and dry-run beside the running
//! version on recent events. Out: a validated version handed to every
//! pipeline using it ([`crate::pipeline::PipelineHooks::swap`]), which swaps
//! it in between two batches, so each event is processed by exactly one
//! version and each file's footer names the versions that wrote it. The
//! versions that were live are kept in `<plugin_dir>/.history/<name>/`
//! (`history.rs`) for rollbacks. A version that fails never replaces the
//! running one; the reason is logged and shown by `GET /plugins`.

mod history;
mod registry;
mod validate;
mod watch;

pub use registry::{Accepted, HotError, PluginInfo, PluginRegistry};
