//! `sluice bench query`: the reference's Presto queries (and a per-day,
//! per-item group-by) over a lake of reference-shaped events written by the
//! default pipelines, timed in sluice's engine and in DuckDB (from PyPI) on
//! the same files, side by side. Both engines must agree on every answer.
//!
//! `--flushes N` writes the lake in about N commits per table, as a day of
//! 10 s flushes makes 8,640 (many small files), and prints the Delta commit
//! latency beside the data-file writes of the same flushes. `--compact`
//! then times the queries again after compacting every table.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use super::events::{EventMix, feed_paced};
use super::pipeline::parse_count;
use crate::config::Config;
use crate::lake::Lake;
use crate::query::{QueryEngine, QueryLimits};
use crate::service::start_fed_pipelines;

/// The queries: a name, sluice's SQL, DuckDB's SQL (the same but for
/// `SHOW TABLES` / `DESCRIBE`, which DuckDB answers its own way).
const QUERIES: [(&str, &str); 7] = [
    ("show tables", "show tables"),
    ("describe events_buy", "describe events_buy"),
    (
        "sword count",
        "select count(*) from events_buy where item_type = 'sword'",
    ),
    ("join_guilds count", "select count(*) from join_guilds"),
    (
        "joins by Host",
        "select Host, count(*) as count from join_guilds group by Host order by Host",
    ),
    (
        "per day, per item",
        "select date, item_type, count(*) as n from events_buy group by date, item_type order by date, item_type",
    ),
    ("select * limit 10", "select * from join_guilds limit 10"),
];

/// The issue's targets.
const TARGET_FLOOR: Duration = Duration::from_millis(50);
const TARGET_COUNTS: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Events in the lake: 100k, 1M, 10M or a number.
    #[arg(long, value_parser = parse_count, default_value = "10M")]
    events: u64,
    /// Timed runs per query and engine (after one warm-up); the median is
    /// reported with the range.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The lake folder. If it already holds tables, they are queried as
    /// they are (make it once, time it many times); else it is written.
    #[arg(long)]
    lake: Option<PathBuf>,
    /// A folder holding is_purchase.wasm and game_events.wasm (default:
    /// build the checkout's plugins).
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// Days the events' Kafka timestamps span (one `date=` folder each).
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// Write the lake in about this many flushes (commits) per table, e.g.
    /// 8640 for a day of 10 s flushes; default: files as large as the
    /// flush settings allow.
    #[arg(long)]
    flushes: Option<u64>,
    /// After timing, compact every table and time the queries again.
    #[arg(long)]
    compact: bool,
}

impl QueryArgs {
    pub fn run(self) -> anyhow::Result<()> {
        if self.runs == 0 || self.days == 0 {
            bail!("--runs and --days must be at least 1");
        }
        let lake_dir = match &self.lake {
            Some(dir) => dir.clone(),
            None => std::env::temp_dir().join(format!("sluice-bench-query-{}", std::process::id())),
        };
        let runtime = crate::commands::runtime()?;
        // The bench's own recorder: histograms as summaries (quantiles).
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .context("installing the metrics recorder")?;
        let has_tables = lake_dir.join("events_buy").is_dir();
        if has_tables {
            println!("lake: {} (reused as it is)", lake_dir.display());
        } else {
            self.write_lake(&runtime, &lake_dir)?;
            print_commit_latency(&metrics.render());
        }
        let lake_url = lake_dir.display().to_string();
        let lake = runtime.block_on(Lake::open(&lake_url))?;
        let config = Config::default();
        runtime.block_on(print_lake_shape(&lake))?;
        let engine = QueryEngine::new(lake.clone(), config.views.clone(), QueryLimits::default())?;
        let mut all_met = self.time_and_compare(&runtime, &engine, &lake_dir, &config)?;
        if self.compact {
            let started = Instant::now();
            let policy = crate::lake::CompactPolicy {
                min_age: Duration::ZERO,
                ..Default::default()
            };
            for name in runtime.block_on(lake.directories())? {
                let Ok(dir) = crate::lake::TableDir::table(&name) else {
                    continue;
                };
                let done = runtime.block_on(crate::lake::compact_table(
                    &lake,
                    &dir,
                    &policy,
                    std::time::SystemTime::now(),
                ))?;
                println!(
                    "compacted {name}: {} files into {}",
                    done.replaced, done.written
                );
            }
            println!(
                "compaction took {:.1} s; after it:",
                started.elapsed().as_secs_f64()
            );
            runtime.block_on(print_lake_shape(&lake))?;
            all_met &= self.time_and_compare(&runtime, &engine, &lake_dir, &config)?;
        }
        if self.lake.is_none() {
            std::fs::remove_dir_all(&lake_dir)?;
        }
        println!(
            "\nEvery answer agreed between the engines. Target per query: within 2x of DuckDB or under 50 ms, whichever is larger; counts and group-bys under 1 s. {}",
            if all_met { "All met." } else { "Not all met." }
        );
        Ok(())
    }

