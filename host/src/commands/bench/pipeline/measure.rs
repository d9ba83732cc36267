//! What the pipeline benchmark reads off the process and the lake: peak
//! memory, CPU per thread, rows in Parquet footers, and medians of runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use parquet::file::metadata::ParquetMetaDataReader;

/// `100k`, `1M`, `10M`, `2.5M` or a plain number, `_` allowed.
pub(in crate::commands::bench) fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (digits, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'm' | 'M')) => (&t[..i], 1e6),
        Some((i, 'g' | 'G')) => (&t[..i], 1e9),
        _ => (t.as_str(), 1.0),
    };
    let n: f64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a count; write 100k, 1M, 10M or a number"))?;
    let n = (n * scale).round();
    if !(1.0..=1e12).contains(&n) {
        return Err(format!("`{s}`: the count must be between 1 and 10^12"));
    }
    Ok(n as u64)
}

/// A count as the figures print it: 100k, 1M, 2.5M, 1234.
pub(super) fn show_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 100_000 == 0 => {
            format!("{}M", n as f64 / 1e6)
        }
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Peak resident memory of this process (`VmHWM`), in bytes.
pub(super) fn peak_rss() -> Option<u64> {
    status_kib("self", "VmHWM:").map(|kib| kib << 10)
}

/// Peak resident memory of another process, in bytes.
pub(super) fn peak_rss_of(pid: u32) -> Option<u64> {
    status_kib(&pid.to_string(), "VmHWM:").map(|kib| kib << 10)
}

fn status_kib(process: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resets the peak to the current resident size (Linux 4.0+), so the next
/// [`peak_rss`] is the peak of what runs in between. False if the kernel
/// refused: then the peak covers the whole process so far.
pub(super) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// USER_HZ, the unit of CPU times in `/proc`, on every Linux this runs on.
const TICKS: f64 = 100.0;

/// CPU seconds (user + system) of the whole process, ended threads included.
pub(super) fn process_cpu() -> f64 {
    cpu_of_process("self")
}

/// CPU seconds (user + system) of another process.
pub(super) fn cpu_of(pid: u32) -> f64 {
    cpu_of_process(&pid.to_string())
}

fn cpu_of_process(process: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{process}/stat"))
        .ok()
        .and_then(|stat| cpu_of_stat(&stat).map(|(_, secs)| secs))
        .unwrap_or(0.0)
}

/// The name and CPU seconds in a `/proc/.../stat` line:
/// `pid (comm) state ppid ...`, where comm may hold spaces and parentheses.
fn cpu_of_stat(stat: &str) -> Option<(&str, f64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((&stat[open + 1..close], (utime + stime) / TICKS))
}

/// CPU seconds (user + system) per thread name of the threads of this
/// process alive now. Names are the kernel's, 15 bytes at most.
pub(super) fn cpu_by_thread() -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((name, secs)) = cpu_of_stat(&stat) else {
            continue;
        };
        *by_name.entry(group_name(name)).or_insert(0.0) += secs;
    }
    by_name
}

/// Thread names with their numbers taken off, so a pool's threads add up.
fn group_name(comm: &str) -> String {
    let trimmed = comm.trim_end_matches(|c: char| c.is_ascii_digit() || c == '#' || c == '-');
    if trimmed.is_empty() { comm } else { trimmed }.to_string()
}

