//! `POST /events`: events from any client holding the ingest key, one JSON
//! object or NDJSON (one object per line, parsed by [`ndjson`]). Each needs
//! an `event_type`; each is marked `source: "ingest"`, merged with the
//! request's headers (turned into fields once per request) and stamped like
//! a game route's event. Bad lines are reported by line number and never
//! cost the good ones: every valid event is logged, and the reply lists
//! what was accepted.
//!
//! What one request may cost is capped, so that no client can fill the
//! shared producer queue that the game routes need: at most
//! [`MAX_EVENTS_PER_REQUEST`](ndjson::MAX_EVENTS_PER_REQUEST) events and
//! [`MAX_INGEST_BYTES`] of events after the headers are merged (413 past
//! either, before anything is logged), at most [`MAX_EVENT_BYTES`] per event
//! (that line is rejected), and a per-client rate in events per second (429
//! with `Retry-After`). The key is checked by a route layer before the body
//! is read ([`crate::http::require_token`]).

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::GameApi;
use super::events::{GameEvent, HeaderFields, SealedEvent};
use super::limits::{ClientAddr, RateVerdict};
use super::ndjson::{self, BodyError};

/// The most bytes of events, headers merged, one request may log.
pub const MAX_INGEST_BYTES: usize = 4 << 20;
/// The largest single event, headers merged (Kafka's default record cap is
/// 1 MB).
pub const MAX_EVENT_BYTES: usize = 512 << 10;

#[derive(Debug, Serialize)]
pub struct IngestReply {
    pub accepted: usize,
    pub rejected: usize,
    pub results: Vec<LineResult>,
}

#[derive(Debug, Serialize)]
pub struct LineResult {
    /// 1-based line of the body (1 for a single object).
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn refused(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, format!("{message}\n")).into_response()
}

pub async fn post_events(
    State(api): State<GameApi>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = SystemTime::now();
    let lines = match ndjson::parse(&body, ndjson::MAX_EVENTS_PER_REQUEST) {
        Ok(lines) => lines,
        Err(e @ BodyError::Empty) => return refused(StatusCode::BAD_REQUEST, e),
        Err(e @ BodyError::TooManyEvents { .. }) => {
            return refused(StatusCode::PAYLOAD_TOO_LARGE, e);
        }
    };
    let header_fields = HeaderFields::new(&headers);
    let mut results = Vec::new();
    let mut pending: Vec<(usize, SealedEvent)> = Vec::new();
    let mut total = 0usize;
    for line in lines {
        let event = match line.event {
            Ok(fields) => GameEvent::from_client(fields).seal_with(&header_fields, now),
            Err(e) => {
                results.push(LineResult {
                    line: line.number,
                    event_id: None,
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        if event.json.len() > MAX_EVENT_BYTES {
            results.push(LineResult {
                line: line.number,
                event_id: None,
                error: Some(format!(
                    "the event is {} bytes with the request's headers merged; the limit is {MAX_EVENT_BYTES}",
                    event.json.len()
                )),
            });
            continue;
        }
        total += event.json.len();
        if total > MAX_INGEST_BYTES {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the events come to more than {MAX_INGEST_BYTES} bytes with the request's \
                     headers merged into each; nothing was logged: send fewer events per \
                     request, or fewer headers"
                ),
            );
        }
        pending.push((line.number, event));
    }
    // The rate counts the events to be logged: what costs the topic.
    match api.ingest_rate().check(client, pending.len()) {
        RateVerdict::Allowed => {}
        RateVerdict::Later(response) | RateVerdict::Never(response) => return response,
    }
    let log = api.event_log();
    let appended = futures::future::join_all(pending.iter().map(|(_, e)| log.append(e))).await;
    let mut unavailable = false;
    for ((line, event), result) in pending.into_iter().zip(appended) {
        results.push(match result {
            Ok(()) => LineResult {
                line,
                event_id: Some(event.event_id),
                error: None,
            },
            Err(e) => {
                unavailable = true;
                LineResult {
                    line,
                    event_id: None,
                    error: Some(e.to_string()),
                }
            }
        });
    }
    results.sort_by_key(|r| r.line);
    let accepted = results.iter().filter(|r| r.event_id.is_some()).count();
    let reply = IngestReply {
        accepted,
        rejected: results.len() - accepted,
        results,
    };
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else if accepted == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, axum::Json(reply)).into_response()
}
