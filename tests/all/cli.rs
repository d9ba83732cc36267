//! The plugin author's command line, run as a user runs it: `sluice plugin
//! check` on the examples and on broken files, and `sluice plugin new` →
//! `build` → `check` from nothing.

use std::path::Path;

use crate::support::*;

#[test]
fn check_prints_the_description_and_what_happened_to_each_event() {
    let dir = tempfile::tempdir().unwrap();
    let game_events = wasm("game_events");
    let (ok, stdout, stderr) = sluice(
        &[
            "plugin",
            "check",
            game_events.to_str().unwrap(),
            "--events",
            REFERENCE_EVENTS,
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("plugin  game_events 0.1.0"), "{stdout}");
    assert!(
        stdout.contains("table   events_user: accept string, host string, user_agent string"),
        "{stdout}"
    );
    assert!(stdout.contains("events  12 from"), "{stdout}");
    assert!(stdout.contains("dropped 2 · routed 10"), "{stdout}");
    assert!(
        stdout.contains("routes  events_buy 6 · events_guild 2 · events_user 2"),
        "{stdout}"
    );

    let (ok, stdout, stderr) = sluice(
        &[
            "plugin",
            "check",
            wasm("event_ops").to_str().unwrap(),
            "--events",
            REFERENCE_EVENTS,
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("kept 9"), "{stdout}");
    assert!(
        stdout.contains("split 2 (into 4 new events) · rejected 1"),
        "{stdout}"
    );
    assert!(stdout.contains("rejected  line 11:"), "{stdout}");
}

#[test]
fn check_skips_and_reports_lines_that_are_not_json_objects() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        "{\"event_type\": \"purchase_sword\"}\nnot json\n[1, 2]\n\"a string\"\n{\"event_type\": \"join_guild\"}\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = sluice(
        &[
            "plugin",
            "check",
            wasm("is_purchase").to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("events  2 from"), "{stdout}");
    assert!(
        stdout.contains("(3 lines skipped: not JSON objects)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped line 2: not a JSON object: `not json`"),
        "{stdout}"
    );
    assert!(stdout.contains("kept 1 · dropped 1"), "{stdout}");
}

/// A broken plugin file gets one line naming the file and the cause.
fn check_fails(file: &Path, want: &str) {
    let (ok, stdout, stderr) = sluice(
        &["plugin", "check", file.to_str().unwrap()],
        file.parent().unwrap(),
    );
    assert!(!ok, "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(&file.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(lines[0].contains(want), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn broken_plugin_files_get_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm at all").unwrap();
    check_fails(
        &garbage,
        "is not a WebAssembly component: the file does not start with the wasm magic bytes",
    );

    let truncated = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(wasm("is_purchase")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    check_fails(&truncated, "is not a WebAssembly component");

    let core_module = dir.path().join("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
    check_fails(&core_module, "is not a WebAssembly component");

    let command = dir.path().join("not_a_plugin.wasm");
    std::fs::copy(wasm("not_a_plugin"), &command).unwrap();
    check_fails(&command, "is not a sluice plugin");

    check_fails(&dir.path().join("missing.wasm"), "cannot read plugin");

    let bad_schema = wasm("bad_schema");
    check_fails(
        &bad_schema,
        "describes table `broken` with a schema that does not parse: unknown type `strin` for `host`",
    );
}

#[test]
fn new_build_check_from_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = sluice(&["plugin", "new", "big_spender"], dir.path());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("created plugin `big_spender`"), "{stdout}");
    let crate_dir = dir.path().join("big_spender");
    assert!(crate_dir.join("src/lib.rs").is_file());

    // Reuse the guest workspace's compiled dependencies.
    let out = std::process::Command::new(sluice_bin())
        .args([
            "plugin",
            "build",
            crate_dir.to_str().unwrap(),
            "--out",
            "built",
        ])
        .current_dir(dir.path())
        .env(
            "CARGO_TARGET_DIR",
            Path::new(PLUGINS).join("../../scaffold"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("built built/big_spender.wasm"), "{stdout}");

    let (ok, stdout, stderr) = sluice(
        &[
            "plugin",
            "check",
            "built/big_spender.wasm",
            "--events",
            REFERENCE_EVENTS,
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("plugin  big_spender 0.1.0"), "{stdout}");
    assert!(stdout.contains("kept 2 · dropped 10"), "{stdout}");

    let (ok, _, stderr) = sluice(&["plugin", "new", "Bad-Name"], dir.path());
    assert!(!ok);
    assert!(stderr.contains("must be lower snake case"), "{stderr}");
    let (ok, _, stderr) = sluice(&["plugin", "new", "big_spender"], dir.path());
    assert!(!ok);
    assert!(stderr.contains("already exists"), "{stderr}");
}
