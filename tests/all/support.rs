//! What the tests share: the built plugins, batches from JSON lines, the
//! reference events, and the `sluice` binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sluice::plugin::{ChainOutput, EventBatch, EventMeta, Plugin, PluginEngine, SandboxLimits};

pub const PLUGINS: &str = env!("SLUICE_TEST_PLUGINS");
pub const REFERENCE_EVENTS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/data/reference_events.jsonl");

pub fn wasm(name: &str) -> PathBuf {
    Path::new(PLUGINS).join(format!("{name}.wasm"))
}

pub fn engine() -> PluginEngine {
    PluginEngine::new(SandboxLimits::default()).expect("plugin engine")
}

pub fn load(engine: &PluginEngine, name: &str) -> Plugin {
    Plugin::load_file(engine, &wasm(name)).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

pub fn reference_lines() -> Vec<String> {
    std::fs::read_to_string(REFERENCE_EVENTS)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// A batch of events on partition 0, offsets from 100, one second apart.
pub fn batch_of<S: AsRef<str>>(events: &[S]) -> EventBatch {
    let mut batch = EventBatch::new();
    for (i, e) in events.iter().enumerate() {
        batch.push(
            e.as_ref().as_bytes(),
            EventMeta {
                partition: 0,
                offset: 100 + i as i64,
                timestamp_ms: 1_764_410_000_000 + 1000 * i as i64,
            },
        );
    }
    batch
}

pub fn event_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The surviving events as (table, JSON value), in order.
pub fn survivors(out: &ChainOutput) -> Vec<(Option<String>, serde_json::Value)> {
    out.survivors
        .iter()
        .map(|s| {
            let json = std::str::from_utf8(out.json(s)).unwrap();
            (s.table.as_deref().map(str::to_string), event_json(json))
        })
        .collect()
}

/// The `sluice` binary of this checkout, built (or found up to date) once
/// per test process.
pub fn sluice_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "sluice", "--bin", "sluice"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("running cargo build for the sluice binary");
        assert!(status.success(), "building the sluice binary failed");
        // target/<profile>/deps/all-<hash> → target/<profile>/sluice
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().unwrap().parent().unwrap().join("sluice");
        assert!(bin.exists(), "no sluice binary at {}", bin.display());
        bin
    })
    .clone()
}

/// Runs `sluice ARGS` and returns (success, stdout, stderr).
pub fn sluice(args: &[&str], dir: &Path) -> (bool, String, String) {
    let out = Command::new(sluice_bin())
        .args(args)
        .current_dir(dir)
        .env("SLUICE_LOG", "warn")
        .output()
        .expect("running sluice");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
