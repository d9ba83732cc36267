//! The API against librdkafka's mock cluster, on a real socket: the
//! fault-injection case the embedded broker cannot serve (a broker that goes
//! down and comes back while the same API process keeps running).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::state::{EmbeddedStore, GameStore, Inventory};
use super::{DEFAULT_SESSION_TTL, EventLog, EventLogConfig, GameApi};
use crate::http::{AdminToken, AppState, router, serve};

async fn start_api(brokers: &str, dir: &std::path::Path) -> (String, GameApi) {
    let store = GameStore::Embedded(EmbeddedStore::open(&dir.join("game.redb")).await.unwrap());
    let mut config = EventLogConfig::new(brokers);
    config.delivery_timeout = Duration::from_secs(1);
    let log = EventLog::new(config).unwrap();
    let api = GameApi::new(store, log, AdminToken::new("t"), DEFAULT_SESSION_TTL);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        router(AppState::new().with_api(api.clone())),
        std::future::pending(),
    ));
    (url, api)
}

fn topic_event_ids(brokers: &str) -> HashSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "api-tests")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition_offset("events", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut ids = HashSet::new();
    let mut idle_since = Instant::now();
    while idle_since.elapsed() < Duration::from_secs(3) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let event: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            ids.insert(event["event_id"].as_str().unwrap().to_string());
            idle_since = Instant::now();
        }
    }
    ids
}

/// 16 concurrent requests; the acknowledged ones' event ids and the 503s'
/// bodies.
async fn round(
    client: &reqwest::Client,
    url: &str,
    acked: &mut Vec<String>,
    unavailable: &mut Vec<String>,
) {
    let replies = futures::future::join_all((0..16).map(|_| async {
        let r = client.get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let id = r
            .headers()
            .get("x-event-id")
            .map(|v| v.to_str().unwrap().to_string());
        (status, id, r.text().await.unwrap())
    }))
    .await;
    for (status, id, body) in replies {
        match status {
            200 => acked.push(id.unwrap()),
            503 => unavailable.push(body),
            other => panic!("unexpected {other}: {body}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_is_a_503_and_the_api_recovers_without_losing_acknowledged_events() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let (base, api) = start_api(&brokers, dir.path()).await;
    let url = format!("{base}/purchase_a_sword");
    let client = reqwest::Client::new();
    let signup = client
        .get(format!("{base}/signup?username=user1&password=pw"))
        .send()
        .await
        .unwrap();
    let cookie = signup.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let buy = |item: &'static str| {
        let (client, base, cookie) = (client.clone(), base.clone(), cookie.clone());
        async move {
            let r = client
                .get(format!("{base}/buy/{item}"))
                .header("Cookie", cookie)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(buy("sword").await, (200, "Bought a sword!\n".to_string()));

    let mut acked = Vec::new();
    let mut unavailable = Vec::new();
    for _ in 0..5 {
        round(&client, &url, &mut acked, &mut unavailable).await;
    }
    assert!(unavailable.is_empty(), "{unavailable:?}");
    let before = acked.len();

    cluster.broker_down(1).unwrap();
    let started = Instant::now();
    round(&client, &url, &mut acked, &mut unavailable).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a request waited {:?} for a down broker",
        started.elapsed()
    );
    assert!(!unavailable.is_empty(), "no 503 while the broker was down");
    assert!(
        unavailable[0].contains("did not acknowledge the event"),
        "{}",
        unavailable[0]
    );
    assert!(unavailable[0].contains("retry later"), "{}", unavailable[0]);
    // A purchase Kafka did not acknowledge did not happen: a retry is safe.
    assert_eq!(buy("shield").await.0, 503);
    let inventory = api.store().user("user1").await.unwrap().unwrap().inventory;
    assert_eq!(inventory, Inventory::from_iter(["sword"]));

    cluster.broker_up(1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let after_outage = acked.len();
    while acked.len() < after_outage + 32 {
        assert!(Instant::now() < deadline, "the API did not recover");
        round(&client, &url, &mut acked, &mut unavailable).await;
    }
    assert!(acked.len() > before);

    let ids = tokio::task::spawn_blocking(move || topic_event_ids(&brokers))
        .await
        .unwrap();
    let missing: Vec<_> = acked.iter().filter(|id| !ids.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in Kafka: {missing:?}"
    );
}
