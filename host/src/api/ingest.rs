//! `POST /events`: events from any client, one JSON object or NDJSON (one
//! object per line). Each needs an `event_type`; each is merged with the
//! request's headers and stamped like a game route's event. Bad lines are
//! reported by line number and never cost the good ones: every valid event
//! is logged, and the reply lists what was accepted.

use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::GameApi;
use super::events::GameEvent;

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

/// The events in a body: the whole body if it is one JSON value (a
/// pretty-printed object spans lines), else one per non-empty line.
fn lines(body: &[u8]) -> Vec<(usize, &[u8])> {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return vec![(1, body)];
    }
    body.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .collect()
}

pub async fn post_events(State(api): State<GameApi>, headers: HeaderMap, body: Bytes) -> Response {
    let now = SystemTime::now();
    let mut results = Vec::new();
    let mut pending = Vec::new();
    for (line, text) in lines(&body) {
        match GameEvent::from_json(text) {
            Ok(event) => pending.push((line, event.seal(&headers, now))),
            Err(e) => results.push(LineResult {
                line,
                event_id: None,
                error: Some(e.to_string()),
            }),
        }
    }
    if pending.is_empty() && results.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "no events: send a JSON object with an `event_type`, or one per line (NDJSON)\n",
        )
            .into_response();
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

#[cfg(test)]
mod tests {
    use super::lines;

    #[test]
    fn a_body_is_one_object_or_ndjson() {
        assert_eq!(lines(b"{\n  \"event_type\": \"a\"\n}\n").len(), 1);
        let many = lines(b"{\"event_type\":\"a\"}\n\nnot json\r\n{\"event_type\":\"b\"}\n");
        let numbers: Vec<usize> = many.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 3, 4]);
        assert_eq!(many[1].1, b"not json");
    }
}
