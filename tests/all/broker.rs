//! `sluice broker` as its own process, against outside Kafka clients:
//! confluent-kafka (librdkafka), kafka-python and kafkajs in consumer
//! groups; kill -9 mid-produce and a torn tail; a group member killed; a
//! producer whose epoch is bumped; a 10 MB record; retention with a lagging
//! consumer; a full disk. The clients are scripts in tests/python and
//! tests/node (installed by tests/run.sh), each printing one JSON line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::kafka::Broker;
use crate::support::*;

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/kafka_clients.py");
const NODE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/node");

fn client_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("python3");
    command.arg(CLIENTS).args(args).current_dir(dir);
    command
}

/// Runs a client script to the end and returns its JSON line.
fn client(dir: &Path, args: &[&str]) -> Value {
    let out = client_command(dir, args)
        .output()
        .expect("running python3 (tests/run.sh installs confluent-kafka and kafka-python)");
    last_json(&out, &format!("kafka_clients.py {}", args.join(" ")))
}

fn last_json(out: &std::process::Output, what: &str) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{what} printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

/// Starts a client script in the background, its output in `<dir>/<log>.log`.
fn client_in_background(dir: &Path, log: &str, args: &[&str]) -> Child {
    let file = std::fs::File::create(dir.join(format!("{log}.log"))).unwrap();
    client_command(dir, args)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("running python3")
}

/// Waits for a background client and returns the JSON line it printed last.
fn finish(mut child: Child, dir: &Path, log: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let text = std::fs::read_to_string(dir.join(format!("{log}.log"))).unwrap();
            assert!(status.success(), "{log} failed:\n{text}");
            let line = text
                .lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .unwrap_or_default();
            return serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{log} printed no JSON ({e}):\n{text}"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{log} did not finish in {secs} s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every acknowledged number is in the topic exactly once, and no number
/// (acknowledged or not) is there twice.
fn assert_exactly_once(acked: &[String], consumed: &Value, what: &str) {
    let counts: HashMap<String, u64> =
        serde_json::from_value(consumed["counts"].clone()).expect("counts by number");
    let missing: Vec<&String> = acked.iter().filter(|n| !counts.contains_key(*n)).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} acknowledged records missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let twice: Vec<(&String, &u64)> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: {} records stored twice, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
}

fn roundtrip_ok(result: &Value, client: &str) {
    assert_eq!(result["failed"], Value::Array(vec![]), "{client}: {result}");
    assert_eq!(result["consumed"], 3000, "{client}: {result}");
    assert_eq!(result["distinct"], 3000, "{client}: {result}");
    assert_eq!(result["expected"], true, "{client}: {result}");
    let later: Vec<String> = serde_json::from_value(result["after_commit"].clone()).unwrap();
    assert_eq!(
        later.len(),
        10,
        "{client}: the second member starts after the first one's commit: {result}"
    );
}

#[test]
fn three_outside_clients_produce_and_consume_in_consumer_groups() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    for client_name in ["confluent", "kafka-python"] {
        let result = client(
            dir.path(),
            &[
                "roundtrip",
                "--client",
                client_name,
                "--bootstrap",
                &broker.brokers,
                "--topic",
                "roundtrip",
                "--group",
                client_name,
            ],
        );
        eprintln!("{result}");
        roundtrip_ok(&result, client_name);
    }
    let out = Command::new("node")
        .arg("kafkajs_roundtrip.js")
        .args([&broker.brokers, "roundtrip", "kafkajs-group", "3000"])
        .current_dir(NODE_DIR)
        .env("KAFKAJS_NO_PARTITIONER_WARNING", "1")
        .output()
        .expect("running node (tests/run.sh installs kafkajs into tests/node)");
    let result = last_json(&out, "kafkajs_roundtrip.js");
    eprintln!("{result}");
    roundtrip_ok(&result, "kafkajs");
}

