//! The pipeline end to end with real processes: `sluice broker`, a real
//! Kafka producer, `sluice pipeline` writing the lake, read back from the
//! Parquet files. Killing the pipeline with -9 mid-stream and restarting it
//! leaves every table with every matching event exactly once.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::kafka::{self, Broker, default_pipelines, produce, write_config};
use crate::lake::{row_counts, string_column};
use crate::support::*;

const TABLES: [&str; 4] = [
    "events_buy",
    "events_guild",
    "events_user",
    "sword_purchases",
];

/// The `i`th test event and the tables it must land in.
fn event(i: usize) -> (String, &'static [&'static str]) {
    let id = format!("evt-{i:07}");
    match i % 7 {
        0 => (
            format!(
                r#"{{"event_type": "purchase_sword", "event_id": "{id}", "Host": "user1.comcast.com", "User-Agent": "ApacheBench/2.3"}}"#
            ),
            &["events_buy", "sword_purchases"],
        ),
        1 => (
            format!(
                r#"{{"event_type": "purchase_knife", "event_id": "{id}", "description": "very sharp knife", "Host": "user2.att.com"}}"#
            ),
            &["events_buy"],
        ),
        2 => (
            format!(
                r#"{{"event_type": "buy_item", "event_id": "{id}", "username": "user{i}", "item_type": "shield", "item_quality": "common", "inventory": ["sword", "shield"], "Host": "user1.comcast.com"}}"#
            ),
            &["events_buy"],
        ),
        3 => (
            format!(
                r#"{{"event_type": "join_guild", "event_id": "{id}", "username": "user{i}", "guild_name": "knights", "Host": "user1.comcast.com"}}"#
            ),
            &["events_guild"],
        ),
        4 => (
            format!(
                r#"{{"event_type": "signup", "event_id": "{id}", "username": "user{i}", "user_info": {{"session_datetime": "2026-11-29 10:00:00", "inventory": []}}}}"#
            ),
            &["events_user"],
        ),
        5 => (
            format!(
                r#"{{"event_type": "login", "event_id": "{id}", "username": "user{i}", "user_info": {{"session_datetime": "2026-11-29 10:00:00", "inventory": ["sword"]}}}}"#
            ),
            &["events_user"],
        ),
        _ => (
            format!(r#"{{"event_type": "default", "event_id": "{id}"}}"#),
            &[],
        ),
    }
}

fn expected(range: std::ops::Range<usize>) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = TABLES.iter().map(|t| (t.to_string(), 0)).collect();
    for i in range {
        for t in event(i).1 {
            *counts.get_mut(*t).unwrap() += 1;
        }
    }
    counts
}

/// Events `range`, keyed by user so each user's events keep their order.
fn produce_events(brokers: &str, range: std::ops::Range<usize>) {
    produce(
        brokers,
        range.map(|i| (format!("user{}", i % 97), event(i).0.into_bytes())),
    );
}

const PIPELINE_LOGS: [&str; 5] = [
    "pipeline-0",
    "pipeline-1",
    "pipeline-2",
    "pipeline-3",
    "pipeline-4",
];

fn start_pipeline(dir: &Path, brokers: &str, log: &'static str) -> Sluice {
    let config = write_config(dir, "sluice.toml", 400, &default_pipelines());
    kafka::start_pipeline(dir, &config, brokers, log)
}

/// Waits up to `secs` for every table to hold the rows `want`s, then
/// asserts it, printing what each table holds if not.
fn assert_rows_within(secs: u64, lake: &Path, want: &HashMap<String, usize>, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while &row_counts(lake, &TABLES) != want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(&row_counts(lake, &TABLES), want, "{what}");
}

fn assert_exactly_once(lake: &Path, produced: usize) {
    let want = expected(0..produced);
    let got = row_counts(lake, &TABLES);
    assert_eq!(got, want, "rows per table");
    for table in TABLES {
        let ids = string_column(lake, table, "event_id");
        let unique: HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{table} holds duplicates");
    }
}

