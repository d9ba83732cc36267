//! `sluice bench pipeline`: reference-shaped events through the two default
//! pipelines (`is_purchase` → `sword_purchases`; `game_events` →
//! `events_buy`, `events_guild`, `events_user`), three figures side by side:
//!
//! 1. `memory`: the engine alone, batches handed over from memory as the
//!    Kafka source hands them, into Parquet files in a lake directory
//!    (`memory.rs`), beside DuckDB doing the same on the same events
//!    (`duckdb.rs`);
//! 2. `broker`: `sluice broker` in its own process, per storage engine (the
//!    log; the log synced per request; tansu's in-memory engine, the
//!    no-disk ceiling): produce, then a bare consumer's drain, with the
//!    broker's CPU per message and peak memory (`broker.rs`);
//! 3. `e2e`: that broker → pipeline service → tables in the lake (`e2e.rs`);
//! 4. `hot` (only with `--only hot`): part 1's feed for two windows while a
//!    new build of `game_events` lands in the watched plugin folder
//!    (`hot.rs`).
//!
//! Every run checks the rows in the lake (read from the Parquet footers)
//! against the events made, so a figure never comes from lost work.
//! `measure.rs` reads memory, CPU per thread and footers.

mod broker;
mod duckdb;
mod e2e;
mod hot;
mod measure;
mod memory;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::config::Config;

use super::events::{EventKind, EventMix};
pub use broker::BrokerEngine;
use broker::{BrokerProcess, DrainRun};
use e2e::E2eRun;
pub(super) use measure::parse_count;
use measure::{CpuSpent, LakeCount, Spread, mib, peak_rss, reset_peak_rss, show_count, thousands};

/// The topic the benchmark's events are on, as in `sluice serve`.
const TOPIC: &str = crate::config::DEFAULT_TOPIC;

/// The issues' targets, printed beside the figures.
const TARGET_MEMORY_RATE: f64 = 1_000_000.0;
const TARGET_E2E_SHARE: f64 = 0.8;
const TARGET_RSS: u64 = 300 << 20;
const TARGET_PRODUCE_RATE: f64 = 500_000.0;
const TARGET_DRAIN_RATE: f64 = 1_000_000.0;
const TARGET_BROKER_CPU_US: f64 = 2.0;
const TARGET_BROKER_RSS: u64 = 200 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// 1: the pipelines fed from memory, no broker.
    Memory,
    /// 2: produce to the embedded broker, then a bare consumer drains it.
    Broker,
    /// 3: embedded broker → pipeline service → lake.
    E2e,
    /// 4: part 1's feed while a new plugin build is hot-loaded.
    Hot,
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Events per run: 100k, 1M, 10M or a number; several (comma-separated)
    /// run one after another.
    #[arg(long, value_delimiter = ',', value_parser = parse_count, default_value = "1M")]
    events: Vec<u64>,
    /// Runs per figure; the median is reported with the range.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Events per batch (default: the config's `limits.batch_size`).
    #[arg(long)]
    batch: Option<usize>,
    /// A folder holding is_purchase.wasm and game_events.wasm (default:
    /// build the checkout's plugins, as `sluice bench plugins` does).
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// Only these parts (comma-separated); run one per process to measure
    /// each one's memory alone.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Part>,
    /// Seed of the event mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Parts 2 and 3: the broker's storage engines, side by side
    /// (`tansu-memory` needs a build with `--features bench-ceiling`).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "log,log-fsync,tansu-memory"
    )]
    engines: Vec<BrokerEngine>,
    /// Where the lakes and the broker's data go (fresh folders, removed after
    /// each run; default: the system's temporary folder).
    #[arg(long, env = "SLUICE_BENCH_DIR")]
    work_dir: Option<PathBuf>,
    /// Part 4: the length of each measured window (before the swap, and
    /// around it).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    window: Duration,
}

/// What every part shares: the default config with the bench's plugins and
/// batch size.
struct Setup {
    config: Config,
}

