//! Unit tests of the broker's start-up rules against real SQLite files in a
//! temporary directory. Kafka clients talking to it are integration tests.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::storage::{self, partition_count};
use super::{BrokerConfig, BrokerError, TopicSpec, start};

fn loopback_port_0() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn config_in(dir: &Path) -> BrokerConfig {
    BrokerConfig::new(dir).with_listen(loopback_port_0())
}

async fn partitions_on_disk(db_path: &Path, topic: &str) -> i32 {
    let advertised = url::Url::parse("tcp://127.0.0.1:9092").expect("static URL");
    let stop = CancellationToken::new();
    let storage = storage::open(db_path, "sluice", 111, &advertised, stop.clone())
        .await
        .expect("reopen the broker database");
    let count = partition_count(&storage, topic)
        .await
        .expect("topic metadata")
        .expect("topic exists");
    stop.cancel();
    count
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = BrokerConfig::default();
    assert_eq!(config.listen.to_string(), "127.0.0.1:9092");
    assert_eq!(config.topics, vec![TopicSpec::new("events", 4)]);
    assert_eq!(config.data_dir, Path::new("./data"));
}

#[test]
fn topic_names_follow_kafka_rules() {
    assert!(TopicSpec::new("events.v1_a-b", 1).validate().is_ok());
    for (name, partitions) in [("", 1), ("a b", 1), ("..", 1), ("événements", 1), ("ok", 0)] {
        let error = TopicSpec::new(name, partitions)
            .validate()
            .expect_err("invalid topic accepted");
        assert!(
            error.to_string().contains(&format!("`{name}`")),
            "error does not name the topic: {error}"
        );
    }
}

#[test]
fn sqlite_url_opens_exactly_the_database_path() {
    let url = storage::sqlite_url(Path::new("/var/lib/sluice/data/broker.db")).expect("plain path");
    assert_eq!(url.scheme(), "sqlite");
    assert_eq!(url.path(), "//var/lib/sluice/data/broker.db");

    for refused in [
        "/tmp/with space/broker.db",
        "/tmp/donn\u{e9}es/broker.db",
        "/tmp/what?/broker.db",
        "relative/broker.db",
    ] {
        let error = storage::sqlite_url(Path::new(refused)).expect_err("path accepted");
        assert!(
            matches!(error, BrokerError::UnsupportedDataDir { .. }),
            "{refused}: {error}"
        );
    }
}

#[tokio::test]
async fn a_taken_port_is_reported_with_its_address() {
    let taken = std::net::TcpListener::bind(loopback_port_0()).expect("bind a loopback port");
    let addr = taken.local_addr().expect("bound address");
    let dir = tempfile::tempdir().expect("temp dir");

    let error = start(config_in(dir.path()).with_listen(addr))
        .await
        .expect_err("second listener on a taken port");

    assert!(matches!(error, BrokerError::AddressInUse { .. }), "{error}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[tokio::test]
async fn topics_are_created_once_and_kept_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");

    let broker = start(config_in(dir.path())).await.expect("first start");
    assert_ne!(broker.local_addr().port(), 0);
    let db_path = broker.db_path().to_owned();
    assert!(db_path.ends_with("broker.db") && db_path.exists());
    broker.shutdown().await.expect("first shutdown");

    let broker = start(config_in(dir.path()))
        .await
        .expect("restart on the same data");
    broker.shutdown().await.expect("second shutdown");

    assert_eq!(partitions_on_disk(&db_path, "events").await, 4);
}

#[tokio::test]
async fn a_changed_partition_count_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    start(config_in(dir.path()))
        .await
        .expect("first start")
        .shutdown()
        .await
        .expect("shutdown");

    let error = start(config_in(dir.path()).with_topics(vec![TopicSpec::new("events", 2)]))
        .await
        .expect_err("partition count changed");

    assert!(
        matches!(
            error,
            BrokerError::PartitionsMismatch {
                existing: 4,
                configured: 2,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn run_stops_when_its_shutdown_future_completes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let broker = tokio::spawn(super::run(config_in(dir.path()), async {
        let _ = stopped.await;
    }));
    stop.send(()).expect("broker still waiting");
    tokio::time::timeout(std::time::Duration::from_secs(10), broker)
        .await
        .expect("run returned")
        .expect("run task")
        .expect("run result");
}

#[tokio::test]
async fn a_data_dir_in_use_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = start(config_in(dir.path())).await.expect("first broker");

    let error = start(config_in(dir.path()))
        .await
        .expect_err("second broker on the same data");

    assert!(matches!(error, BrokerError::DataDirInUse { .. }), "{error}");
    first.shutdown().await.expect("shutdown");
    start(config_in(dir.path()))
        .await
        .expect("data free again after shutdown")
        .shutdown()
        .await
        .expect("shutdown");
}
