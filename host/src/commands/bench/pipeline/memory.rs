//! Part 1, the engine alone: batches made in memory, as the Kafka source
//! hands them over, through both default pipelines (plugin chain, JSON →
//! Arrow, Parquet files renamed into a lake directory).

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::service::start_fed_pipelines;

use super::super::events::{EventMix, feed};
use super::measure::{CpuSpent, LakeCount, cpu_between, cpu_by_thread, process_cpu};
use super::{Expected, Setup, WorkDir};

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

    let batch_size = config.limits.batch_size;
    let mut mix = EventMix::new(seed);
    let base_ms = base_timestamp_ms();

    let cpu_before = cpu_by_thread();
    let process_before = process_cpu();
    let started = Instant::now();
    let generating = feed(&fed, &mut mix, events, batch_size, |i| {
        base_ms + (i / 10) as i64
    })?;
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

/// An hour into the current UTC day, so ten million events a tenth of a
/// millisecond apart stay within one `date=` directory.
pub(super) fn base_timestamp_ms() -> i64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    now_ms - now_ms % 86_400_000 + 3_600_000
}