    /// Times every query in both engines, prints them side by side, and
    /// fails if the answers differ; true if every target was met.
    fn time_and_compare(
        &self,
        runtime: &tokio::runtime::Runtime,
        engine: &QueryEngine,
        lake_dir: &std::path::Path,
        config: &Config,
    ) -> anyhow::Result<bool> {
        let sluice = runtime.block_on(time_sluice(engine, self.runs))?;
        let duckdb = time_duckdb(lake_dir, config, self.runs)?;

        println!(
            "\n{:<20} {:>22} {:>22} {:>8}  target",
            "query", "sluice ms", "duckdb ms", "ratio"
        );
        let mut all_met = true;
        for ((name, _), (s, d)) in QUERIES.iter().zip(sluice.iter().zip(&duckdb)) {
            let (s_med, d_med) = (median(&s.times), median(&d.times));
            let target = (d_med * 2).max(TARGET_FLOOR);
            let counting =
                name.contains("count") || name.contains("per day") || name.contains("by Host");
            let target = if counting {
                target.min(TARGET_COUNTS).max(TARGET_FLOOR)
            } else {
                target
            };
            let met = s_med <= target;
            all_met &= met;
            println!(
                "{name:<20} {:>22} {:>22} {:>7.2}x  {} {}",
                spread(&s.times),
                spread(&d.times),
                s_med.as_secs_f64() / d_med.as_secs_f64().max(1e-9),
                if met { "met" } else { "MISSED" },
                fmt_ms(target),
            );
            // SHOW, DESCRIBE and `select *` print types and values each
            // engine's own way; the counts and group-bys must agree exactly.
            let comparable = !["show", "describe", "select *"]
                .iter()
                .any(|p| name.starts_with(p));
            if comparable && s.answer != d.answer {
                bail!(
                    "`{name}`: sluice and DuckDB disagree:\n  sluice: {}\n  duckdb: {}",
                    s.answer,
                    d.answer
                );
            }
        }
        Ok(all_met)
    }