impl PipelineArgs {
    pub fn run(self) -> anyhow::Result<()> {
        if self.runs == 0 {
            bail!("--runs must be at least 1");
        }
        let plugins = super::plugins_dir(self.plugins.clone())?;
        for name in ["is_purchase", "game_events"] {
            let path = plugins.join(format!("{name}.wasm"));
            if !path.is_file() {
                bail!(
                    "no {} (the default pipelines need is_purchase.wasm and game_events.wasm); build them with `(cd plugins && cargo build --release)` or pass --plugins",
                    path.display()
                );
            }
        }
        if let Some(dir) = &self.work_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the work folder {}", dir.display()))?;
            WORK_ROOT
                .set(dir.clone())
                .map_err(|_| anyhow::anyhow!("the work folder is set once"))?;
        }
        let mut config = Config {
            plugin_dir: plugins.clone(),
            ..Config::default()
        };
        if let Some(batch) = self.batch {
            if batch == 0 {
                bail!("--batch must be at least 1");
            }
            config.limits.batch_size = batch;
        }
        let setup = Setup { config };
        // The service records metrics; so does the bench, as production does.
        let _ = crate::http::prometheus();
        let parts = if self.only.is_empty() {
            vec![Part::Memory, Part::Broker, Part::E2e]
        } else {
            self.only.clone()
        };

