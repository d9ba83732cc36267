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
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--quiet", "-p", "sluice", "--bin", "sluice"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        // Cargo gives a test process its package's variables
        // (CARGO_MANIFEST_DIR, CARGO_PKG_*, OUT_DIR, ...). Some build scripts (ring's)
        // rerun when those change, so passing them on would rebuild half the
        // dependency tree here, and again on the next `cargo test`.
        const PER_PACKAGE: [&str; 5] = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_PACKAGE",
        ];
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key == "OUT_DIR"
                || key == "CARGO_TARGET_TMPDIR"
                || PER_PACKAGE.iter().any(|p| key.starts_with(p))
            {
                cargo.env_remove(key.as_ref());
            }
        }
        let status = cargo
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

/// A `sluice` child process, killed (-9) when dropped.
pub struct Sluice {
    pub child: std::process::Child,
}

impl Sluice {
    pub fn start(name: &'static str, args: &[&str], dir: &Path) -> Sluice {
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new(sluice_bin())
            .args(args)
            .current_dir(dir)
            .env(
                "SLUICE_LOG",
                format!("info,{}", sluice::broker::TANSU_LOG_DIRECTIVES),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting sluice");
        Sluice { child }
    }

    /// kill -9, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scratch directory for one test; kept, and its path printed, when
/// `SLUICE_TEST_KEEP` is set, so the process logs in it can be read.
pub fn scratch_dir() -> tempfile::TempDir {
    let mut dir = tempfile::tempdir().unwrap();
    if std::env::var_os("SLUICE_TEST_KEEP").is_some() {
        dir.disable_cleanup(true);
        eprintln!("keeping {}", dir.path().display());
    }
    dir
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not listen on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Waits until `file` (a process's log) contains `text`.
pub fn wait_for_log(file: &Path, text: &str) {
    eventually(120, &format!("`{text}` in {}", file.display()), || {
        std::fs::read_to_string(file).is_ok_and(|log| log.contains(text))
    });
}

/// Polls `check` until it returns true, for at most `secs` seconds.
pub fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
