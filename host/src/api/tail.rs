//! `GET /events/tail?from=beginning|latest&event_type=…`: the topic as
//! Server-Sent Events, like `kafkacat -C -t events -o beginning`. Each
//! request gets its own consumer, assigned every partition (no consumer
//! group, nothing committed); it stops when the client goes away. Admin
//! only: events carry players' names and request headers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Deserialize;

use super::GameApi;
use super::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct TailParams {
    from: Option<String>,
    event_type: Option<String>,
}

pub async fn tail(
    State(api): State<GameApi>,
    headers: HeaderMap,
    Query(params): Query<TailParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if !api.admin().allows(&headers) {
        return Err(ApiError::Unauthorized);
    }
    let offset = match params.from.as_deref() {
        None | Some("latest") | Some("end") => Offset::End,
        Some("beginning") => Offset::Beginning,
        Some(other) => {
            return Err(ApiError::BadInput(format!(
                "from={} is not a starting point; use from=beginning or from=latest",
                other.chars().take(32).collect::<String>()
            )));
        }
    };
    let log = api.event_log();
    let (brokers, topic) = (log.brokers().to_string(), log.topic().to_string());
    let consumer = tokio::task::spawn_blocking(move || assign_all(&brokers, &topic, offset))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let wanted = params.event_type;
    let stream = futures::stream::unfold(Arc::new(consumer), move |consumer| {
        let wanted = wanted.clone();
        async move {
            loop {
                let event = match consumer.recv().await {
                    Ok(m) => {
                        let payload = String::from_utf8_lossy(m.payload().unwrap_or_default());
                        if let Some(wanted) = &wanted
                            && !has_event_type(&payload, wanted)
                        {
                            continue;
                        }
                        Event::default()
                            .id(format!("{}:{}", m.partition(), m.offset()))
                            .data(payload)
                    }
                    Err(e) => Event::default().event("error").data(e.to_string()),
                };
                return Some((Ok(event), consumer));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn has_event_type(payload: &str, wanted: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(payload)
        .is_ok_and(|v| v.get("event_type").and_then(|t| t.as_str()) == Some(wanted))
}

/// A consumer on every partition of `topic`, from `offset`.
fn assign_all(brokers: &str, topic: &str, offset: Offset) -> Result<StreamConsumer, ApiError> {
    let unavailable = |e: rdkafka::error::KafkaError| {
        ApiError::Unavailable(format!(
            "cannot read `{topic}` from Kafka at {brokers}: {e}; retry later"
        ))
    };
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("sluice-tail-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .map_err(unavailable)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map_err(unavailable)?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), offset)
                .map_err(unavailable)?;
        }
    }
    if tpl.count() == 0 {
        return Err(ApiError::BadInput(format!(
            "no topic `{topic}` on {brokers}"
        )));
    }
    consumer.assign(&tpl).map_err(unavailable)?;
    Ok(consumer)
}