        println!(
            "sluice bench pipeline: events of {} bytes on average (seed {}), batch {}, {} run(s) per figure; median (min–max)",
            average_size(self.seed),
            self.seed,
            setup.config.limits.batch_size,
            self.runs
        );
        println!(
            "pipelines: game_events → events_buy, events_guild, events_user; is_purchase → sword_purchases; plugins from {}",
            plugins.display()
        );
        println!(
            "work folder: {}; {} cores",
            work_root().display(),
            std::thread::available_parallelism().map_or(0, usize::from)
        );
        if parts.contains(&Part::Hot) {
            self.hot(&setup)?;
        }
        let parts: Vec<Part> = parts.into_iter().filter(|p| *p != Part::Hot).collect();
        if parts.is_empty() {
            return Ok(());
        }
        for &events in &self.events {
            println!();
            println!("== {} events ==", show_count(events));
            let memory_rate = if parts.contains(&Part::Memory) {
                Some(self.memory(&setup, events)?)
            } else {
                None
            };
            if parts.contains(&Part::Broker) || parts.contains(&Part::E2e) {
                self.broker_and_e2e(&setup, events, &parts, memory_rate)?;
            }
        }
        Ok(())
    }

    fn hot(&self, setup: &Setup) -> anyhow::Result<()> {
        println!();
        println!(
            "4. hot loading: pipelines fed from memory; a new game_events build lands in the plugin folder mid-window ({} s windows)",
            self.window.as_secs_f64()
        );
        let mut runs = Vec::with_capacity(self.runs);
        for run in 0..self.runs {
            let r = hot::run(setup, self.seed + run as u64, self.window)?;
            println!(
                "   run {}: accepted {:.0} ms, live {:.0} ms after the file landed; {} events/s before, {} around the swap ({:+.1}%); {} events, lake exact",
                run + 1,
                r.accepted.as_secs_f64() * 1e3,
                r.live.as_secs_f64() * 1e3,
                thousands(r.before),
                thousands(r.around),
                (r.around / r.before - 1.0) * 100.0,
                thousands(r.events as f64)
            );
            runs.push(r);
        }
        let live = Spread::of(runs.iter().map(|r| r.live.as_secs_f64() * 1e3));
        let accepted = Spread::of(runs.iter().map(|r| r.accepted.as_secs_f64() * 1e3));
        let dip = Spread::of(runs.iter().map(|r| (1.0 - r.around / r.before) * 100.0));
        println!(
            "   file landed → accepted: {:.0} ms median ({:.0}–{:.0})",
            accepted.median, accepted.min, accepted.max
        );
        println!(
            "   file landed → first batch on the new version: {:.0} ms median ({:.0}–{:.0})",
            live.median, live.min, live.max
        );
        println!(
            "   throughput dip, window around the swap vs the window before: {:.1}% median ({:.1}–{:.1})",
            dip.median, dip.min, dip.max
        );
        verdict("target: live within 1 s", live.median < 1000.0);
        verdict("target: dip under 10%", dip.median < 10.0);
        Ok(())
    }

    /// Part 1; returns its median rate, which part 3 is measured against.
    /// DuckDB's runs on the same events alternate with sluice's.
    fn memory(&self, setup: &Setup, events: u64) -> anyhow::Result<f64> {
        let events_file = duckdb::EventsFile::write(events, self.seed)?;
        let reset = reset_peak_rss();
        let mut runs = Vec::with_capacity(self.runs);
        let mut peak = None;
        let mut duck: Vec<(duckdb::Load, Vec<duckdb::DuckRun>)> =
            duckdb::Load::ALL.iter().map(|&l| (l, Vec::new())).collect();
        let mut no_duckdb = false;
        for _ in 0..self.runs {
            runs.push(memory::run(setup, events, self.seed)?);
            // Before DuckDB's side: its memory is its own process's, but
            // reading its figures costs this one a little.
            peak = peak_rss();
            for (load, done) in &mut duck {
                match duckdb::run(&events_file, *load)? {
                    Some(run) => done.push(run),
                    None => no_duckdb = true,
                }
            }
        }
        let n = events as f64;
        let rate = |d: Duration| n / d.as_secs_f64();
        println!("1. pipelines fed from memory (no broker)");
        row(
            "both pipelines, every event",
            Spread::of(runs.iter().map(|r| rate(r.wall))),
            Spread::of(runs.iter().map(|r| r.wall.as_secs_f64())),
        );
        for (i, (name, _)) in runs[0].pipelines.iter().enumerate() {
            row(
                &format!("  {name} done"),
                Spread::of(runs.iter().map(|r| rate(r.pipelines[i].1))),
                Spread::of(runs.iter().map(|r| r.pipelines[i].1.as_secs_f64())),
            );
        }
        let generating = Spread::of(runs.iter().map(|r| r.generating.as_secs_f64() * 1e9 / n));
        println!(
            "   making the events: {:.0} ns/event on the feeding thread, inside the times above",
            generating.median
        );
        let median = median_run(&runs.iter().collect::<Vec<_>>(), |r| r.wall);
        lake_line(&median.lake);
        cpu_line(&median.cpu, median.wall);
        let memory_rate = Spread::of(runs.iter().map(|r| rate(r.wall))).median;
        verdict(
            &format!("target (1) ≥ {} events/s", thousands(TARGET_MEMORY_RATE)),
            memory_rate >= TARGET_MEMORY_RATE,
        );
        rss_line(peak, reset, "part 1");
        if no_duckdb {
            println!("   DuckDB side: not run (no `duckdb` for python3: pip install duckdb)");
            return Ok(memory_rate);
        }
        println!(
            "   the same events through DuckDB {} (JSON lines → the same four tables, routed in SQL; 2 threads):",
            duck[0].1.first().map_or("?", |r| r.version.as_str())
        );
        let mut fastest: f64 = 0.0;
        for (load, done) in &duck {
            let duck_rate = Spread::of(done.iter().map(|r| rate(r.wall)));
            let median = duck_rate.median;
            row(
                load.label(),
                duck_rate,
                Spread::of(done.iter().map(|r| r.wall.as_secs_f64())),
            );
            println!(
                "     sluice / {}: {:.2}",
                load.label(),
                memory_rate / median
            );
            fastest = fastest.max(median);
        }
        verdict(
            "target: ≥ the faster DuckDB's rate in the same run (ratio ≥ 1.0)",
            memory_rate >= fastest,
        );
        Ok(memory_rate)
    }

    fn broker_and_e2e(
        &self,
        setup: &Setup,
        events: u64,
        parts: &[Part],
        memory_rate: Option<f64>,
    ) -> anyhow::Result<()> {
        let n = events as f64;
        let rate = |d: Duration| n / d.as_secs_f64();
        let mut measured: Vec<(BrokerEngine, Vec<EngineRun>)> = Vec::new();
        for &engine in &self.engines {
            if !engine.built() {
                measured.push((engine, Vec::new()));
                continue;
            }
            let mut runs = Vec::with_capacity(self.runs);
            for run in 0..self.runs {
                let broker = BrokerProcess::start(engine)?;
                let cpu_start = broker.cpu();
                let (produce, expected) = broker::produce(broker.bootstrap(), events, self.seed)?;
                let cpu_produced = broker.cpu();
                let drain = if parts.contains(&Part::Broker) {
                    Some(broker::drain(
                        broker.bootstrap(),
                        events,
                        &group("bare", run),
                    )?)
                } else {
                    None
                };
                let cpu_drained = broker.cpu();
                // Syncing per request changes produce only: no e2e for it.
                let e2e = if parts.contains(&Part::E2e) && engine != BrokerEngine::LogFsync {
                    Some(e2e::run(
                        setup,
                        broker.bootstrap(),
                        events,
                        &expected,
                        &group("e2e", run),
                    )?)
                } else {
                    None
                };
                runs.push(EngineRun {
                    produce,
                    produce_cpu: cpu_produced - cpu_start,
                    drain,
                    drain_cpu: cpu_drained - cpu_produced,
                    e2e,
                    peak_rss: broker.peak_rss(),
                });
            }
            measured.push((engine, runs));
        }
        let ceiling = measured
            .iter()
            .find(|(e, runs)| *e == BrokerEngine::TansuMemory && !runs.is_empty())
            .map(|(_, runs)| runs);
        let median_of = |runs: &[EngineRun], f: &dyn Fn(&EngineRun) -> Option<f64>| {
            let samples: Vec<f64> = runs.iter().filter_map(f).collect();
            (!samples.is_empty()).then(|| Spread::of(samples))
        };
        let ratio =
            |mine: Option<Spread>, f: &dyn Fn(&EngineRun) -> Option<f64>| match (mine, ceiling) {
                (Some(mine), Some(c)) => median_of(c, f)
                    .map_or(String::new(), |c| format!("{:.2}x", mine.median / c.median)),
                _ => String::new(),
            };
        println!(
            "2. the broker: `sluice broker` in its own process, produce (acks=all, idempotent), then a bare consumer drains it; ×ceiling is the ratio to tansu's in-memory engine"
        );
        println!(
            "   {:<27} {:>34} {:>7} {:>34} {:>7}  {:>20}  {:>9}",
            "engine",
            "produce events/s",
            "×ceil",
            "drain events/s",
            "×ceil",
            "broker CPU µs/event",
            "peak RSS"
        );
        let produce_rate = |r: &EngineRun| Some(rate(r.produce));
        let drain_rate = |r: &EngineRun| r.drain.as_ref().map(|d| rate(d.wall));
        for (engine, runs) in &measured {
            if runs.is_empty() {
                println!(
                    "   {:<27} not in this build: `cargo build --release --features bench-ceiling`",
                    engine.label()
                );
                continue;
            }
            let produced = median_of(runs, &produce_rate);
            let drained = median_of(runs, &drain_rate);
            let cpu_produce = Spread::of(runs.iter().map(|r| r.produce_cpu * 1e6 / n)).median;
            let cpu_drain = Spread::of(runs.iter().map(|r| r.drain_cpu * 1e6 / n)).median;
            let rss = runs.iter().filter_map(|r| r.peak_rss).max();
            println!(
                "   {:<27} {:>34} {:>7} {:>34} {:>7}  {:>8.2} + {:<9.2}  {:>9}",
                engine.label(),
                produced.map_or("-".into(), |s| s.rate()),
                ratio(produced, &produce_rate),
                drained.map_or("-".into(), |s| s.rate()),
                ratio(drained, &drain_rate),
                cpu_produce,
                cpu_drain,
                rss.map_or("?".into(), mib),
            );
        }
        if let Some((_, runs)) = measured
            .iter()
            .find(|(e, r)| *e == BrokerEngine::Log && !r.is_empty())
        {
            let joins: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.drain.as_ref().map(|d| d.first_record.as_secs_f64()))
                .collect();
            if !joins.is_empty() {
                println!(
                    "   a drain's first {:.2} s (median) is joining the group",
                    Spread::of(joins).median
                );
            }
            let produced = Spread::of(runs.iter().map(|r| rate(r.produce))).median;
            verdict(
                &format!(
                    "target: produce ≥ {} events/s",
                    thousands(TARGET_PRODUCE_RATE)
                ),
                produced >= TARGET_PRODUCE_RATE,
            );
            if let Some(drained) = median_of(runs, &drain_rate) {
                verdict(
                    &format!("target: drain ≥ {} events/s", thousands(TARGET_DRAIN_RATE)),
                    drained.median >= TARGET_DRAIN_RATE,
                );
            }
            let cpu =
                Spread::of(runs.iter().map(|r| (r.produce_cpu + r.drain_cpu) * 1e6 / n)).median;
            verdict(
                &format!(
                    "target: broker CPU ≤ {TARGET_BROKER_CPU_US} µs per event, produced and drained ({cpu:.2})"
                ),
                cpu <= TARGET_BROKER_CPU_US,
            );
            if let Some(rss) = runs.iter().filter_map(|r| r.peak_rss).max() {
                verdict(
                    &format!(
                        "target: broker peak RSS < {} ({})",
                        mib(TARGET_BROKER_RSS),
                        mib(rss)
                    ),
                    rss < TARGET_BROKER_RSS,
                );
            }
        }
        if parts.contains(&Part::E2e) {
            println!("3. end to end: that broker → pipeline service (this process) → lake");
            for (engine, runs) in &measured {
                let e2e: Vec<&E2eRun> = runs.iter().filter_map(|r| r.e2e.as_ref()).collect();
                if e2e.is_empty() {
                    continue;
                }
                let e2e_rate = Spread::of(e2e.iter().map(|r| rate(r.wall)));
                row(
                    engine.label(),
                    e2e_rate,
                    Spread::of(e2e.iter().map(|r| r.wall.as_secs_f64())),
                );
                println!(
                    "   every event taken by both pipelines after {:.2} s (median); the rest is the final flush and commit",
                    Spread::of(e2e.iter().map(|r| r.consumed.as_secs_f64())).median
                );
                let median = median_run(&e2e, |r| r.wall);
                lake_line(&median.lake);
                cpu_line(&median.cpu, median.wall);
                if *engine == BrokerEngine::Log
                    && let Some(core) = memory_rate
                {
                    let share = e2e_rate.median / core;
                    verdict(
                        &format!(
                            "target (3) ≥ {:.0}% of the pipeline core's rate (1): {:.0}%",
                            TARGET_E2E_SHARE * 100.0,
                            share * 100.0
                        ),
                        share >= TARGET_E2E_SHARE,
                    );
                }
            }
        }
        Ok(())
    }
}