#[test]
fn kill_9_mid_produce_loses_nothing_acknowledged_and_a_torn_tail_is_cut() {
    let dir = scratch_dir();
    let mut broker = Broker::start(dir.path());
    let acked = dir.path().join("acked");
    let producer = client_in_background(
        dir.path(),
        "producer",
        &[
            "produce-acked",
            "--bootstrap",
            &broker.brokers,
            "--topic",
            "events",
            "--count",
            "300000",
            "--acked",
            acked.to_str().unwrap(),
            "--rate",
            "40000",
        ],
    );
    eventually(120, "50,000 acknowledged records", || {
        lines(&acked).len() >= 50_000
    });
    broker.process.kill();
    // What a crash in mid-write leaves: the start of a batch at the end of
    // a partition's last segment.
    let segment = last_segment(&dir.path().join("data/log/events-0"));
    let bytes = std::fs::read(&segment).unwrap();
    let first_batch = i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize + 12;
    let head = bytes[..first_batch - 1].to_vec();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    std::io::Write::write_all(&mut file, &head).unwrap();
    drop(file);
    std::thread::sleep(Duration::from_secs(2));
    broker.restart(dir.path(), "broker-2");
    let produced = finish(producer, dir.path(), "producer", 240);
    assert_eq!(
        produced["failed"], 0,
        "librdkafka retried through the restart: {produced}"
    );
    let acked = lines(&acked);
    assert_eq!(acked.len(), 300_000);
    let consumed = client(
        dir.path(),
        &[
            "consume-all",
            "--bootstrap",
            &broker.brokers,
            "--topic",
            "events",
            "--group",
            "check",
        ],
    );
    assert_exactly_once(&acked, &consumed, "after kill -9");
    let log = std::fs::read_to_string(dir.path().join("broker-2.log")).unwrap();
    assert!(
        log.contains("Cut a torn batch off the end of the log"),
        "the torn tail is reported:\n{log}"
    );
}

fn last_segment(partition: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs.pop().expect("a segment")
}

#[test]
fn the_survivor_takes_a_killed_members_partitions() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    let status = |name: &str| dir.path().join(format!("{name}.json"));
    let assignment = |name: &str| -> Vec<i32> {
        std::fs::read_to_string(status(name))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    };
    let member = |name: &str| {
        client_in_background(
            dir.path(),
            name,
            &[
                "member",
                "--bootstrap",
                &broker.brokers,
                "--topic",
                "events",
                "--group",
                "pair",
                "--status",
                status(name).to_str().unwrap(),
            ],
        )
    };
    let mut a = member("a");
    eventually(60, "a owning every partition", || {
        assignment("a").len() == 4
    });
    let mut b = member("b");
    eventually(60, "a and b splitting the partitions", || {
        let (a, b) = (assignment("a"), assignment("b"));
        a.len() == 2 && b.len() == 2
    });
    b.kill().unwrap();
    b.wait().unwrap();
    let killed = Instant::now();
    eventually(60, "a owning every partition again", || {
        assignment("a") == vec![0, 1, 2, 3]
    });
    let took = killed.elapsed();
    // The session timeout is 6 s; then the survivor rejoins at its next heartbeat.
    assert!(
        took >= Duration::from_secs(4),
        "taken over after {took:?}, before the session ran out?"
    );
    eprintln!("the survivor owned every partition {took:?} after the kill");
    a.kill().unwrap();
    a.wait().unwrap();
}

