//! Part 1, the engine alone: batches made in memory, as the Kafka source
//! hands them over, through both default pipelines (plugin chain, JSON →
//! Arrow, Parquet files renamed into a lake directory).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::pipeline::start_fed_pipelines;
use crate::plugin::{EventBatch, EventMeta};
use crate::source::SourceBatch;

use super::super::events::EventMix;
use super::measure::{CpuSpent, LakeCount, cpu_between, cpu_by_thread, process_cpu};
use super::{Expected, Setup, TOPIC, WorkDir};

/// One run of part 1.
#[derive(Debug)]
pub(super) struct MemoryRun {
    /// From the first batch handed over to the last file in place.
    pub(super) wall: Duration,
    /// Per pipeline, from the first batch to its last file in place.
    pub(super) pipelines: Vec<(String, Duration)>,
    /// Time the feeding thread spent making events (within `wall`).
    pub(super) generating: Duration,
    pub(super) lake: LakeCount,
    pub(super) cpu: CpuSpent,
}

pub(super) fn run(setup: &Setup, events: u64, seed: u64) -> anyhow::Result<MemoryRun> {
    let work = WorkDir::new("memory")?;
    let mut config: Config = setup.config.clone();
    config.lake.url = work.path().join("lake").display().to_string();
    let runtime = crate::commands::runtime()?;
    let fed = runtime.block_on(start_fed_pipelines(&config, runtime.handle().clone()))?;

    let topic: Arc<str> = Arc::from(TOPIC);
    let batch_size = config.limits.batch_size;
    let mut mix = EventMix::new(seed);
    let mut json = Vec::with_capacity(512);
    let mut offsets = [0i64; PARTITIONS];
    let base_ms = base_timestamp_ms();
    let mut generating = Duration::ZERO;

    let cpu_before = cpu_by_thread();
    let process_before = process_cpu();
    let started = Instant::now();
    let mut made = 0u64;
    while made < events {
        let n = (events - made).min(batch_size as u64);
        let generated = Instant::now();
        let mut batch = EventBatch::with_capacity(n as usize, n as usize * 300);
        for i in made..made + n {
            mix.next_event(&mut json);
            // Round robin over the partitions, as a consumer of a topic
            // with evenly filled partitions sees them.
            let partition = (i % PARTITIONS as u64) as usize;
            batch.push(
                &json,
                EventMeta {
                    partition: partition as i32,
                    offset: offsets[partition],
                    timestamp_ms: base_ms + (i / 10) as i64,
                },
            );
            offsets[partition] += 1;
        }
        generating += generated.elapsed();
        made += n;
        fed.deliver(&Arc::new(SourceBatch {
            topic: topic.clone(),
            events: batch,
        }))?;
    }
    // Read before the pipeline threads end and take their counts along.
    let cpu_threads = cpu_by_thread();
    let finished = fed.finish()?;
    let wall = started.elapsed();
    let cpu = CpuSpent::new(
        cpu_between(&cpu_before, &cpu_threads),
        process_cpu() - process_before,
    );
    drop(runtime);

    let lake = LakeCount::read(&work.path().join("lake"))?;
    Expected::of(&mix).check(&lake)?;
    Ok(MemoryRun {
        wall,
        pipelines: finished
            .into_iter()
            .map(|(name, done)| (name, done.duration_since(started)))
            .collect(),
        generating,
        lake,
        cpu,
    })
}

/// The partitions of the benchmark topic, as on the embedded broker.
const PARTITIONS: usize = crate::broker::DEFAULT_TOPIC_PARTITIONS as usize;

/// An hour into the current UTC day, so ten million events a tenth of a
/// millisecond apart stay within one `date=` directory.
pub(super) fn base_timestamp_ms() -> i64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now_ms - now_ms % 86_400_000 + 3_600_000
}
