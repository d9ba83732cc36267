//! The checks a new plugin version passes before it may replace the running
//! one, in order: it compiles; it targets the `sluice:plugin@0.1.0` world
//! and describes itself (name, version, tables whose schemas parse); every
//! pipeline using it keeps its tables, each only gaining columns, against
//! both the running schema and the one recorded in the lake; and a dry run
//! beside the running version on the pipeline's recent events does not trap
//! or fail most events. All of it runs off the pipelines' threads.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::lake::Lake;
use crate::pipeline::{PipelineHooks, check_lake_schema, check_replacement};
use crate::plugin::{EventBatch, Plugin, PluginChain, PluginDiff, PluginEngine, diff};
use crate::schema::Schema;

/// Examples of each kind of change a dry run keeps.
const DRY_RUN_EXAMPLES: usize = 3;

/// A pipeline that runs the plugin being replaced.
#[derive(Clone)]
pub(super) struct User {
    pub(super) hooks: Arc<PipelineHooks>,
    /// The plugin's place in the pipeline's chain.
    pub(super) index: usize,
    /// The pipeline's tables with their current schemas.
    pub(super) tables: HashMap<Arc<str>, Schema>,
}

/// What validation found: the plugin, and the dry run of the last pipeline
/// that had recent events.
pub(super) struct Validated {
    pub(super) plugin: Plugin,
    pub(super) dry_run: Option<PluginDiff>,
}

pub(super) fn validate(
    engine: &PluginEngine,
    lake: &Lake,
    runtime: &Handle,
    name: &str,
    bytes: &[u8],
    users: &[User],
) -> Result<Validated, String> {
    let plugin = Plugin::load(engine, bytes, &format!("{name}.wasm")).map_err(|e| e.to_string())?;
    for user in users {
        let pipeline = user.hooks.pipeline();
        check_replacement(pipeline, &user.tables, &plugin).map_err(|e| e.to_string())?;
        for t in plugin.tables() {
            runtime
                .block_on(check_lake_schema(lake, pipeline, &t.name, &t.schema))
                .map_err(|e| e.to_string())?;
        }
    }
    let mut dry_run = None;
    for user in users {
        let chain = user.hooks.wanted();
        let sample = user.hooks.recent_events();
        if sample.is_empty() {
            continue;
        }
        let Some(input) = stage_input(&chain[..user.index], &sample) else {
            continue;
        };
        let report = diff(&chain[user.index], &plugin, &input, DRY_RUN_EXAMPLES);
        if let Some(reason) = report.refusal() {
            return Err(format!("pipeline `{}`: {reason}", user.hooks.pipeline()));
        }
        dry_run = Some(report);
    }
    Ok(Validated { plugin, dry_run })
}

/// The events the plugin at a chain position sees: the sample run through
/// the plugins before it. `None` if those fail (the chain would pause).
fn stage_input(before: &[Plugin], sample: &EventBatch) -> Option<EventBatch> {
    if before.is_empty() {
        return Some(sample.slice(0..sample.len()));
    }
    let mut chain = PluginChain::new(before.to_vec());
    let out = chain.process(sample).ok()?;
    let mut input = EventBatch::with_capacity(out.survivors.len(), sample.bytes());
    for s in &out.survivors {
        input.push(out.json(s), s.meta);
    }
    Some(input)
}
