//! The event log: a Kafka producer that answers only once Kafka has the
//! event. Idempotent, `acks=all`, a millisecond of linger so concurrent
//! requests share a produce request, and a bounded delivery timeout so an
//! unreachable Kafka turns into a 503 within seconds instead of a hang.
//!
//! Why 1 ms and not 5: a request waits for its batch, so with 64 waiting
//! clients a 5 ms linger caps the API at 64 / 5 ms = 12,800 requests/s and
//! one client at ~150/s; while two produce requests are in flight
//! (`max.in.flight.requests.per.connection`), later events queue and batch
//! anyway. docs/performance.md has the measurements.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use super::events::SealedEvent;

/// How the event log reaches Kafka.
#[derive(Debug, Clone)]
pub struct EventLogConfig {
    pub brokers: String,
    pub topic: String,
    /// librdkafka's `linger.ms`: how long an event waits for others to share
    /// its produce request.
    pub linger: Duration,
    /// librdkafka's `message.timeout.ms`: how long an event may wait for
    /// Kafka's acknowledgement before the request gets a 503.
    pub delivery_timeout: Duration,
}

impl EventLogConfig {
    pub fn new(brokers: impl Into<String>) -> EventLogConfig {
        EventLogConfig {
            brokers: brokers.into(),
            topic: crate::broker::DEFAULT_TOPIC.to_string(),
            linger: Duration::from_millis(1),
            delivery_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot create a Kafka producer for `{brokers}`: {source}")]
    Create { brokers: String, source: KafkaError },
    #[error(
        "Kafka at {brokers} did not acknowledge the event within {timeout:?} ({source}); \
         the event was not logged, retry later"
    )]
    NotAcknowledged {
        brokers: String,
        timeout: Duration,
        source: KafkaError,
    },
}

/// Appends events to the topic. Cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    producer: FutureProducer,
    config: Arc<EventLogConfig>,
}

impl EventLog {
    pub fn new(config: EventLogConfig) -> Result<EventLog, LogError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("client.id", format!("sluice-api-{}", std::process::id()))
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", config.linger.as_millis().to_string())
            // At 5 (librdkafka's default) librdkafka spins against tansu.
            .set("max.in.flight.requests.per.connection", "2")
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().max(1).to_string(),
            )
            .set("queue.buffering.max.messages", "200000")
            .create()
            .map_err(|source| LogError::Create {
                brokers: config.brokers.clone(),
                source,
            })?;
        Ok(EventLog {
            producer,
            config: Arc::new(config),
        })
    }

    pub fn topic(&self) -> &str {
        &self.config.topic
    }

    pub fn brokers(&self) -> &str {
        &self.config.brokers
    }

    /// Returns once Kafka acknowledged `event` (all in-sync replicas have
    /// it), or with the reason it did not within the delivery timeout.
    pub async fn append(&self, event: &SealedEvent) -> Result<(), LogError> {
        let mut record = FutureRecord::to(&self.config.topic)
            .payload(&event.json)
            .timestamp(event.timestamp_ms);
        if let Some(key) = &event.key {
            record = record.key(key);
        }
        let result = self
            .producer
            .send(record, Timeout::After(self.config.delivery_timeout))
            .await;
        match result {
            Ok(_) => {
                metrics::counter!(crate::telemetry::API_EVENTS_LOGGED).increment(1);
                Ok(())
            }
            Err((source, _)) => {
                metrics::counter!(crate::telemetry::API_EVENTS_FAILED).increment(1);
                tracing::warn!(event_id = %event.event_id, error = %source, "Kafka did not acknowledge an event.");
                Err(LogError::NotAcknowledged {
                    brokers: self.config.brokers.clone(),
                    timeout: self.config.delivery_timeout,
                    source,
                })
            }
        }
    }

    /// Waits for every queued event (on shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "Some events were not acknowledged before shutdown.");
        }
    }
}