#[test]
fn events_flow_from_kafka_through_plugins_into_parquet_exactly_once_across_kill_9() {
    let dir = scratch_dir();
    let started = std::time::Instant::now();
    let broker = Broker::start(dir.path());
    let brokers = broker.brokers.clone();

    const ROUND: usize = 3000;
    const TOTAL: usize = ROUND * PIPELINE_LOGS.len();
    produce_events(&brokers, 0..ROUND);
    let mut pipeline = start_pipeline(dir.path(), &brokers, "pipeline-0");
    let lake = dir.path().join("lake");
    eventually(180, "the first events in the lake", || {
        row_counts(&lake, &["events_buy"])["events_buy"] > 0
    });
    eprintln!("first rows after {:?}", started.elapsed());
    // Crash it mid-stream, at different moments, while more events arrive
    // and files are being written.
    for (round, log) in PIPELINE_LOGS.iter().enumerate().skip(1) {
        produce_events(&brokers, round * ROUND..(round + 1) * ROUND);
        std::thread::sleep(Duration::from_millis(100 + 300 * round as u64 % 1000));
        pipeline.kill();
        eprintln!("kill {round} after {:?}", started.elapsed());
        pipeline = start_pipeline(dir.path(), &brokers, log);
        // Once it owns the partitions again (the group waits out the dead
        // member's session), it is writing when the next kill comes.
        wait_for_log(
            &dir.path().join(format!("{log}.log")),
            "Partitions assigned.",
        );
    }
    let want = expected(0..TOTAL);
    assert_rows_within(
        300,
        &lake,
        &want,
        "rows per table, 300 s after the last restart",
    );
    eprintln!(
        "all {TOTAL} events in the lake after {:?}",
        started.elapsed()
    );
    // A clean stop flushes and leaves nothing extra behind.
    assert!(pipeline.terminate().success() || cfg!(not(unix)));
    assert_exactly_once(&lake, TOTAL);

    // Files are named for the offsets they hold; temporaries never show.
    for file in crate::lake::table_files(&lake, "events_buy") {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("part-events-"), "{name}");
        assert!(
            file.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("date=")
        );
    }
}

fn published(dir: &Path, log: &str) -> usize {
    std::fs::read_to_string(dir.join(format!("{log}.log")))
        .unwrap_or_default()
        .matches("Committed a file.")
        .count()
}

#[test]
fn two_pipeline_processes_split_the_partitions_and_survive_one_killed_with_9() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    let brokers = broker.brokers.clone();
    let config = write_config(dir.path(), "sluice.toml", 400, &default_pipelines());
    let lake = dir.path().join("lake");

    let mut a = kafka::start_pipeline(dir.path(), &config, &brokers, "a");
    wait_for_log(&dir.path().join("a.log"), "Partitions assigned.");
    let b = kafka::start_pipeline(dir.path(), &config, &brokers, "b");
    wait_for_log(&dir.path().join("b.log"), "Partitions assigned.");
    produce_events(&brokers, 0..4000);
    eventually(120, "both processes writing files", || {
        published(dir.path(), "a") > 0 && published(dir.path(), "b") > 0
    });

    // One dies mid-stream; the survivor takes its partitions over once its
    // session times out, and lands every event once.
    a.kill();
    produce_events(&brokers, 4000..8000);
    let want = expected(0..8000);
    assert_rows_within(180, &lake, &want, "rows per table");
    let mut b = b;
    assert!(b.terminate().success());
    assert_exactly_once(&lake, 8000);
}

#[test]
fn the_pipeline_rides_out_the_broker_being_killed_and_restarted() {
    let dir = scratch_dir();
    let mut broker = Broker::start(dir.path());
    let brokers = broker.brokers.clone();
    let lake = dir.path().join("lake");
    produce_events(&brokers, 0..2000);
    let mut pipeline = start_pipeline(dir.path(), &brokers, "pipeline");
    eventually(120, "the first events in the lake", || {
        row_counts(&lake, &["events_buy"])["events_buy"] > 0
    });
    broker.crash_and_restart(dir.path(), "broker-2");
    produce_events(&brokers, 2000..4000);
    let want = expected(0..4000);
    assert_rows_within(180, &lake, &want, "rows per table");
    let log = dir.path().join("pipeline.log");
    // Lag comes from librdkafka's statistics, every 5 s.
    eventually(30, "consumer lag in /metrics", || {
        scrape_metrics(&log).contains("sluice_consumer_lag{")
    });
    let metrics = scrape_metrics(&log);
    for name in [
        "sluice_events_in_total{pipeline=\"game_events\"}",
        "sluice_rows_total{pipeline=\"game_events\",table=\"events_buy\"}",
        "sluice_files_total{pipeline=\"is_purchase\",table=\"sword_purchases\"}",
        "sluice_plugin_events_in_total{pipeline=\"is_purchase\",plugin=\"is_purchase\"}",
        "sluice_flush_seconds_count{table=\"events_buy\"}",
        "sluice_consumer_lag{topic=\"events\",partition=\"0\"}",
    ] {
        assert!(metrics.contains(name), "no {name} in /metrics:\n{metrics}");
    }
    assert!(pipeline.terminate().success());
    assert_exactly_once(&lake, 4000);
    outside_readers_agree(&lake, &want);
}

/// GET /metrics from a `sluice pipeline` process, found through the
/// address it prints at start.
fn scrape_metrics(log: &Path) -> String {
    use std::io::{Read, Write};
    let text = std::fs::read_to_string(log).unwrap();
    let addr = text
        .split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the metrics address in the log");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
        "{response}"
    );
    response
}