#[test]
fn a_producer_epoch_bump_keeps_producing_without_duplicates() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    let acked = dir.path().join("acked");
    // Messages time out after 3 s; the broker is frozen for longer, so
    // librdkafka's idempotent producer times messages out and bumps its
    // epoch (KIP-360), then goes on.
    let producer = client_in_background(
        dir.path(),
        "producer",
        &[
            "produce-acked",
            "--bootstrap",
            &broker.brokers,
            "--topic",
            "events",
            "--count",
            "60000",
            "--acked",
            acked.to_str().unwrap(),
            "--rate",
            "5000",
            "--message-timeout-ms",
            "3000",
            "--debug",
            "eos",
        ],
    );
    eventually(60, "10,000 acknowledged records", || {
        lines(&acked).len() >= 10_000
    });
    let pid = broker.process.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let produced = finish(producer, dir.path(), "producer", 120);
    eprintln!("{produced}");
    assert!(
        produced["failed"].as_u64().unwrap() > 0,
        "some records timed out while the broker was frozen: {produced}"
    );
    let producer_log = std::fs::read_to_string(dir.path().join("producer.log")).unwrap();
    assert!(
        producer_log.to_lowercase().contains("bump"),
        "librdkafka bumped the producer epoch:\n{}",
        &producer_log[producer_log.len().saturating_sub(3000)..]
    );
    let acked = lines(&acked);
    assert!(acked.len() > 10_000);
    let consumed = client(
        dir.path(),
        &[
            "consume-all",
            "--bootstrap",
            &broker.brokers,
            "--topic",
            "events",
            "--group",
            "check",
        ],
    );
    assert_exactly_once(&acked, &consumed, "after an epoch bump");
    let log = std::fs::read_to_string(dir.path().join("broker.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_10_mb_record_is_produced_and_consumed_with_small_fetch_sizes() {
    let dir = scratch_dir();
    let broker = Broker::start(dir.path());
    let result = client(
        dir.path(),
        &[
            "big-record",
            "--bootstrap",
            &broker.brokers,
            "--topic",
            "big",
            "--group",
            "big",
        ],
    );
    assert_eq!(result["errors"], Value::Array(vec![]), "{result}");
    assert_eq!(
        result["sizes"],
        serde_json::json!([12, 10 * 1024 * 1024, 11]),
        "{result}"
    );
    assert_eq!(result["intact"], true);
}

#[test]
fn retention_deletes_old_segments_and_a_lagging_consumer_resets() {
    let dir = scratch_dir();
    let broker = Broker::start_with(dir.path(), &["--log-retention-check", "1s"]);
    let bootstrap = broker.brokers.as_str();
    client(
        dir.path(),
        &[
            "create-topic",
            "--bootstrap",
            bootstrap,
            "--topic",
            "old",
            "--partitions",
            "2",
            "--config",
            "segment.bytes=20000",
            "--config",
            "retention.bytes=60000",
        ],
    );
    // A consumer that committed offset 0 and then fell behind.
    client(
        dir.path(),
        &[
            "commit",
            "--bootstrap",
            bootstrap,
            "--topic",
            "old",
            "--group",
            "lagging",
            "--offset",
            "0",
        ],
    );
    let acked = dir.path().join("acked");
    client(
        dir.path(),
        &[
            "produce-acked",
            "--bootstrap",
            bootstrap,
            "--topic",
            "old",
            "--count",
            "4000",
            "--acked",
            acked.to_str().unwrap(),
            "--pad",
            "200",
            "--rate",
            "2000",
        ],
    );
    let earliest = || {
        client(
            dir.path(),
            &["earliest", "--bootstrap", bootstrap, "--topic", "old"],
        )
    };
    eventually(60, "retention to move the log start", || {
        let bounds = earliest();
        ["0", "1"]
            .iter()
            .all(|p| bounds[p][0].as_i64().unwrap() > 0)
    });
    // Retention runs every second: two more passes find nothing left to delete.
    std::thread::sleep(Duration::from_secs(3));
    let bounds = earliest();
    let consumed = client(
        dir.path(),
        &[
            "consume-all",
            "--bootstrap",
            bootstrap,
            "--topic",
            "old",
            "--group",
            "lagging",
        ],
    );
    for p in ["0", "1"] {
        let (low, high) = (
            bounds[p][0].as_i64().unwrap(),
            bounds[p][1].as_i64().unwrap(),
        );
        assert!(
            high - low < 2000,
            "partition {p} keeps about 60 kB: {low}..{high}"
        );
        assert_eq!(
            consumed["first_offsets"][p].as_i64(),
            Some(low),
            "partition {p} resumes at the log start: {consumed}"
        );
    }
    let counts = consumed["counts"].as_object().unwrap().len() as i64;
    let kept: i64 = ["0", "1"]
        .iter()
        .map(|p| bounds[p][1].as_i64().unwrap() - bounds[p][0].as_i64().unwrap())
        .sum();
    assert_eq!(counts, kept, "the consumer read everything retention kept");
    let files: usize = ["old-0", "old-1"]
        .iter()
        .map(|p| {
            std::fs::read_dir(dir.path().join("data/log").join(p))
                .unwrap()
                .count()
        })
        .sum();
    assert!(files < 60, "old segments are gone from disk: {files} files");
}

/// A small tmpfs at `<dir>/data`: a disk that fills up. Unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&data)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs for the full-disk test needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(data)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn a_full_disk_refuses_produce_loses_nothing_acknowledged_and_keeps_serving_fetches() {
    let dir = scratch_dir();
    let _disk = SmallDisk::mount(dir.path(), "24m");
    let broker = Broker::start(dir.path());
    let acked = dir.path().join("acked");
    // About 40 MB of records into 24 MB of disk.
    let produced = client(
        dir.path(),
        &[
            "produce-acked",
            "--bootstrap",
            &broker.brokers,
            "--topic",
            "events",
            "--count",
            "80000",
            "--acked",
            acked.to_str().unwrap(),
            "--pad",
            "500",
            "--message-timeout-ms",
            "5000",
            "--flush-timeout",
            "60",
        ],
    );
    eprintln!("{produced}");
    assert!(
        produced["failed"].as_u64().unwrap() > 0,
        "a full disk refuses records: {produced}"
    );
    let log = std::fs::read_to_string(dir.path().join("broker.log")).unwrap();
    assert!(
        log.contains("Cannot append to the log"),
        "the broker says why:\n{}",
        &log[log.len().saturating_sub(2000)..]
    );
    assert!(
        log.contains("No space left on device"),
        "and names the cause"
    );
    let acked = lines(&acked);
    assert!(
        acked.len() > 10_000,
        "{} acknowledged before the disk filled",
        acked.len()
    );
    let consumed = client(
        dir.path(),
        &[
            "consume-all",
            "--bootstrap",
            &broker.brokers,
            "--topic",
            "events",
            "--group",
            "check",
        ],
    );
    assert_exactly_once(&acked, &consumed, "with a full disk");
}
