//! Unit tests of the broker's start-up rules against real files in a
//! temporary directory. Kafka clients talking to it are integration tests.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use super::{BrokerConfig, BrokerError, LogSettings, TopicSpec, start};

fn loopback_port_0() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn config_in(dir: &Path) -> BrokerConfig {
    BrokerConfig::new(dir).with_listen(loopback_port_0())
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = BrokerConfig::default();
    assert_eq!(config.listen.to_string(), "127.0.0.1:9092");
    assert_eq!(config.topics, vec![TopicSpec::new("events", 4)]);
    assert_eq!(config.data_dir, Path::new("./data"));
    assert_eq!(config.log.flush.to_string(), "1s");
    assert_eq!(config.log.defaults.retention_ms, 7 * 24 * 3600 * 1000);
    assert_eq!(config.log.defaults.retention_bytes, -1);
}

#[test]
fn topic_names_and_configs_follow_kafka_rules() {
    let log = LogSettings::default();
    assert!(TopicSpec::new("events.v1_a-b", 1).validate(&log).is_ok());
    for (name, partitions) in [("", 1), ("a b", 1), ("..", 1), ("événements", 1), ("ok", 0)] {
        let error = TopicSpec::new(name, partitions)
            .validate(&log)
            .expect_err("invalid topic accepted");
        assert!(
            error.to_string().contains(&format!("`{name}`")),
            "error does not name the topic: {error}"
        );
    }
    let error = TopicSpec::new("events", 1)
        .with_config("retention.ms", "a week")
        .validate(&log)
        .expect_err("invalid config accepted");
    assert!(error.to_string().contains("retention.ms"), "{error}");
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
    let log_dir = broker.log_dir().to_owned();
    broker.shutdown().await.expect("first shutdown");
    assert!(
        log_dir.join(".clean-shutdown").exists(),
        "a clean stop is marked"
    );

    let broker = start(config_in(dir.path()))
        .await
        .expect("restart on the same data");
    assert!(
        !log_dir.join(".clean-shutdown").exists(),
        "the mark goes at start"
    );
    broker.shutdown().await.expect("second shutdown");

    for partition in 0..4 {
        let segment = log_dir.join(format!("events-{partition}/00000000000000000000.log"));
        assert!(segment.exists(), "{}", segment.display());
    }
    assert!(dir.path().join("broker-meta.redb").exists());
}

#[tokio::test]
async fn a_data_dir_of_the_sqlite_engine_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let legacy = dir.path().join("broker.db");
    std::fs::write(&legacy, b"SQLite format 3").unwrap();

    let error = start(config_in(dir.path()))
        .await
        .expect_err("a SQLite data directory accepted");

    let message = error.to_string();
    assert!(matches!(error, BrokerError::LegacyData { .. }), "{message}");
    assert!(
        message.contains("broker.db") && message.contains("move"),
        "{message}"
    );
    assert_eq!(std::fs::read(&legacy).unwrap(), b"SQLite format 3");
    assert!(
        !dir.path().join("log").exists(),
        "nothing is created beside it"
    );
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
