//! Bad input through the whole pipeline (`sluice broker`, a real producer,
//! `sluice pipeline`, the lake): every bad event becomes a dead letter with
//! a reason, good events around it still land, and a plugin that changes a
//! table's column type is refused when the pipeline starts, naming it.

use std::path::Path;

use crate::kafka::{Broker, default_pipelines, produce, produce_one, start_pipeline, write_config};
use crate::lake::{row_counts, string_column};
use crate::support::*;

/// A third pipeline next to the default two: `event_ops` rejects events
/// without an `event_type`, and its default table wants an int in `n`.
const OPS_PIPELINE: &str = r#"
[[pipeline]]
name = "ops"
plugins = ["event_ops"]
table = { name = "ops_events", schema = "event_type string, event_id string, n int" }
"#;

fn dead_letters(lake: &Path, pipeline: &str) -> Vec<(String, String)> {
    let table = format!("_dead_letters/pipeline={pipeline}");
    let reasons = string_column(lake, &table, "reason");
    let raw = string_column(lake, &table, "raw_event");
    reasons
        .into_iter()
        .zip(raw)
        .map(|(r, e)| (r.unwrap(), e.unwrap()))
        .collect()
}

#[test]
fn bad_events_become_dead_letters_and_good_ones_still_land() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    let deep = format!(
        r#"{{"event_type": "purchase_sword", "a": {}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    // Over `max_event_bytes` (1 MiB), under what the broker stores.
    let huge = format!(
        r#"{{"event_type": "purchase_sword", "pad": "{}"}}"#,
        "x".repeat(4 << 20)
    );
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", br#"{"event_type": "purchase_sword", "#.to_vec()),
        (
            "invalid UTF-8",
            b"{\"event_type\": \"purchase_sword\", \"x\": \"\xff\xfe\"}".to_vec(),
        ),
        ("an array", b"[1, 2, 3]".to_vec()),
        ("a scalar", b"42".to_vec()),
        ("depth 10,000", deep.into_bytes()),
        ("4 MB", huge.into_bytes()),
    ];
    let good = [
        r#"{"event_type": "purchase_sword", "event_id": "good-1", "n": 1}"#,
        r#"{"event_id": "no-type"}"#,
        r#"{"event_type": "purchase_sword", "event_id": "string-for-int", "n": "seven"}"#,
        r#"{"event_type": "join_guild", "event_id": "good-2", "guild_name": "knights", "username": "u1"}"#,
    ];
    // All on one key, so one partition: the good events come after the bad.
    let records = bad
        .iter()
        .map(|(_, payload)| payload.clone())
        .chain(good.iter().map(|g| g.as_bytes().to_vec()))
        .map(|payload| ("one-key".to_string(), payload));
    produce(&broker.brokers, records);

    // 10 MB: over the embedded broker's max.message.bytes (8 MiB), so it
    // is refused at produce with Kafka's own error, and the partition keeps
    // flowing behind it.
    let ten_mb = format!(
        r#"{{"event_type": "purchase_sword", "pad": "{}"}}"#,
        "x".repeat(10 << 20)
    );
    let refused = produce_one(&broker.brokers, ten_mb.as_bytes()).expect_err("10 MB refused");
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge),
        "{refused}"
    );
    produce_one(
        &broker.brokers,
        br#"{"event_type": "purchase_sword", "event_id": "good-3"}"#,
    )
    .expect("a normal event after the refused one");

    let pipelines = default_pipelines() + OPS_PIPELINE;
    let config = write_config(dir.path(), "sluice.toml", 1000, &pipelines);
    let _pipeline = start_pipeline(dir.path(), &config, &broker.brokers, "pipeline");
    let lake = dir.path().join("lake");
    // Every pipeline sees every event: the six bad ones are dead letters in
    // each; `ops` also rejects the event with no type and the string for
    // an int.
    eventually(120, "the dead letters and good rows", || {
        dead_letters(&lake, "game_events").len() == 6
            && dead_letters(&lake, "is_purchase").len() == 6
            && dead_letters(&lake, "ops").len() == 8
            && row_counts(&lake, &["ops_events"])["ops_events"] == 4
            && row_counts(&lake, &["events_buy"])["events_buy"] == 3
            && row_counts(&lake, &["events_guild"])["events_guild"] == 1
            && row_counts(&lake, &["sword_purchases"])["sword_purchases"] == 3
    });
    for pipeline in ["game_events", "is_purchase", "ops"] {
        let letters = dead_letters(&lake, pipeline);
        let reasons: Vec<&str> = letters.iter().map(|(r, _)| r.as_str()).collect();
        for (what, needle) in [
            ("not JSON", "not JSON"),
            ("invalid UTF-8", "not valid UTF-8"),
            ("an array", "JSON array, not an object"),
            ("a scalar", "not an object"),
            ("depth 10,000", "nests deeper than"),
            ("4 MB", "over the limit of 1048576 bytes"),
        ] {
            assert!(
                reasons.iter().any(|r| r.contains(needle)),
                "{pipeline}: no dead letter for {what} (`{needle}`) in {reasons:?}"
            );
        }
        let huge = letters
            .iter()
            .find(|(r, _)| r.contains("over the limit"))
            .unwrap();
        assert_eq!(
            huge.1.len(),
            64 * 1024,
            "a huge event keeps its first 64 KiB"
        );
        assert!(
            huge.1
                .starts_with(r#"{"event_type": "purchase_sword", "pad": "xxx"#)
        );
    }
    let ops = dead_letters(&lake, "ops");
    let reason_of = |raw: &str| {
        ops.iter()
            .find(|(_, event)| event == raw)
            .map(|(reason, _)| reason.clone())
            .unwrap_or_else(|| panic!("no dead letter in `ops` for {raw}"))
    };
    let no_type = reason_of(good[1]);
    assert!(
        no_type.contains("event has no string `event_type`"),
        "{no_type}"
    );
    let mismatch = reason_of(good[2]);
    assert!(
        mismatch.contains("column `n` is int") && mismatch.contains("seven"),
        "{mismatch}"
    );

    // The good events landed, once.
    let ids = |table| {
        let mut ids: Vec<String> = string_column(&lake, table, "event_id")
            .into_iter()
            .flatten()
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids("events_buy"), ["good-1", "good-3", "string-for-int"]);
    assert_eq!(ids("events_guild"), ["good-2"]);
    assert_eq!(
        ids("sword_purchases"),
        ["good-1", "good-3", "string-for-int"]
    );
    // `event_ops` adds a `guild_member_added` event (no id) for the join.
    assert_eq!(ids("ops_events"), ["good-1", "good-2", "good-3"]);
}