    fn write_lake(
        &self,
        runtime: &tokio::runtime::Runtime,
        lake_dir: &std::path::Path,
    ) -> anyhow::Result<()> {
        let plugins = super::plugins_dir(self.plugins.clone())?;
        let mut config = Config {
            plugin_dir: plugins,
            ..Config::default()
        };
        config.lake.url = lake_dir.display().to_string();
        // No background compaction while the lake is written: the bench
        // compacts when asked, and times the small files first.
        config.lake.compact_every = "off".to_string();
        // With --flushes, events come in that many chunks, each followed
        // by a pause longer than the files' flush age: one flush (one
        // commit per table, a file per partition) per chunk, as a day of
        // 10 s flushes gives.
        let pace = self.flushes.map(|flushes| {
            config.flush.seconds = 0.005;
            (
                (self.events / flushes.max(1)).max(1),
                Duration::from_millis(15),
            )
        });
        println!(
            "writing {} reference-shaped events over {} days through the default pipelines into {}...",
            self.events,
            self.days,
            lake_dir.display()
        );
        let started = Instant::now();
        let fed = runtime.block_on(start_fed_pipelines(&config, runtime.handle().clone()))?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        let span_ms = self.days as i64 * 86_400_000;
        let first_ms = now_ms - now_ms % 86_400_000 - span_ms + 86_400_000;
        let events = self.events;
        let mut mix = EventMix::new(1);
        feed_paced(
            &fed,
            &mut mix,
            events,
            config.limits.batch_size,
            |i| first_ms + (i as i128 * span_ms as i128 / events as i128) as i64,
            pace,
        )?;
        fed.finish()?;
        println!("written in {:.1} s", started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// The Delta commit latency while the lake was written, beside the writes
/// of the data files the commits added, from the bench's recorder.
fn print_commit_latency(text: &str) {
    let quantile = |metric: &str, q: &str| -> Vec<f64> {
        text.lines()
            .filter(|l| l.starts_with(metric) && l.contains(&format!("quantile=\"{q}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect()
    };
    let count = |metric: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(&format!("{metric}_count")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    println!(
        "\n{:<24} {:>8} {:>10} {:>10} {:>10}",
        "per table, ms", "count", "p50", "p99", "max"
    );
    for (name, metric) in [
        ("Delta commit", crate::telemetry::COMMIT_SECONDS),
        ("data file write", crate::telemetry::FILE_WRITE_SECONDS),
    ] {
        // The worst table's quantile (one summary per table).
        let worst = |q: &str| quantile(metric, q).into_iter().fold(0.0, f64::max) * 1000.0;
        println!(
            "{name:<24} {:>8} {:>10.2} {:>10.2} {:>10.2}",
            count(metric),
            worst("0.5"),
            worst("0.99"),
            worst("1"),
        );
    }
}

/// Files and versions per table: what the queries list and read.
async fn print_lake_shape(lake: &Lake) -> anyhow::Result<()> {
    for name in lake.directories().await? {
        let Ok(dir) = crate::lake::TableDir::table(&name) else {
            continue;
        };
        let Some(log) = crate::lake::TableLog::open(lake, &dir).await? else {
            continue;
        };
        println!(
            "{name}: version {}, {} files",
            log.version().unwrap_or(0),
            log.files()?.len()
        );
    }
    Ok(())
}

/// One query's timings in one engine, and its answer as text (to compare).
#[derive(Debug)]
struct Timed {
    times: Vec<Duration>,
    answer: String,
}

async fn time_sluice(engine: &QueryEngine, runs: usize) -> anyhow::Result<Vec<Timed>> {
    let mut out = Vec::new();
    for (name, sql) in QUERIES {
        let warm = engine
            .run(sql)
            .await
            .with_context(|| format!("sluice: `{name}`"))?;
        let answer = answer_of(&warm);
        let mut times = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            engine.run(sql).await?;
            times.push(started.elapsed());
        }
        out.push(Timed { times, answer });
    }
    Ok(out)
}

/// Rows as `a|b` lines, numbers plain: the same text DuckDB's side prints.
fn answer_of(result: &crate::query::QueryResult) -> String {
    let table = crate::query::render_table(&result.schema, &result.batches);
    // Keep the data lines only, trimmed per cell.
    table
        .lines()
        .skip(2)
        .filter(|l| !l.starts_with('('))
        .map(|l| l.split('|').map(|c| c.trim()).collect::<Vec<_>>().join("|"))
        .collect::<Vec<_>>()
        .join(";")
}

/// DuckDB on the same files, in a Python process: the tables (the files of
/// their current Delta version, as the `deltalake` package lists them) and
/// the `join_guilds` view as views over `read_parquet`, two threads as here.
const DUCKDB_SCRIPT: &str = r#"
import json, sys, time, duckdb
from deltalake import DeltaTable
lake, runs, views = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
queries = json.loads(sys.stdin.read())
con = duckdb.connect()
con.execute("SET threads = 2")
import os
for table in sorted(os.listdir(lake)):
    if table.startswith('_') or table.startswith('.'):
        continue
    # The files the table's current Delta version names (a glob would also
    # read files compaction replaced), through the deltalake package.
    files = DeltaTable(os.path.join(lake, table)).file_uris()
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true, union_by_name = true)")
for name, sql in views.items():
    con.execute(f"CREATE VIEW {name} AS {sql}")
out = []
for sql in queries:
    rows = con.execute(sql).fetchall()
    answer = ";".join("|".join("NULL" if v is None else str(v) for v in row) for row in rows)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t)
    out.append({"times": times, "answer": answer})
print(json.dumps(out))
"#;

fn time_duckdb(lake: &std::path::Path, config: &Config, runs: usize) -> anyhow::Result<Vec<Timed>> {
    let queries: Vec<&str> = QUERIES.iter().map(|(_, sql)| *sql).collect();
    let views = serde_json::to_string(&config.views)?;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(lake)
        .arg(runs.to_string())
        .arg(views)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running python3 (pip install duckdb deltalake)")?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(serde_json::to_string(&queries)?.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "the DuckDB side failed (are `duckdb` and `deltalake` installed? pip install duckdb deltalake)"
        );
    }
    #[derive(serde::Deserialize)]
    struct Side {
        times: Vec<f64>,
        answer: String,
    }
    let sides: Vec<Side> = serde_json::from_slice(&output.stdout).context("DuckDB's figures")?;
    Ok(sides
        .into_iter()
        .map(|s| Timed {
            times: s.times.into_iter().map(Duration::from_secs_f64).collect(),
            answer: s.answer,
        })
        .collect())
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn spread(times: &[Duration]) -> String {
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    format!(
        "{} ({}–{})",
        fmt_ms(median(times)),
        fmt_ms(min),
        fmt_ms(max)
    )
}

fn fmt_ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}
