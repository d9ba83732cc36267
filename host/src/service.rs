//! Running a process's pipelines: the lake, the plugin engine, one thread
//! per pipeline and the Kafka source thread feeding them, and an orderly
//! stop (the source has every pipeline flush, then commits). [`FedPipelines`]
//! are the same pipelines fed from memory instead of Kafka, for benchmarks.
//!
//! Stopping has one signal, a `CancellationToken`: `stop` (the source stops
//! consuming; a pipeline paused on a failing plugin stops waiting), checked
//! by the threads with `is_cancelled()`, and `upkeep` for the async
//! maintenance task. `exited` is the other direction: a token the pipeline
//! threads cancel when they end. `Delivery::Shutdown(ack)` is not a signal
//! but the last message on a pipeline's channel, so its final flush comes
//! after every batch before it.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Select, Sender, bounded};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::hot::PluginRegistry;
use crate::lake::{CompactPolicy, Lake, LakeWriter, Retry, RollPolicy, TableDir};
use crate::plugin::{PluginEngine, SandboxLimits};
use crate::source::{Delivery, DurableOffsets, KafkaSource, SourceBatch, consumer_config, inbox};

use crate::pipeline::{Upkeep, build_pipelines, check_lake_schemas, spawn};

/// Pipelines and their source, running.
pub struct RunningPipelines {
    plugins: PluginRegistry,
    stop: CancellationToken,
    /// Stops the tables' upkeep (compaction, vacuum).
    upkeep: CancellationToken,
    /// Cancelled when the source or any pipeline thread ends.
    exited: CancellationToken,
    source: Option<JoinHandle<anyhow::Result<()>>>,
    workers: Vec<(String, WorkerThread)>,
}

/// Opens the lake, loads every pipeline's plugins and starts consuming.
/// Fails before consuming anything if a plugin, a table or the lake is wrong.
pub async fn start_pipelines(config: &Config, runtime: Handle) -> anyhow::Result<RunningPipelines> {
    let workers = start_workers(config, runtime.clone()).await?;
    let upkeep = CancellationToken::new();
    runtime.spawn(workers.upkeep.clone().run(upkeep.clone()));
    let client = consumer_config(&config.source.brokers, &config.source.group);
    let source = KafkaSource::new(
        &client,
        config.source.topics.clone(),
        config.limits.batch_size,
        workers.outboxes,
        workers.durable,
    )?;
    let stop = workers.stop;
    let stop_source = stop.clone();
    let exit = workers.exited.clone().drop_guard();
    let source = std::thread::Builder::new()
        .name("kafka-source".into())
        .spawn(move || {
            let _exit = exit;
            source.run(&stop_source).map_err(anyhow::Error::from)
        })
        .context("spawning the source thread")?;
    Ok(RunningPipelines {
        plugins: workers.plugins,
        stop,
        upkeep,
        exited: workers.exited,
        source: Some(source),
        workers: workers.threads,
    })
}

/// Every pipeline of `config` on its thread, waiting for deliveries.
struct Workers {
    plugins: PluginRegistry,
    upkeep: Upkeep,
    outboxes: Vec<Sender<Delivery>>,
    threads: Vec<(String, WorkerThread)>,
    durable: DurableOffsets,
    exited: CancellationToken,
    /// The one stop signal: the source stops consuming, and a pipeline
    /// paused on a failing plugin stops waiting for a new version.
    stop: CancellationToken,
}

type WorkerThread = JoinHandle<Result<(), crate::pipeline::PipelineError>>;