/// One engine's run of parts 2 and 3.
struct EngineRun {
    produce: Duration,
    produce_cpu: f64,
    drain: Option<DrainRun>,
    drain_cpu: f64,
    e2e: Option<E2eRun>,
    peak_rss: Option<u64>,
}

/// A consumer group no earlier run used, so it starts at the beginning.
fn group(part: &str, run: usize) -> String {
    format!("sluice-bench-{part}-{}-{run}", std::process::id())
}

fn row(label: &str, rate: Spread, secs: Spread) {
    println!(
        "   {label:<30} {:>32} events/s   {}",
        rate.rate(),
        secs.secs()
    );
}

fn verdict(what: &str, met: bool) {
    println!("   {what}: {}", if met { "met" } else { "MISSED" });
}

fn rss_line(peak: Option<u64>, reset: bool, what: &str) {
    let Some(peak) = peak else {
        println!("   peak RSS: unknown (no /proc/self/status)");
        return;
    };
    let scope = if reset {
        what.to_string()
    } else {
        "the whole process so far: the kernel refused to reset the peak".to_string()
    };
    println!(
        "   peak RSS ({scope}): {}; target < {}: {}",
        mib(peak),
        mib(TARGET_RSS),
        if peak < TARGET_RSS { "met" } else { "MISSED" }
    );
}

