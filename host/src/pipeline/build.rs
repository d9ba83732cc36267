//! From configuration to running pipelines: load each pipeline's plugins,
//! gather the tables its routers declare plus its default table, and check
//! that every table belongs to exactly one pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, PipelineConfig};
use crate::lake::{Lake, LakeError, LakeWriter, TableDir};
use crate::plugin::{ChainError, LoadError, Plugin, PluginChain, PluginEngine};
use crate::schema::{EvolutionError, Schema};
use crate::table::{DecodeLimits, TableDecoder, TableError};

use super::durable::Consumed;
use super::hooks::PipelineHooks;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("pipeline `{pipeline}`: {source}")]
    Plugin {
        pipeline: String,
        #[source]
        source: LoadError,
    },
    #[error("pipeline `{pipeline}`: {message}")]
    Tables { pipeline: String, message: String },
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    PluginFailing(#[from] ChainError),
    #[error(
        "pipeline `{pipeline}`: table `{table}` already holds files with another schema: {change}. Give the changed table a new name, or move its folder (with its `_delta_log`) away"
    )]
    SchemaChange {
        pipeline: String,
        table: String,
        change: EvolutionError,
    },
    #[error(
        "pipeline `{pipeline}`: table `{table}`: the schema recorded in its Delta log (`sluice.schema`) does not parse ({problem}): `{recorded}`"
    )]
    RecordedSchema {
        pipeline: String,
        table: String,
        recorded: String,
        problem: String,
    },
}

/// One table of a pipeline: where it lives and how its rows are decoded.
pub(super) struct TableSink {
    pub(super) dir: TableDir,
    pub(super) decoder: TableDecoder,
    pub(super) schema: Schema,
    /// The Hive column list, stored in every file's metadata.
    pub(super) schema_text: String,
}

/// A pipeline ready to run: call [`super::spawn`] to put it on a thread.
pub struct Pipeline {
    pub(super) index: usize,
    pub(super) name: Arc<str>,
    pub(super) chain: PluginChain,
    pub(super) hooks: Arc<PipelineHooks>,
    pub(super) default_table: Option<Arc<str>>,
    pub(super) tables: HashMap<Arc<str>, TableSink>,
    pub(super) dead_letters: TableDir,
    pub(super) writer: LakeWriter,
    pub(super) limits: DecodeLimits,
    pub(super) consumed: Consumed,
}

impl Pipeline {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every table this pipeline writes, with its schema.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tables
            .iter()
            .map(|(name, sink)| (&**name, sink.schema_text.as_str()))
    }

    /// What this pipeline shares with hot loading.
    pub fn hooks(&self) -> &Arc<PipelineHooks> {
        &self.hooks
    }

    /// Every table with its parsed schema.
    pub fn table_schemas(&self) -> HashMap<Arc<str>, Schema> {
        self.tables
            .iter()
            .map(|(name, sink)| (name.clone(), sink.schema.clone()))
            .collect()
    }

    /// Takes on the table schemas of `plugin`, a replacement that passed
    /// [`check_replacement`]: a table whose schema grew gets a new decoder,
    /// and its next rows start a new file (the writer seals on a schema
    /// change).
    pub(super) fn adopt_tables(&mut self, plugin: &Plugin) -> Result<(), PipelineError> {
        for t in plugin.tables() {
            let Some(sink) = self.tables.get_mut(&t.name) else {
                continue;
            };
            if sink.schema == t.schema {
                continue;
            }
            sink.decoder = TableDecoder::new(&t.name, &t.schema, self.limits)?;
            sink.schema = t.schema.clone();
            sink.schema_text = t.schema.to_string();
        }
        Ok(())
    }

    /// The plugins of the chain, in order.
    pub fn plugins(&self) -> impl Iterator<Item = &Plugin> {
        self.chain.plugins()
    }
}

/// Builds every configured pipeline; fails on the first plugin that does not
/// load or table that is claimed twice, naming both.
pub fn build_pipelines(
    config: &Config,
    engine: &PluginEngine,
    writer: impl Fn(&str) -> LakeWriter,
) -> Result<Vec<Pipeline>, PipelineError> {
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut pipelines = Vec::with_capacity(config.pipelines.len());
    for (index, pc) in config.pipelines.iter().enumerate() {
        let pipeline = build_one(config, pc, index, engine, writer(&pc.name))?;
        for (table, _) in pipeline.tables() {
            if let Some(other) = owners.insert(table.to_string(), pc.name.clone()) {
                return Err(PipelineError::Tables {
                    pipeline: pc.name.clone(),
                    message: format!(
                        "table `{table}` is also written by pipeline `{other}`; a table belongs to one pipeline"
                    ),
                });
            }
        }
        pipelines.push(pipeline);
    }
    Ok(pipelines)
}