/// Opens the lake, loads every pipeline's plugins, checks the tables against
/// the lake and puts each pipeline on its thread.
async fn start_workers(config: &Config, runtime: Handle) -> anyhow::Result<Workers> {
    // An unreachable HDFS is retried with backoff (and logged) for a while
    // before the process gives up and says why.
    let lake = Retry::default()
        .run("open the lake", || Lake::open(&config.lake.url))
        .await
        .with_context(|| format!("cannot open the lake at `{}`", config.lake.url))?;
    let unconverted = crate::lake::unconverted(&lake).await?;
    if !unconverted.is_empty() {
        let names: Vec<&str> = unconverted.iter().map(|d| d.table_name()).collect();
        anyhow::bail!(
            "the lake at `{}` holds tables an earlier sluice wrote without a Delta log ({}); convert them in place with `sluice lake convert --lake {}` (nothing is copied, moved or lost), then start again",
            lake.url(),
            names.join(", "),
            config.lake.url
        );
    }
    let engine = PluginEngine::new(SandboxLimits {
        memory_bytes: config.limits.plugin_memory_mib << 20,
        batch_deadline: Duration::from_millis(config.limits.plugin_deadline_ms),
        max_event_bytes: config.limits.max_event_bytes,
        max_events_per_event: config.limits.plugin_max_events_per_event,
        max_events_per_call: config.limits.plugin_max_events_per_call,
        ..SandboxLimits::default()
    })?;
    let policy = RollPolicy {
        max_rows: config.flush.rows,
        max_bytes: config.flush.bytes,
        max_age: config.flush_interval(),
    };
    let pipelines = build_pipelines(config, &engine, |pipeline| {
        LakeWriter::new(lake.clone(), policy.clone(), pipeline)
            .with_incarnation(config.source.incarnation)
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

    let paths: Vec<Vec<_>> = config
        .pipelines
        .iter()
        .map(|pc| pc.plugins.iter().map(|p| config.plugin_path(p)).collect())
        .collect();
    let plugins = PluginRegistry::new(
        engine,
        config.plugin_dir.clone(),
        lake.clone(),
        runtime.clone(),
        &pipelines,
        &paths,
    );
    plugins.watch()?;

    let durable = DurableOffsets::default();
    let exited = CancellationToken::new();
    let stop = CancellationToken::new();
    let mut outboxes = Vec::new();
    let mut threads = Vec::new();
    let mut table_names: Vec<String> = Vec::new();
    for p in pipelines {
        table_names.extend(p.tables().map(|(t, _)| t.to_string()));
        let (tx, rx) = inbox();
        outboxes.push(tx);
        let name = p.name().to_string();
        let thread = spawn(
            p,
            rx,
            durable.clone(),
            runtime.clone(),
            exited.clone(),
            stop.clone(),
        );
        threads.push((name, thread));
    }
    let mut tables: Vec<TableDir> = Vec::new();
    for name in &table_names {
        tables.push(TableDir::table(name)?);
    }
    tables.push(TableDir::AllDeadLetters);
    let upkeep = Upkeep {
        lake,
        tables,
        compact_every: config.lake.compact_every()?,
        vacuum_retention: config.lake.vacuum_retention()?,
        policy: CompactPolicy::default(),
    };
    Ok(Workers {
        plugins,
        upkeep,
        outboxes,
        threads,
        durable,
        exited,
        stop,
    })
}

impl RunningPipelines {
    /// The plugins these pipelines run, for hot loading.
    pub fn plugins(&self) -> &PluginRegistry {
        &self.plugins
    }

    /// Completes when the source or any pipeline thread has ended: on
    /// [`RunningPipelines::stop`], or by itself, which means it failed and
    /// the process should stop to say why (and be restarted).
    pub fn exited(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.exited.clone().cancelled_owned()
    }

    /// True while the source and every pipeline are running.
    pub fn is_running(&self) -> bool {
        self.source.as_ref().is_some_and(|s| !s.is_finished())
            && self.workers.iter().all(|(_, w)| !w.is_finished())
    }

    /// Stops consuming, flushes every pipeline's files and commits. Blocks.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.upkeep.cancel();
        self.stop.cancel();
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

/// Pipelines fed by the caller instead of a Kafka source: the same threads,
/// channels, plugins and lake writer as [`start_pipelines`], with batches
/// handed over from memory. For benchmarks that measure the engine without
/// a broker.
pub struct FedPipelines {
    plugins: PluginRegistry,
    outboxes: Vec<Sender<Delivery>>,
    workers: Vec<(String, WorkerThread)>,
}

/// Starts every pipeline of `config` as [`start_pipelines`] does, without a
/// source: hand them batches with [`FedPipelines::deliver`].
pub async fn start_fed_pipelines(config: &Config, runtime: Handle) -> anyhow::Result<FedPipelines> {
    let workers = start_workers(config, runtime).await?;
    Ok(FedPipelines {
        plugins: workers.plugins,
        outboxes: workers.outboxes,
        workers: workers.threads,
    })
}

impl FedPipelines {
    /// The plugins these pipelines run, for hot loading.
    pub fn plugins(&self) -> &PluginRegistry {
        &self.plugins
    }

    /// Hands `batch` to every pipeline, as the Kafka source does; blocks
    /// while a pipeline's channel is full.
    pub fn deliver(&self, batch: &Arc<SourceBatch>) -> anyhow::Result<()> {
        for (outbox, (name, _)) in self.outboxes.iter().zip(&self.workers) {
            outbox
                .send(Delivery::Batch(batch.clone()))
                .map_err(|_| anyhow::anyhow!("pipeline `{name}` stopped"))?;
        }
        Ok(())
    }

    /// Has every pipeline flush all its files and stop. Returns, per
    /// pipeline, when it had everything in the lake.
    pub fn finish(mut self) -> anyhow::Result<Vec<(String, Instant)>> {
        let mut acks = Vec::with_capacity(self.outboxes.len());
        for outbox in &self.outboxes {
            let (tx, rx) = bounded(1);
            // A pipeline that already stopped reports its error when joined.
            let _ = outbox.send(Delivery::Shutdown(tx));
            acks.push(rx);
        }
        let mut done: Vec<Option<Instant>> = vec![None; acks.len()];
        let mut select = Select::new();
        for rx in &acks {
            select.recv(rx);
        }
        for _ in 0..acks.len() {
            let op = select.select();
            let i = op.index();
            let _ = op.recv(&acks[i]);
            done[i] = Some(Instant::now());
            select.remove(i);
        }
        let mut finished = Vec::with_capacity(done.len());
        for ((name, worker), done) in self.workers.drain(..).zip(done) {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("pipeline `{name}` panicked"))?
                .with_context(|| format!("pipeline `{name}` failed"))?;
            finished.push((name, done.unwrap_or_else(Instant::now)));
        }
        Ok(finished)
    }
}