/// pyarrow and DuckDB, installed by `tests/run.sh`, read every table with
/// its Hive `date` partition, nested columns and the row counts expected.
fn outside_readers_agree(lake: &Path, want: &HashMap<String, usize>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/read_lake.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(lake)
        .args(TABLES)
        .output()
        .expect("running python3 (tests/run.sh installs pyarrow and duckdb)");
    assert!(
        out.status.success(),
        "read_lake.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for table in TABLES {
        let t = &seen[table];
        assert_eq!(t["pyarrow_rows"], want[table], "{table} by pyarrow");
        assert_eq!(t["duckdb_rows"], want[table], "{table} by duckdb");
        assert_eq!(t["schema"]["timestamp"], "timestamp[us, tz=UTC]", "{table}");
        assert_eq!(t["schema"]["raw_event"], "string", "{table}");
        assert_eq!(t["schema"]["date"], "string", "{table}: the Hive partition");
        assert_eq!(t["schema"]["user_agent"], "string", "{table}: User-Agent");
    }
    let user_info = seen["events_user"]["schema"]["user_info"].as_str().unwrap();
    assert!(
        user_info.starts_with("struct<") && user_info.contains("inventory: list<"),
        "events_user.user_info is a nested struct: {user_info}"
    );
    let inventory = seen["events_buy"]["schema"]["inventory"].as_str().unwrap();
    assert!(
        inventory.starts_with("list<"),
        "events_buy.inventory: {inventory}"
    );
}

#[test]
fn kafka_down_and_back_on_the_mock_cluster_loses_nothing() {
    // librdkafka's mock cluster, for fault injection only: it listens on
    // real sockets, so a real `sluice pipeline` process consumes from it.
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("events", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = scratch_dir();
    let lake = dir.path().join("lake");
    produce_events(&brokers, 0..1000);
    let mut pipeline = start_pipeline(dir.path(), &brokers, "pipeline");
    eventually(120, "the first events in the lake", || {
        row_counts(&lake, &["events_buy"])["events_buy"] > 0
    });
    cluster.broker_down(1).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    cluster.broker_up(1).unwrap();
    produce_events(&brokers, 1000..2000);
    let want = expected(0..2000);
    assert_rows_within(120, &lake, &want, "rows per table");
    let log = std::fs::read_to_string(dir.path().join("pipeline.log")).unwrap();
    assert!(
        log.contains("Kafka consumer error; librdkafka keeps retrying."),
        "the outage is reported in the log"
    );
    assert!(pipeline.terminate().success());
    assert_exactly_once(&lake, 2000);
}

#[test]
fn sigterm_stops_a_pipeline_paused_on_a_failing_plugin() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    // Every event makes `hostile` return garbage: three full batches of
    // them in a row pause the pipeline until a new version comes.
    produce(
        &broker.brokers,
        (0..400).map(|i| {
            (
                format!("k{i}"),
                br#"{"event_type": "garbage", "Host": "h"}"#.to_vec(),
            )
        }),
    );
    let config = write_config(
        dir.path(),
        "sluice.toml",
        1000,
        "[limits]\nbatch_size = 16\n[[pipeline]]\nname = \"hostile\"\nplugins = [\"hostile\"]\n\
         table = { name = \"hostile_events\", schema = \"event_type string\" }\n",
    );
    let mut pipeline = kafka::start_pipeline(dir.path(), &config, &broker.brokers, "paused");
    let log = dir.path().join("paused.log");
    wait_for_log(&log, "Pipeline paused");
    // SIGTERM: the process stops (it used to wait for the paused pipeline
    // for ever) and says why the failed batch is not written.
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pipeline.child.id().to_string())
        .status();
    let mut status = None;
    eventually(60, "sluice pipeline to exit after SIGTERM", || {
        status = pipeline.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success(), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Stopping while paused on a failing plugin"),
        "{text}"
    );
}

