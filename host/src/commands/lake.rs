//! `sluice lake …`, `sluice compact`, `sluice vacuum` and `sluice history`:
//! the lake's Delta tables looked after by hand. The pipelines compact and
//! vacuum their own tables in the background; these do it now, or for a
//! lake no pipeline runs on.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::args::ConfigArgs;
use crate::lake::{CompactPolicy, DEAD_LETTERS_DIR, Lake, TableDir};

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Turn a lake an earlier sluice wrote (Parquet files, progress in their
    /// names) into Delta tables in place: nothing is copied or moved.
    Convert(ConvertCommand),
}

impl LakeCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            LakeCommand::Convert(c) => c.run(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ConvertCommand {
    #[command(flatten)]
    config: ConfigArgs,
}

impl ConvertCommand {
    fn run(self) -> anyhow::Result<()> {
        let config = self.config.load()?;
        super::runtime()?.block_on(async {
            let lake = open(&config.lake.url).await?;
            let converted = crate::lake::convert_lake(&lake).await?;
            if converted.is_empty() {
                println!(
                    "nothing to convert: every table in {} has a Delta log",
                    lake.url()
                );
            }
            for table in converted {
                if table.resumed {
                    println!(
                        "{}: an interrupted conversion finished ({} files, its schema recorded)",
                        table.table, table.files
                    );
                    continue;
                }
                println!(
                    "{}: {} files registered in version 0, progress of {} Kafka partitions kept",
                    table.table,
                    table.files,
                    table.progress.len()
                );
            }
            Ok(())
        })
    }
}

#[derive(Debug, Args)]
pub struct CompactCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// One table; all of them without.
    table: Option<String>,
    /// The size merged files aim for.
    #[arg(long, default_value = "128MiB", value_parser = parse_size)]
    target_size: u64,
    /// Today's files younger than this are left for later.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    min_age: Duration,
}

impl CompactCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let config = self.config.load()?;
        let policy = CompactPolicy {
            target_bytes: self.target_size,
            min_age: self.min_age,
        };
        super::runtime()?.block_on(async {
            let lake = open(&config.lake.url).await?;
            for dir in tables(&lake, self.table.as_deref()).await? {
                let done =
                    crate::lake::compact_table(&lake, &dir, &policy, SystemTime::now()).await?;
                match done.version {
                    Some(version) => println!(
                        "{}: {} small files merged into {} (version {version})",
                        done.table, done.replaced, done.written
                    ),
                    None => println!("{}: nothing to merge", done.table),
                }
            }
            Ok(())
        })
    }
}

#[derive(Debug, Args)]
pub struct VacuumCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// One table; all of them without.
    table: Option<String>,
    /// Keep files a version this recent still names (Delta's default: 7 days).
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    retention: Duration,
    /// List what would be deleted, and delete nothing.
    #[arg(long)]
    dry_run: bool,
}

impl VacuumCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let config = self.config.load()?;
        if self.retention < Duration::from_secs(3600) && !self.dry_run {
            eprintln!(
                "warning: a retention under an hour can delete files a running pipeline wrote and is about to commit; stop the pipelines first"
            );
        }
        super::runtime()?.block_on(async {
            let lake = open(&config.lake.url).await?;
            for dir in tables(&lake, self.table.as_deref()).await? {
                let files =
                    crate::lake::vacuum_table(&lake, &dir, self.retention, self.dry_run).await?;
                let verb = if self.dry_run {
                    "would delete"
                } else {
                    "deleted"
                };
                println!("{}: {verb} {} files", dir.table_name(), files.len());
                if self.dry_run {
                    for file in files {
                        println!("  {file}");
                    }
                }
            }
            Ok(())
        })
    }
}

#[derive(Debug, Args)]
pub struct HistoryCommand {
    #[command(flatten)]
    config: ConfigArgs,
    /// The table.
    table: String,
    /// Commits to show, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

impl HistoryCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let config = self.config.load()?;
        super::runtime()?.block_on(async {
            let lake = Lake::open_to_read(&config.lake.url)
                .await
                .with_context(|| format!("cannot read the lake at `{}`", config.lake.url))?;
            let dir = table_dir(&self.table)?;
            let history = crate::lake::TableLog::history(&lake, &dir, self.limit)
                .await?
                .with_context(|| format!("no Delta table `{}` in {}", self.table, lake.url()))?;
            println!(
                "{:>7}  {:<24}  {:<16}  {:>6}  {:>7}  {:>10}  plugins",
                "version", "time (UTC)", "operation", "added", "removed", "rows"
            );
            for commit in history {
                let time = commit
                    .timestamp_ms
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or_else(String::new, |t| {
                        t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
                    });
                println!(
                    "{:>7}  {:<24}  {:<16}  {:>6}  {:>7}  {:>10}  {}",
                    commit.version,
                    time,
                    commit.operation,
                    commit.files_added,
                    commit.files_removed,
                    commit.rows_added,
                    commit.plugins.join(" ")
                );
            }
            Ok(())
        })
    }
}

async fn open(url: &str) -> anyhow::Result<Lake> {
    Lake::open(url)
        .await
        .with_context(|| format!("cannot open the lake at `{url}`"))
}

fn table_dir(name: &str) -> anyhow::Result<TableDir> {
    if name == DEAD_LETTERS_DIR {
        Ok(TableDir::AllDeadLetters)
    } else {
        Ok(TableDir::table(name)?)
    }
}

/// The tables to work on: `one`, or every table of the lake.
async fn tables(lake: &Lake, one: Option<&str>) -> anyhow::Result<Vec<TableDir>> {
    if let Some(name) = one {
        return Ok(vec![table_dir(name)?]);
    }
    Ok(lake
        .directories()
        .await?
        .iter()
        .filter_map(|name| table_dir(name).ok())
        .collect())
}

/// `128MiB`, `64MB`, `1000000`: bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 128MiB"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}`; use KiB, MiB or GiB")),
    };
    Ok(number * scale)
}
