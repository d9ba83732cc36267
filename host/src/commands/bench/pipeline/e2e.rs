//! Part 3, end to end: the broker of part 2 (its own process) → the
//! pipeline service in this process (its Kafka source, both default
//! pipelines) → tables in a lake directory, timed until every event was
//! consumed by every pipeline and the service stopped, which flushes and
//! renames the last files into place and commits.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::config::Config;
use crate::service::start_pipelines;

use super::broker::patience;
use super::measure::{CpuSpent, LakeCount, cpu_between, cpu_by_thread, process_cpu};
use super::{Expected, Setup, WorkDir};

/// How often the benchmark looks at the pipelines' counters.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(super) struct E2eRun {
    /// From starting the service to its stop returning with every file in place.
    pub(super) wall: Duration,
    /// From starting the service until both pipelines had taken every event.
    pub(super) consumed: Duration,
    pub(super) lake: LakeCount,
    pub(super) cpu: CpuSpent,
}

pub(super) fn run(
    setup: &Setup,
    bootstrap: &str,
    events: u64,
    expected: &Expected,
    group: &str,
) -> anyhow::Result<E2eRun> {
    let work = WorkDir::new("e2e")?;
    let mut config: Config = setup.config.clone();
    config.lake.url = work.path().join("lake").display().to_string();
    config.source.brokers = bootstrap.to_string();
    let runtime = crate::commands::runtime()?;
    config.source.group = group.to_string();
    let metrics = crate::http::prometheus();
    let before = events_in(&metrics.render());

    let cpu_before = cpu_by_thread();
    let process_before = process_cpu();
    let started = Instant::now();
    let running = runtime.block_on(start_pipelines(&config, runtime.handle().clone()))?;
    let patience = patience(events);
    loop {
        std::thread::sleep(POLL);
        let now = events_in(&metrics.render());
        let done = config.pipelines.iter().all(|p| {
            now.get(&p.name).copied().unwrap_or(0.0) - before.get(&p.name).copied().unwrap_or(0.0)
                >= events as f64
        });
        if done {
            break;
        }
        if !running.is_running() || started.elapsed() > patience {
            let stopped = running.stop();
            bail!(
                "the pipelines took {:?} of {events} events in {:?} ({})",
                now,
                started.elapsed(),
                stopped
                    .err()
                    .map_or("still running".into(), |e| format!("{e:#}"))
            );
        }
    }
    let consumed = started.elapsed();
    // Read before the source and pipeline threads end and take their counts along.
    let cpu_threads = cpu_by_thread();
    running.stop()?;
    let wall = started.elapsed();
    let cpu = CpuSpent::new(
        cpu_between(&cpu_before, &cpu_threads),
        process_cpu() - process_before,
    );
    let lake = LakeCount::read(&work.path().join("lake"))?;
    expected.check(&lake)?;
    Ok(E2eRun {
        wall,
        consumed,
        lake,
        cpu,
    })
}

/// `sluice_events_in_total` per pipeline, from Prometheus text.
fn events_in(text: &str) -> HashMap<String, f64> {
    const PREFIX: &str = "sluice_events_in_total{pipeline=\"";
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(PREFIX)?;
            let (name, rest) = rest.split_once('"')?;
            let value = rest.rsplit(' ').next()?.parse().ok()?;
            Some((name.to_string(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_in_reads_prometheus_text() {
        let text = "# TYPE sluice_events_in_total counter\nsluice_events_in_total{pipeline=\"game_events\"} 1024\nsluice_events_in_total{pipeline=\"is_purchase\"} 2048\nsluice_rows_total{pipeline=\"x\",table=\"y\"} 5\n";
        let counts = super::events_in(text);
        assert_eq!(counts.len(), 2);
        assert_eq!(counts["game_events"], 1024.0);
        assert_eq!(counts["is_purchase"], 2048.0);
    }
}