fn lake_line(lake: &LakeCount) {
    let tables: Vec<String> = lake
        .tables
        .iter()
        .map(|(table, (_, rows))| format!("{table} {}", thousands(*rows as f64)))
        .collect();
    println!(
        "   lake (median run): {} files, {} rows: {}",
        lake.files(),
        thousands(lake.total_rows() as f64),
        tables.join(" · ")
    );
}

fn cpu_line(cpu: &CpuSpent, wall: Duration) {
    let mut threads: Vec<String> = cpu
        .threads
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.2}"))
        .collect();
    let seen: f64 = cpu.threads.iter().map(|(_, s)| s).sum();
    if cpu.total - seen >= 0.01 {
        threads.push(format!(
            "final flush and ended threads {:.2}",
            cpu.total - seen
        ));
    }
    println!(
        "   CPU (median run): {:.2} s over {:.2} s wall ({:.2} cores); by thread: {}",
        cpu.total,
        wall.as_secs_f64(),
        cpu.total / wall.as_secs_f64(),
        threads.join(" · ")
    );
}

fn median_run<'a, T>(runs: &[&'a T], key: impl Fn(&T) -> Duration) -> &'a T {
    let mut sorted: Vec<&T> = runs.to_vec();
    sorted.sort_by_key(|r| key(r));
    sorted[sorted.len() / 2]
}