/// CPU seconds per thread group spent between two [`cpu_by_thread`] readings.
pub(super) fn cpu_between(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> Vec<(String, f64)> {
    let mut spent: Vec<(String, f64)> = after
        .iter()
        .map(|(name, &secs)| {
            (
                name.clone(),
                secs - before.get(name).copied().unwrap_or(0.0),
            )
        })
        .filter(|(_, secs)| *secs >= 0.01)
        .collect();
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    spent
}

/// Where a run's CPU went: per thread group until just before the final
/// flush, and the whole process over the run (which adds the final flush
/// and threads that ended).
#[derive(Debug, Clone)]
pub(super) struct CpuSpent {
    pub(super) threads: Vec<(String, f64)>,
    pub(super) total: f64,
}

impl CpuSpent {
    pub(super) fn new(threads: Vec<(String, f64)>, total: f64) -> CpuSpent {
        CpuSpent { threads, total }
    }
}

/// Files and rows per table directory of a local lake, read from the
/// Parquet footers of the files in place (hidden files and the Delta logs
/// skipped). Right for a lake nothing compacted or crashed in, which is
/// what the bench writes: every file in place is then committed.
#[derive(Debug, Default, Clone)]
pub(super) struct LakeCount {
    /// Table (or `_dead_letters/pipeline=...`) → (files, rows).
    pub(super) tables: BTreeMap<String, (u64, u64)>,
}

impl LakeCount {
    pub(super) fn read(root: &Path) -> anyhow::Result<LakeCount> {
        let mut count = LakeCount::default();
        let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
            };
            for entry in entries {
                let entry = entry?;
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().to_string();
                if entry.file_type()?.is_dir() {
                    // Checkpoints in the Delta log are Parquet too.
                    if name != "_delta_log" {
                        stack.push(path);
                    }
                    continue;
                }
                if name.starts_with(['_', '.']) || !name.ends_with(".parquet") {
                    continue;
                }
                let file = std::fs::File::open(&path)?;
                let rows = ParquetMetaDataReader::new()
                    .parse_and_finish(&file)
                    .with_context(|| format!("reading the footer of {}", path.display()))?
                    .file_metadata()
                    .num_rows();
                let table = table_of(root, &path);
                let entry = count.tables.entry(table).or_insert((0, 0));
                entry.0 += 1;
                entry.1 += rows as u64;
            }
        }
        Ok(count)
    }

    pub(super) fn rows(&self, table: &str) -> u64 {
        self.tables.get(table).map_or(0, |t| t.1)
    }

    pub(super) fn files(&self) -> u64 {
        self.tables.values().map(|t| t.0).sum()
    }

    pub(super) fn total_rows(&self) -> u64 {
        self.tables.values().map(|t| t.1).sum()
    }
}

/// `events_buy` for `<root>/events_buy/date=.../part-...parquet`, and
/// `_dead_letters/pipeline=x` for dead letters.
fn table_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    match parts.first().map(String::as_str) {
        Some("_dead_letters") if parts.len() > 1 => format!("_dead_letters/{}", parts[1]),
        Some(first) => first.to_string(),
        None => String::new(),
    }
}

/// The median and range of a few samples.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spread {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Spread {
    pub(super) fn of(samples: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = samples.into_iter().collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let mid = v.len() / 2;
        let median = if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        };
        Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// `812,000 (790,000–830,000)`, rounded to thousands above 10,000.
    pub(super) fn rate(&self) -> String {
        if self.min == self.max {
            return thousands(self.median);
        }
        format!(
            "{} ({}–{})",
            thousands(self.median),
            thousands(self.min),
            thousands(self.max)
        )
    }

    /// `1.23 s (1.20–1.31)`.
    pub(super) fn secs(&self) -> String {
        if self.min == self.max {
            return format!("{:.2} s", self.median);
        }
        format!("{:.2} s ({:.2}–{:.2})", self.median, self.min, self.max)
    }
}

/// 1234567.8 → `1,235,000` (above 10,000: to the thousand), else `1,235`.
pub(super) fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let rounded = if x >= 10_000.0 {
        (x / 1000.0).round() as u64 * 1000
    } else {
        x.round() as u64
    };
    crate::report::thousands(rounded)
}

pub(super) fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_people_write_them() {
        assert_eq!(parse_count("100k"), Ok(100_000));
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert_eq!(parse_count("10M"), Ok(10_000_000));
        assert_eq!(parse_count("2.5m"), Ok(2_500_000));
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_count("2000"), Ok(2000));
        assert!(parse_count("lots").is_err());
        assert!(parse_count("0").is_err());
        assert_eq!(show_count(100_000), "100k");
        assert_eq!(show_count(10_000_000), "10M");
        assert_eq!(show_count(2_500_000), "2.5M");
        assert_eq!(show_count(2_001), "2001");
    }

    #[test]
    fn spreads_and_thousands() {
        let s = Spread::of([3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of([1.0, 2.0]).median, 1.5);
        assert_eq!(thousands(1_234_567.8), "1,235,000");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(12_345.0), "12,000");
    }

    #[test]
    fn cpu_is_read_from_stat_lines() {
        let stat = "42 (pipeline-is (x)) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0";
        assert_eq!(cpu_of_stat(stat), Some(("pipeline-is (x)", 2.0)));
        assert!(process_cpu() >= 0.0);
    }

    #[test]
    fn thread_names_group_pools() {
        assert_eq!(group_name("sluice-io-3"), "sluice-io");
        assert_eq!(group_name("rdk:broker1"), "rdk:broker");
        assert_eq!(group_name("pipeline-is_pur"), "pipeline-is_pur");
    }
}