/// The broker lost its data (a new one, its topic's offsets from 0): the
/// pipeline stops by itself with the two offsets and the setting that
/// resolves it, drops nothing, and with `incarnation = 1` lands the new
/// events beside the old.
#[test]
fn a_recreated_topic_stops_the_pipeline_until_a_new_incarnation() {
    let dir = scratch_dir();
    let lake = dir.path().join("lake");
    let broker = Broker::start(dir.path());
    produce_events(&broker.brokers, 0..300);
    let mut first = start_pipeline(dir.path(), &broker.brokers, "first");
    assert_rows_within(120, &lake, &expected(0..300), "rows per table");
    assert!(first.terminate().success());
    drop(broker);

    let elsewhere = scratch_dir();
    let broker = Broker::start(elsewhere.path());
    produce_events(&broker.brokers, 0..40);
    let mut second = start_pipeline(dir.path(), &broker.brokers, "second");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = second.child.try_wait().unwrap() {
            break status;
        }
        let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
        assert!(
            std::time::Instant::now() < deadline,
            "the pipeline did not stop by itself:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!status.success());
    let log = std::fs::read_to_string(dir.path().join("second.log")).unwrap();
    for needle in [
        "the topic was recreated",
        "but the partition ends at",
        "set `incarnation = 1` under [source]",
    ] {
        assert!(log.contains(needle), "`{needle}` in:\n{log}");
    }
    assert_eq!(
        row_counts(&lake, &TABLES),
        expected(0..300),
        "nothing dropped or added"
    );

    let config = dir.path().join("sluice.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("[source]\n", "[source]\nincarnation = 1\n", 1),
    )
    .unwrap();
    let mut third = kafka::start_pipeline(dir.path(), &config, &broker.brokers, "third");
    let mut want = expected(0..300);
    for (table, n) in expected(0..40) {
        *want.get_mut(&table).unwrap() += n;
    }
    assert_rows_within(120, &lake, &want, "the new life's events beside the old");
    assert!(third.terminate().success());
}

/// Straight from memory (`FedPipelines`: the pipelines' own threads,
/// plugins, decoders and lake writer, no broker), every event ends in
/// exactly one place per pipeline: a row of each table its route names, a
/// dead letter that carries it, or nowhere when no table wants it. Never
/// two places, never none when one is due.
#[test]
fn every_fed_event_ends_in_exactly_one_place_per_pipeline() {
    use sluice::plugin::{EventBatch, EventMeta};
    use sluice::source::SourceBatch;

    let dir = scratch_dir();
    let lake = dir.path().join("lake");
    let mut config = sluice::config::Config {
        plugin_dir: PLUGINS.into(),
        ..Default::default()
    };
    config.lake.url = lake.display().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fed = runtime
        .block_on(sluice::service::start_fed_pipelines(
            &config,
            runtime.handle().clone(),
        ))
        .unwrap();

    // Every route and `default` (no table wants it), then bad events: not
    // JSON (refused at every pipeline's entry), and a `buy_item` whose
    // inventory is not a list (refused by `events_buy`'s decoder; not a
    // purchase, so `is_purchase` drops it).
    let good = 700;
    let mut events: Vec<String> = (0..good).map(|i| event(i).0).collect();
    let not_json: Vec<String> = (0..5)
        .map(|k| format!("not json evt-bad-entry-{k}"))
        .collect();
    let misfits: Vec<String> = (0..5)
        .map(|k| {
            format!(
                r#"{{"event_type": "buy_item", "event_id": "evt-bad-type-{k}", "username": "u", "inventory": "sword"}}"#
            )
        })
        .collect();
    for (k, bad) in not_json.iter().chain(&misfits).enumerate() {
        events.insert(k * 67 + 3, bad.clone());
    }
    let mut offsets = [0i64; 4];
    for chunk in events.chunks(128) {
        let mut batch = EventBatch::with_capacity(chunk.len(), chunk.len() * 200);
        for (i, json) in chunk.iter().enumerate() {
            let partition = i % 4;
            batch.push(
                json.as_bytes(),
                EventMeta {
                    partition: partition as i32,
                    offset: offsets[partition],
                    timestamp_ms: 1_764_410_400_000,
                },
            );
            offsets[partition] += 1;
        }
        fed.deliver(&Arc::new(SourceBatch::new(Arc::from("events"), batch)))
            .unwrap();
    }
    fed.finish().unwrap();

    for table in TABLES {
        let ids: Vec<String> = string_column(&lake, table, "event_id")
            .into_iter()
            .map(Option::unwrap)
            .collect();
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{table} holds an event twice");
        let want: HashSet<String> = (0..good)
            .filter(|&i| event(i).1.contains(&table))
            .map(|i| format!("evt-{i:07}"))
            .collect();
        let got: HashSet<String> = ids.into_iter().collect();
        assert_eq!(got, want, "{table}");
    }
    let carried = |pipeline: &str| -> Vec<String> {
        let mut raw: Vec<String> = string_column(
            &lake,
            &format!("_dead_letters/pipeline={pipeline}"),
            "raw_event",
        )
        .into_iter()
        .map(Option::unwrap)
        .collect();
        raw.sort();
        raw
    };
    let mut want: Vec<String> = not_json.iter().chain(&misfits).cloned().collect();
    want.sort();
    assert_eq!(carried("game_events"), want, "game_events' dead letters");
    let mut want = not_json.clone();
    want.sort();
    assert_eq!(carried("is_purchase"), want, "is_purchase's dead letters");
}