fn average_size(seed: u64) -> usize {
    let mut mix = EventMix::new(seed);
    let mut json = Vec::new();
    let n = 10_000;
    (0..n)
        .map(|_| {
            mix.next_event(&mut json);
            json.len()
        })
        .sum::<usize>()
        / n
}

/// Rows each table must hold after the events an [`EventMix`] made, and no
/// dead letters.
#[derive(Debug, Clone)]
pub(super) struct Expected {
    tables: Vec<(&'static str, u64)>,
}

impl Expected {
    fn of(mix: &EventMix) -> Expected {
        use EventKind::*;
        let n = |kinds: &[EventKind]| kinds.iter().map(|&k| mix.made(k)).sum::<u64>();
        Expected {
            tables: vec![
                (
                    "events_buy",
                    n(&[PurchaseSword, PurchaseKnife, PurchaseShield, BuyItem]),
                ),
                ("events_guild", n(&[JoinGuild])),
                ("events_user", n(&[Signup, Login])),
                ("sword_purchases", n(&[PurchaseSword])),
            ],
        }
    }

    fn check(&self, lake: &LakeCount) -> anyhow::Result<()> {
        self.check_rows(|table| lake.rows(table))?;
        for (table, (_, rows)) in &lake.tables {
            if table.starts_with("_dead_letters") && *rows > 0 {
                bail!("{rows} dead letters in `{table}`: the benchmark's events should all fit");
            }
        }
        Ok(())
    }

    /// Each table's rows, as `rows_of` counts them, against the events.
    fn check_rows(&self, rows_of: impl Fn(&str) -> u64) -> anyhow::Result<()> {
        for &(table, rows) in &self.tables {
            let found = rows_of(table);
            if found != rows {
                bail!("table `{table}` holds {found} rows; the events made call for {rows}");
            }
        }
        Ok(())
    }
}

static WORK_ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn work_root() -> PathBuf {
    WORK_ROOT.get().cloned().unwrap_or_else(std::env::temp_dir)
}

/// A fresh folder under the work root, removed when dropped.
pub(super) struct WorkDir(PathBuf);

impl WorkDir {
    fn new(part: &str) -> anyhow::Result<WorkDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = work_root().join(format!(
            "sluice-bench-{}-{part}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating the work folder {}", path.display()))?;
        Ok(WorkDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
