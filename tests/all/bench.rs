//! `sluice bench pipeline` in a debug build: it runs its three parts on a
//! few events and prints each figure. The figures themselves mean nothing
//! here; `docs/performance.md` has release figures.

use crate::support::*;

#[test]
fn bench_pipeline_prints_its_three_figures() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().to_str().unwrap();
    let (ok, stdout, stderr) = sluice(
        &[
            "bench",
            "pipeline",
            "--events",
            "2000",
            "--runs",
            "1",
            "--plugins",
            PLUGINS,
            "--work-dir",
            work,
        ],
        dir.path(),
    );
    assert!(ok, "{stdout}\n{stderr}");
    for line in [
        "== 2k events ==",
        "1. pipelines fed from memory",
        "both pipelines, every event",
        "2. the broker",
        "bare consumer drains it",
        "3. end to end",
        "every event taken by both pipelines",
        "target (3) ≥ 80% of the pipeline core",
        "peak RSS (part 1)",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    // Both lakes held every table's rows (the bench checks the counts).
    assert_eq!(stdout.matches("rows: events_buy").count(), 2, "{stdout}");
    // Its work folders are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("sluice-bench-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
