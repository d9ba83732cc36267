//! Running a process's pipelines: the lake, the plugin engine, one thread
//! per pipeline and the Kafka source thread feeding them, and an orderly
//! stop (the source has every pipeline flush, then commits).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::runtime::Handle;

use crate::config::Config;
use crate::lake::{Lake, LakeWriter, Retry, RollPolicy};
use crate::plugin::{PluginEngine, SandboxLimits};
use crate::source::{DurableOffsets, KafkaSource, consumer_config, inbox};

use super::build::{build_pipelines, check_lake_schemas};
use super::worker::spawn;

/// Pipelines and their source, running.
pub struct RunningPipelines {
    stop: Arc<AtomicBool>,
    source: Option<JoinHandle<anyhow::Result<()>>>,
    workers: Vec<(String, JoinHandle<Result<(), super::PipelineError>>)>,
}

/// Opens the lake, loads every pipeline's plugins and starts consuming.
/// Fails before consuming anything if a plugin, a table or the lake is wrong.
pub async fn start_pipelines(config: &Config, runtime: Handle) -> anyhow::Result<RunningPipelines> {
    // An unreachable HDFS is retried with backoff (and logged) for a while
    // before the process gives up and says why.
    let lake = Retry::default()
        .run("open the lake", || Lake::open(&config.lake.url))
        .await
        .with_context(|| format!("cannot open the lake at `{}`", config.lake.url))?;
    let engine = PluginEngine::new(SandboxLimits {
        memory_bytes: config.limits.plugin_memory_mib << 20,
        batch_deadline: Duration::from_millis(config.limits.plugin_deadline_ms),
        max_event_bytes: config.limits.max_event_bytes,
    })?;
    let policy = RollPolicy {
        max_rows: config.flush.rows,
        max_bytes: config.flush.bytes,
        max_age: config.flush_interval(),
    };
    let pipelines = build_pipelines(config, &engine, || {
        LakeWriter::new(lake.clone(), policy.clone())
    })?;
    for p in &pipelines {
        check_lake_schemas(&lake, p).await?;
        let plugins: Vec<String> = p
            .plugins()
            .map(|pl| format!("{} {}", pl.name(), pl.version()))
            .collect();
        let mut tables: Vec<&str> = p.tables().map(|(t, _)| t).collect();
        tables.sort();
        tracing::info!(pipeline = %p.name(), plugins = ?plugins, tables = ?tables, lake = %lake.url(), "Pipeline ready.");
    }

    let durable = DurableOffsets::default();
    let mut outboxes = Vec::new();
    let mut workers = Vec::new();
    for p in pipelines {
        let (tx, rx) = inbox();
        outboxes.push(tx);
        let name = p.name().to_string();
        workers.push((name, spawn(p, rx, durable.clone(), runtime.clone())));
    }
    let client = consumer_config(&config.source.brokers, &config.source.group);
    let source = KafkaSource::new(
        &client,
        config.source.topics.clone(),
        config.limits.batch_size,
        outboxes,
        durable,
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_source = stop.clone();
    let source = std::thread::Builder::new()
        .name("kafka-source".into())
        .spawn(move || source.run(&stop_source).map_err(anyhow::Error::from))
        .context("spawning the source thread")?;
    Ok(RunningPipelines {
        stop,
        source: Some(source),
        workers,
    })
}

impl RunningPipelines {
    /// True while the source and every pipeline are running.
    pub fn is_running(&self) -> bool {
        self.source.as_ref().is_some_and(|s| !s.is_finished())
            && self.workers.iter().all(|(_, w)| !w.is_finished())
    }

    /// Stops consuming, flushes every pipeline's files and commits. Blocks.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let source = self.source.take().expect("stopped once");
        let source_result = source
            .join()
            .map_err(|_| anyhow::anyhow!("the source thread panicked"))?;
        for (name, worker) in self.workers.drain(..) {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("pipeline `{name}` panicked"))?
                .with_context(|| format!("pipeline `{name}` failed"))?;
        }
        source_result
    }
}
