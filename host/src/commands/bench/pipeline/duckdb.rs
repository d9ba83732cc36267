//! Part 1's yardstick: DuckDB doing the same job on the same events in the
//! same run, so the ratio survives a noisy machine.
//!
//! The events part 1 feeds (same seed, same count) are written once as JSON
//! lines. Then DuckDB, in a Python process with two threads as sluice has,
//! loads them into typed columns and routes them with SQL into the four
//! tables of the default pipelines, one Snappy Parquet file each. It runs
//! two ways:
//! - `typed`: `read_json` straight into the declared columns, the fastest
//!   way DuckDB has (but it keeps no `raw_event`, which sluice writes);
//! - `with raw_event`: each line kept as text beside its typed columns, as
//!   sluice's tables hold it.
//!
//! Each run's row counts are checked against the events made, as sluice's.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use super::super::events::EventMix;
use super::{Expected, WorkDir};

/// The two ways DuckDB is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Load {
    Typed,
    WithRawEvent,
}

impl Load {
    pub(super) const ALL: [Load; 2] = [Load::Typed, Load::WithRawEvent];

    pub(super) fn label(self) -> &'static str {
        match self {
            Load::Typed => "DuckDB, typed columns",
            Load::WithRawEvent => "DuckDB, with raw_event",
        }
    }
}

/// The events of part 1 as JSON lines, with the rows they call for.
pub(super) struct EventsFile {
    _work: WorkDir,
    path: PathBuf,
    pub(super) expected: Expected,
}

impl EventsFile {
    pub(super) fn write(events: u64, seed: u64) -> anyhow::Result<EventsFile> {
        use std::io::Write;
        let work = WorkDir::new("duckdb-events")?;
        let path = work.path().join("events.jsonl");
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut mix = EventMix::new(seed);
        let mut json = Vec::with_capacity(512);
        for _ in 0..events {
            mix.next_event(&mut json);
            out.write_all(&json)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(EventsFile {
            _work: work,
            path,
            expected: Expected::of(&mix),
        })
    }
}

/// One DuckDB run.
pub(super) struct DuckRun {
    pub(super) wall: Duration,
    pub(super) version: String,
}

/// Runs DuckDB once; `Ok(None)` when Python has no `duckdb` package.
pub(super) fn run(events: &EventsFile, load: Load) -> anyhow::Result<Option<DuckRun>> {
    let work = WorkDir::new("duckdb")?;
    let output = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&events.path)
        .arg(work.path())
        .arg(match load {
            Load::Typed => "typed",
            Load::WithRawEvent => "raw",
        })
        .output()
        .context("running python3 for the DuckDB side")?;
    if output.status.code() == Some(NO_DUCKDB) {
        return Ok(None);
    }
    if !output.status.success() {
        bail!(
            "the DuckDB side failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    #[derive(serde::Deserialize)]
    struct Figures {
        seconds: f64,
        version: String,
        rows: std::collections::BTreeMap<String, u64>,
    }
    let figures: Figures =
        serde_json::from_slice(&output.stdout).context("reading the DuckDB side's figures")?;
    events
        .expected
        .check_rows(|table| figures.rows.get(table).copied().unwrap_or(0))
        .context("DuckDB's tables")?;
    Ok(Some(DuckRun {
        wall: Duration::from_secs_f64(figures.seconds),
        version: figures.version,
    }))
}

/// The exit code of the script when `import duckdb` fails.
const NO_DUCKDB: i32 = 3;

/// argv: events.jsonl, output folder, `typed` or `raw`. Prints the seconds
/// from the first read to the last file written, and each table's rows.
/// The tables and their columns are the default pipelines'; the routing is
/// `game_events`'s and `is_purchase`'s, in SQL.
const SCRIPT: &str = r#"
import json, os, sys, time
try:
    import duckdb
except ImportError:
    sys.exit(3)
src, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET enable_progress_bar = false")
columns = {
    "event_type": "VARCHAR", "description": "VARCHAR", "Host": "VARCHAR",
    "Accept": "VARCHAR", "User-Agent": "VARCHAR", "event_id": "VARCHAR",
    "username": "VARCHAR", "item_type": "VARCHAR", "item_quality": "VARCHAR",
    "inventory": "VARCHAR[]", "guild_name": "VARCHAR",
    "user_info": "STRUCT(session_datetime VARCHAR, inventory VARCHAR[])",
}
started = time.perf_counter()
if mode == "raw":
    structure = {k: "VARCHAR" for k in columns}
    structure["inventory"] = ["VARCHAR"]
    structure["user_info"] = {"session_datetime": "VARCHAR", "inventory": ["VARCHAR"]}
    con.execute(
        "CREATE TEMP TABLE events AS SELECT line AS raw_event, "
        f"unnest(json_transform(line, '{json.dumps(structure)}')) "
        f"FROM read_csv('{src}', columns = {{'line': 'VARCHAR'}}, header = false, "
        "delim = chr(1), quote = '', escape = '', auto_detect = false)"
    )
    common = "raw_event, "
else:
    con.execute(
        f"CREATE TEMP TABLE events AS SELECT * FROM read_json('{src}', "
        f"format = 'newline_delimited', columns = {columns!r})"
    )
    common = ""
common += 'Accept AS accept, Host AS host, "User-Agent" AS user_agent, event_type, event_id'
tables = {
    "events_buy": (
        "username, item_type, item_quality, description, inventory, user_info",
        "event_type = 'buy_item' OR starts_with(event_type, 'purchase_')",
    ),
    "events_guild": ("username, guild_name", "event_type = 'join_guild'"),
    "events_user": ("username, user_info", "event_type IN ('signup', 'login')"),
    "sword_purchases": ("description", "event_type = 'purchase_sword'"),
}
rows = {}
for name, (select, where) in tables.items():
    path = os.path.join(out, name + ".parquet")
    rows[name] = con.execute(
        f"COPY (SELECT {common}, {select} FROM events WHERE {where}) "
        f"TO '{path}' (FORMAT parquet, COMPRESSION snappy)"
    ).fetchone()[0]
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "version": duckdb.__version__, "rows": rows}))
"#;
