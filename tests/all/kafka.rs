//! The Kafka side of the end-to-end tests: `sluice broker` as its own
//! process, a real rdkafka producer, and `sluice pipeline` processes with a
//! config written for the test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::support::*;

/// `sluice broker` on a free port, storing its topic under `<dir>/data`.
pub struct Broker {
    pub process: Sluice,
    pub brokers: String,
    port: u16,
    extra: Vec<String>,
}

impl Broker {
    pub fn start(dir: &Path) -> Broker {
        Broker::start_with(dir, &[])
    }

    /// With more `sluice broker` flags.
    pub fn start_with(dir: &Path, extra: &[&str]) -> Broker {
        let port = free_port();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let mut broker = Broker {
            process: spawn_broker(dir, port, "broker", &extra),
            brokers: format!("127.0.0.1:{port}"),
            port,
            extra,
        };
        broker.wait(dir, "broker");
        broker
    }

    /// kill -9, then start again on the same port and data.
    pub fn crash_and_restart(&mut self, dir: &Path, log: &'static str) {
        self.process.kill();
        self.restart(dir, log);
    }

    /// Starts the broker again (after it was killed) on the same port and data.
    pub fn restart(&mut self, dir: &Path, log: &'static str) {
        self.process = spawn_broker(dir, self.port, log, &self.extra);
        self.wait(dir, log);
    }

    fn wait(&mut self, dir: &Path, log: &str) {
        wait_for_port(self.port, "the broker");
        wait_for_log(&dir.join(format!("{log}.log")), "sluice broker listening");
    }
}

fn spawn_broker(dir: &Path, port: u16, log: &'static str, extra: &[String]) -> Sluice {
    let listen = format!("127.0.0.1:{port}");
    let data = dir.join("data");
    let mut args = vec![
        "broker",
        "--broker-listen",
        &listen,
        "--data",
        data.to_str().unwrap(),
    ];
    args.extend(extra.iter().map(String::as_str));
    Sluice::start(log, &args, dir)
}

/// Produces `(key, payload)` records to `events` and waits until every one
/// is acknowledged.
pub fn produce<I>(brokers: &str, records: I)
where
    I: IntoIterator<Item = (String, Vec<u8>)>,
{
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.max.bytes", "16000000")
        .create()
        .unwrap();
    for (key, payload) in records {
        let mut record = BaseRecord::to("events").payload(&payload).key(&key);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("every event acknowledged");
}

/// Produces one record and returns what the broker answered.
pub fn produce_one(brokers: &str, payload: &[u8]) -> Result<(), rdkafka::error::KafkaError> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("message.max.bytes", "16000000")
        .set("message.timeout.ms", "20000")
        .create()
        .unwrap();
    let record = FutureRecord::to("events").payload(payload).key("one-key");
    let delivery = producer.send_result(record).map_err(|(e, _)| e)?;
    futures::executor::block_on(delivery)
        .expect("the producer answers")
        .map(|_| ())
        .map_err(|(e, _)| e)
}

/// Writes `<dir>/<name>` with the lake at `<dir>/lake`, files flushed every
/// second or `rows` rows, and the given `[[pipeline]]` sections.
pub fn write_config(dir: &Path, name: &str, rows: usize, pipelines: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "plugin_dir = \"{PLUGINS}\"\n[source]\ngroup = \"test\"\n[lake]\nurl = \"{}\"\n[flush]\nseconds = 1.0\nrows = {rows}\n{pipelines}",
            dir.join("lake").display(),
        ),
    )
    .unwrap();
    path
}

/// The default pipelines (`game_events`, `is_purchase`), as `[[pipeline]]`
/// sections of the example config.
pub fn default_pipelines() -> String {
    sluice::config::EXAMPLE_CONFIG
        .split("[[pipeline]]")
        .skip(1)
        .map(|p| format!("[[pipeline]]{p}"))
        .collect()
}

/// `sluice pipeline --config CONFIG` against `brokers`, logging to
/// `<dir>/<log>.log`.
pub fn start_pipeline(dir: &Path, config: &Path, brokers: &str, log: &'static str) -> Sluice {
    Sluice::start(
        log,
        &[
            "pipeline",
            "--config",
            config.to_str().unwrap(),
            "--brokers",
            brokers,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        dir,
    )
}