/// Checks each table's schema against the one recorded in its Delta log
/// in the lake: a table may gain columns, but a column may not change type
/// or disappear ([`Schema::check_evolution`]). Run before consuming, so a
/// plugin that changed a column is refused when it loads, naming it.
pub async fn check_lake_schemas(lake: &Lake, pipeline: &Pipeline) -> Result<(), PipelineError> {
    for (name, sink) in &pipeline.tables {
        check_lake_schema(lake, &pipeline.name, name, &sink.schema).await?;
    }
    Ok(())
}

/// Checks one table's new schema against the one recorded in its newest
/// file, as [`check_lake_schemas`] does for a whole pipeline.
pub async fn check_lake_schema(
    lake: &Lake,
    pipeline: &str,
    table: &str,
    schema: &Schema,
) -> Result<(), PipelineError> {
    let dir = TableDir::table(table)?;
    let Some(recorded) = lake.recorded_schema(&dir).await? else {
        return Ok(());
    };
    let old = Schema::parse(&recorded).map_err(|source| PipelineError::RecordedSchema {
        pipeline: pipeline.to_string(),
        table: table.to_string(),
        recorded: recorded.clone(),
        problem: source.to_string(),
    })?;
    old.check_evolution(schema)
        .map_err(|change| PipelineError::SchemaChange {
            pipeline: pipeline.to_string(),
            table: table.to_string(),
            change,
        })
}

/// The one rule for replacing a plugin in a running pipeline: it may route
/// only into tables the pipeline already writes (`tables`, with their
/// current schemas), and each of those may only gain columns
/// ([`Schema::check_evolution`]).
pub fn check_replacement(
    pipeline: &str,
    tables: &HashMap<Arc<str>, Schema>,
    plugin: &Plugin,
) -> Result<(), PipelineError> {
    for t in plugin.tables() {
        let Some(current) = tables.get(&t.name) else {
            let mut known: Vec<&str> = tables.keys().map(|k| &**k).collect();
            known.sort();
            return Err(PipelineError::Tables {
                pipeline: pipeline.to_string(),
                message: format!(
                    "plugin `{}` routes into table `{}`, which this pipeline does not write (it writes {}); a running pipeline keeps its tables: restart it to add one",
                    plugin.name(),
                    t.name,
                    known.join(", ")
                ),
            });
        };
        current
            .check_evolution(&t.schema)
            .map_err(|change| PipelineError::SchemaChange {
                pipeline: pipeline.to_string(),
                table: t.name.to_string(),
                change,
            })?;
    }
    Ok(())
}

fn build_one(
    config: &Config,
    pc: &PipelineConfig,
    index: usize,
    engine: &PluginEngine,
    writer: LakeWriter,
) -> Result<Pipeline, PipelineError> {
    let tables_error = |message: String| PipelineError::Tables {
        pipeline: pc.name.clone(),
        message,
    };
    let mut plugins = Vec::with_capacity(pc.plugins.len());
    for name in &pc.plugins {
        let path = config.plugin_path(name);
        let plugin = Plugin::load_file(engine, &path).map_err(|source| PipelineError::Plugin {
            pipeline: pc.name.clone(),
            source,
        })?;
        plugins.push(plugin);
    }

    let limits = DecodeLimits {
        max_event_bytes: config.limits.max_event_bytes,
        ..DecodeLimits::default()
    };
    let mut tables: HashMap<Arc<str>, TableSink> = HashMap::new();
    let mut declared: Vec<(Arc<str>, Schema, String)> = Vec::new();
    for plugin in &plugins {
        for t in plugin.tables() {
            declared.push((
                t.name.clone(),
                t.schema.clone(),
                format!("plugin `{}`", plugin.name()),
            ));
        }
    }
    let default_table = match &pc.table {
        Some(t) => {
            let schema = Schema::parse(&t.schema)
                .map_err(|e| tables_error(format!("table `{}`: {e}", t.name)))?;
            declared.push((Arc::from(t.name.as_str()), schema, "the config".to_string()));
            Some(Arc::from(t.name.as_str()))
        }
        None => None,
    };
    for (name, schema, by) in declared {
        if let Some(existing) = tables.get(&name) {
            if existing.schema_text != schema.to_string() {
                return Err(tables_error(format!(
                    "table `{name}` is declared twice with different schemas (the second by {by})"
                )));
            }
            continue;
        }
        let dir = TableDir::table(&name)?;
        let decoder = TableDecoder::new(&name, &schema, limits)?;
        tables.insert(
            name,
            TableSink {
                dir,
                decoder,
                schema_text: schema.to_string(),
                schema,
            },
        );
    }
    let name: Arc<str> = Arc::from(pc.name.as_str());
    Ok(Pipeline {
        index,
        hooks: Arc::new(PipelineHooks::new(name.clone(), plugins.clone())),
        name,
        chain: PluginChain::new(plugins),
        default_table,
        tables,
        dead_letters: TableDir::dead_letters(&pc.name)?,
        writer,
        limits,
        consumed: Consumed::default(),
    })
}
