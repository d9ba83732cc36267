//! The README's five-minute tour, run as it is written: every ```sh block
//! of its section, in order, with bash, against a fresh `sluice serve` with
//! no config (the README's main command). `sluice` is this checkout's
//! binary and port 5000 is the test's own port; nothing else is changed, so
//! the README cannot rot without this test failing.

use std::path::Path;
use std::process::Command;

use crate::support::*;

const README: &str = include_str!("../../README.md");

/// The ```sh blocks of the README's tour section.
fn tour_blocks() -> Vec<&'static str> {
    let section = README
        .split("## A five-minute tour")
        .nth(1)
        .expect("the README has a tour section")
        .split("\n## ")
        .next()
        .unwrap();
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("\n```").next().unwrap())
        .collect()
}

/// Runs one block with bash in `dir`, failing on the first failing command.
fn run_block(dir: &Path, port: u16, block: &str) -> String {
    let script = format!(
        "set -euo pipefail\nsluice() {{ '{}' \"$@\"; }}\n{}\n",
        sluice_bin().display(),
        block.replace("127.0.0.1:5000", &format!("127.0.0.1:{port}"))
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        // The clients' default server, the way `--url` would set it.
        .env("SLUICE_URL", format!("http://127.0.0.1:{port}"))
        // Plugin builds share the tests' scaffold target folder, so the
        // SDK is not compiled again for every run.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(PLUGINS).join("../../scaffold"),
        )
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README's tour block failed:\n{block}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_readme_tour_runs_as_written() {
    let blocks = tour_blocks();
    assert_eq!(blocks.len(), 5, "the tour's blocks: {blocks:#?}");

    let dir = scratch_dir();
    let (port, broker_port) = (free_port(), free_port());
    let _serve = Sluice::start(
        "serve",
        &[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--broker-listen",
            &format!("127.0.0.1:{broker_port}"),
        ],
        dir.path(),
    );
    wait_for_port(port, "sluice serve");

    // 1. Events: the load generator, ab, and alice's session.
    let made = run_block(dir.path(), port, blocks[0]);
    assert!(made.contains(", 0 errors"), "{made}");
    assert!(made.contains("Signup successful! Welcome alice."), "{made}");
    assert!(made.contains("Bought a sword!"), "{made}");

    // 2. The tail, from the beginning: three events, as JSON.
    let tail = run_block(dir.path(), port, blocks[1]);
    let lines: Vec<&str> = tail.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(lines.len(), 3, "{tail}");
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(event["event_type"].is_string(), "{line}");
    }

    // 3. SQL and the report.
    let sql = run_block(dir.path(), port, blocks[2]);
    for expected in [
        "events_buy",
        "sword_purchases",
        "join_guilds",
        // alice's guild join, by the Host she sent
        "user2.att.com",
        " item_type | item_quality |",
        "(5 rows)",
        // No event of the tour is broken: no dead letters to chart.
        "wrote sluice-report.html (5 of 6 charts",
        "No dead letters",
    ] {
        assert!(sql.contains(expected), "`{expected}` in:\n{sql}");
    }
    let report = std::fs::read_to_string(dir.path().join("sluice-report.html")).unwrap();
    assert!(report.contains("What this means:"));

    // 4. The plugin: scaffolded, rewritten, built, pushed, swapped in.
    let pushed = run_block(dir.path(), port, blocks[3]);
    assert!(
        pushed.contains("is_purchase: is_purchase") && pushed.contains("accepted"),
        "{pushed}"
    );
    assert!(
        pushed.contains("pipelines swapping it in: is_purchase"),
        "{pushed}"
    );

    // 5. The store's sword now lands in sword_purchases too.
    let after = run_block(dir.path(), port, blocks[4]);
    let buy_items = after
        .lines()
        .find(|l| l.contains("buy_item"))
        .unwrap_or_else(|| panic!("no buy_item row in sword_purchases:\n{after}"));
    assert_eq!(
        buy_items.rsplit('|').next().unwrap().trim(),
        "1",
        "one store sword: {after}"
    );
    assert!(after.contains("purchase_sword"), "{after}");
}