fn evolving_pipeline(schema: &str) -> String {
    format!(
        r#"
[[pipeline]]
name = "evolve"
plugins = ["keep_all"]
table = {{ name = "evolving", schema = "{schema}" }}
"#
    )
}

#[test]
fn a_table_may_gain_columns_but_a_changed_column_type_is_refused_at_load() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    let lake = dir.path().join("lake");
    let v1 = write_config(
        dir.path(),
        "v1.toml",
        1000,
        &evolving_pipeline("event_type string, n int"),
    );
    produce(
        &broker.brokers,
        [("k".to_string(), br#"{"event_type": "a", "n": 1}"#.to_vec())],
    );
    let mut first = start_pipeline(dir.path(), &v1, &broker.brokers, "v1");
    eventually(120, "the first row", || {
        row_counts(&lake, &["evolving"])["evolving"] == 1
    });
    assert!(first.terminate().success());

    // `n` turns into a string: refused before anything is consumed.
    let v2 = write_config(
        dir.path(),
        "v2.toml",
        1000,
        &evolving_pipeline("event_type string, n string"),
    );
    let (ok, _, stderr) = sluice(
        &[
            "pipeline",
            "--config",
            v2.to_str().unwrap(),
            "--brokers",
            &broker.brokers,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert!(!ok, "a changed column type must be refused");
    assert!(
        stderr.contains("table `evolving`")
            && stderr.contains("column `n` changes type from `int` to `string`"),
        "{stderr}"
    );

    // A new nullable column is fine; old files read it as null.
    let v3 = write_config(
        dir.path(),
        "v3.toml",
        1000,
        &evolving_pipeline("event_type string, n int, note string"),
    );
    produce(
        &broker.brokers,
        [(
            "k".to_string(),
            br#"{"event_type": "b", "n": 2, "note": "new"}"#.to_vec(),
        )],
    );
    let _third = start_pipeline(dir.path(), &v3, &broker.brokers, "v3");
    eventually(120, "the second row", || {
        row_counts(&lake, &["evolving"])["evolving"] == 2
    });
    let mut notes = string_column(&lake, "evolving", "note");
    notes.sort();
    // The old file has no `note` column at all: it reads as null.
    assert_eq!(notes, [None, Some("new".to_string())]);
}

/// `sluice pipeline` with the default pipelines on `lake`, and no Kafka.
fn pipeline_on_lake(lake: &str) -> [&str; 9] {
    [
        "pipeline",
        "--lake",
        lake,
        "--plugin-dir",
        PLUGINS,
        "--brokers",
        "127.0.0.1:1",
        "--metrics-listen",
        "127.0.0.1:0",
    ]
}

#[test]
fn an_unusable_lake_is_reported_and_an_unreachable_hdfs_is_retried() {
    let dir = scratch_dir();
    // A lake path under a regular file can never be created.
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let unwritable = dir.path().join("a-file/lake");
    let (ok, _, stderr) = sluice(&pipeline_on_lake(unwritable.to_str().unwrap()), dir.path());
    assert!(!ok);
    assert!(
        stderr.contains("is not writable") && stderr.contains("a-file/lake"),
        "{stderr}"
    );

    // Nothing listens on this port: the lake is retried with backoff, and
    // each retry is logged, instead of the process dying at once.
    let port = free_port();
    let url = format!("hdfs://127.0.0.1:{port}/lake");
    let mut pipeline = Sluice::start("hdfs", &pipeline_on_lake(&url), dir.path());
    wait_for_log(&dir.path().join("hdfs.log"), "attempt=3");
    let log = std::fs::read_to_string(dir.path().join("hdfs.log")).unwrap();
    assert!(
        log.contains("Failed; retrying.") && log.contains("open the lake") && log.contains(&url),
        "{log}"
    );
    assert!(
        pipeline.child.try_wait().unwrap().is_none(),
        "still running"
    );
}

#[test]
fn a_table_directory_that_cannot_be_written_is_retried_and_nothing_is_lost() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    let lake = dir.path().join("lake");
    let config = write_config(dir.path(), "sluice.toml", 100, &default_pipelines());
    let guild = |i: usize| {
        (
            format!("u{}", i % 13),
            format!(
                r#"{{"event_type": "join_guild", "event_id": "g{i}", "guild_name": "knights"}}"#
            )
            .into_bytes(),
        )
    };
    produce(&broker.brokers, (0..300).map(guild));
    let mut pipeline = start_pipeline(dir.path(), &config, &broker.brokers, "pipeline");
    eventually(120, "the first rows", || {
        row_counts(&lake, &["events_guild"])["events_guild"] == 300
    });

    // The table's directory turns into a file: every write to it fails.
    let table = lake.join("events_guild");
    let aside = lake.join(".events_guild-aside");
    std::fs::rename(&table, &aside).unwrap();
    std::fs::write(&table, "in the way").unwrap();
    produce(&broker.brokers, (300..600).map(guild));
    wait_for_log(
        &dir.path().join("pipeline.log"),
        "retrying, nothing is lost.",
    );
    std::fs::remove_file(&table).unwrap();
    std::fs::rename(&aside, &table).unwrap();

    eventually(120, "every row after the lake came back", || {
        row_counts(&lake, &["events_guild"])["events_guild"] == 600
    });
    assert!(pipeline.terminate().success());
    let mut ids: Vec<String> = string_column(&lake, "events_guild", "event_id")
        .into_iter()
        .flatten()
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 600, "every event once");
}

/// A process whose consumer cannot run must not live on serving `/metrics`
/// with nothing flowing: it exits non-zero with the reason, so a supervisor
/// (Docker's restart policy, systemd) sees it and restarts it.
#[test]
fn a_pipeline_process_whose_source_fails_exits_with_the_reason() {
    let dir = scratch_dir();
    let lake = dir.path().join("lake");
    // `^(` is a topic pattern librdkafka refuses at subscribe.
    let config = dir.path().join("bad-topic.toml");
    std::fs::write(
        &config,
        format!(
            "plugin_dir = \"{PLUGINS}\"\n[source]\ntopics = [\"^(\"]\n[lake]\nurl = \"{}\"\n{}",
            lake.display(),
            default_pipelines()
        ),
    )
    .unwrap();
    let mut pipeline = Sluice::start(
        "pipeline",
        &[
            "pipeline",
            "--config",
            config.to_str().unwrap(),
            "--brokers",
            "127.0.0.1:1",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    let mut status = None;
    eventually(60, "the pipeline process to exit", || {
        status = pipeline.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(!status.unwrap().success());
    let log = std::fs::read_to_string(dir.path().join("pipeline.log")).unwrap();
    assert!(
        log.contains("A pipeline stopped by itself")
            && log.contains("error: cannot subscribe to topics [\"^(\"]"),
        "{log}"
    );
}
