//! Event shaping, in one place: every event the API logs, from a game route
//! or `POST /events`, is built here. The reference's `log_to_kafka` did
//! `event.update(request.headers)`; sluice keeps that shape (header names
//! title-cased as Flask gave them, so `User-Agent`, `Host`, `Accept` land in
//! the same columns) and fixes what it got wrong:
//! - secrets never enter an event: `Cookie`, `Authorization`,
//!   `Proxy-Authorization` and `Set-Cookie` are never merged;
//! - a header never overrides the event's own fields (a `Username:` header
//!   cannot forge the `username` a session proved), compared the way tables
//!   match columns: case-insensitively, with `-` read as `_`;
//! - every event gets an `event_id` (a UUID, kept when a `POST /events`
//!   client sent its own) and `server_time`, the instant the server logged it
//!   (RFC 3339, UTC), which is also the Kafka record timestamp.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// Headers that carry secrets: never in an event.
const SECRET_HEADERS: [&str; 4] = [
    "cookie",
    "authorization",
    "proxy-authorization",
    "set-cookie",
];

/// An event being built: its own fields, before headers and stamps.
#[derive(Debug, Clone)]
pub struct GameEvent {
    fields: Map<String, Value>,
}

/// An event ready for Kafka.
#[derive(Debug, Clone)]
pub struct SealedEvent {
    pub event_id: String,
    pub event_type: String,
    /// The Kafka key: the player's name when there is one, so a player's
    /// events stay in order on one partition.
    pub key: Option<String>,
    pub timestamp_ms: i64,
    pub json: Vec<u8>,
}

/// Why a `POST /events` line is not an event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a JSON object; an event is an object with an `event_type`")]
    NotObject,
    #[error("no `event_type`; every event needs one, a non-empty string")]
    NoEventType,
    #[error("`event_type` must be a non-empty string of at most 64 characters")]
    BadEventType,
}

impl GameEvent {
    pub fn new(event_type: &str) -> GameEvent {
        let mut fields = Map::new();
        fields.insert("event_type".into(), event_type.into());
        GameEvent { fields }
    }

    /// A client's event (`POST /events`): a JSON object with a string
    /// `event_type`.
    pub fn from_json(line: &[u8]) -> Result<GameEvent, EventError> {
        let value: Value =
            serde_json::from_slice(line).map_err(|e| EventError::NotJson(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(EventError::NotObject);
        };
        match fields.get("event_type") {
            None | Some(Value::Null) => Err(EventError::NoEventType),
            Some(Value::String(t)) if !t.is_empty() && t.chars().count() <= 64 => {
                Ok(GameEvent { fields })
            }
            Some(_) => Err(EventError::BadEventType),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> GameEvent {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// Merges `headers`, stamps the event and serializes it.
    pub fn seal(mut self, headers: &HeaderMap, now: SystemTime) -> SealedEvent {
        let own: std::collections::HashSet<String> =
            self.fields.keys().map(|k| column_name(k)).collect();
        let mut merged: Map<String, Value> = Map::new();
        for name in headers.keys() {
            if SECRET_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let title = title_case(name.as_str());
            if own.contains(&column_name(&title)) {
                continue;
            }
            let value = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            merged.insert(title, value.into());
        }
        self.fields.extend(merged);

        let event_id = match self.fields.get("event_id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => {
                let id = uuid::Uuid::new_v4().to_string();
                self.fields.insert("event_id".into(), id.clone().into());
                id
            }
        };
        self.fields.insert(
            "server_time".into(),
            humantime::format_rfc3339_millis(now).to_string().into(),
        );
        let event_type = self.fields["event_type"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = self
            .fields
            .get("username")
            .and_then(Value::as_str)
            .map(str::to_string);
        let timestamp_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let json = serde_json::to_vec(&self.fields).expect("a JSON map serializes");
        SealedEvent {
            event_id,
            event_type,
            key,
            timestamp_ms,
            json,
        }
    }
}

/// `user-agent` → `User-Agent`, as Flask's `request.headers` named them.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// How tables match JSON keys to columns: case-insensitive, `-` as `_`.
fn column_name(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

/// The reference's `session_datetime` format, `%Y-%m-%d %H:%M:%S`, in UTC.
pub fn session_datetime(now: SystemTime) -> String {
    let rfc = humantime::format_rfc3339_seconds(now).to_string();
    rfc.trim_end_matches('Z').replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn json(e: &SealedEvent) -> Map<String, Value> {
        serde_json::from_slice(&e.json).unwrap()
    }

    #[test]
    fn headers_merge_in_the_reference_shape() {
        let e = GameEvent::new("purchase_sword").seal(
            &headers(&[
                ("host", "user1.comcast.com"),
                ("user-agent", "ApacheBench/2.3"),
                ("accept", "*/*"),
            ]),
            UNIX_EPOCH + std::time::Duration::from_millis(1_764_410_000_123),
        );
        let j = json(&e);
        assert_eq!(j["event_type"], "purchase_sword");
        assert_eq!(j["Host"], "user1.comcast.com");
        assert_eq!(j["User-Agent"], "ApacheBench/2.3");
        assert_eq!(j["Accept"], "*/*");
        assert_eq!(j["server_time"], "2025-11-29T09:53:20.123Z");
        assert_eq!(e.timestamp_ms, 1_764_410_000_123);
        assert_eq!(j["event_id"], e.event_id.as_str());
        assert_eq!(e.event_id.len(), 36);
        assert_eq!(e.key, None);
    }

    #[test]
    fn secrets_never_enter_an_event() {
        let e = GameEvent::new("buy_item").with("username", "user1").seal(
            &headers(&[
                ("cookie", "session_id=secret"),
                ("authorization", "Bearer secret"),
                ("proxy-authorization", "Basic secret"),
                ("set-cookie", "session_id=secret"),
            ]),
            SystemTime::now(),
        );
        let text = String::from_utf8(e.json.clone()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(e.key.as_deref(), Some("user1"));
    }

    #[test]
    fn headers_never_override_the_events_fields() {
        let e = GameEvent::new("buy_item").with("username", "user1").seal(
            &headers(&[
                ("username", "admin"),
                ("event-type", "forged"),
                ("event-id", "forged"),
            ]),
            SystemTime::now(),
        );
        let j = json(&e);
        assert_eq!(j["username"], "user1");
        assert_eq!(j["event_type"], "buy_item");
        assert!(!j.contains_key("Username"));
        assert!(!j.contains_key("Event-Type"));
        assert_ne!(j["event_id"], "forged");
    }

    #[test]
    fn repeated_headers_are_joined() {
        let e = GameEvent::new("default").seal(
            &headers(&[("x-tag", "a"), ("x-tag", "b")]),
            SystemTime::now(),
        );
        assert_eq!(json(&e)["X-Tag"], "a, b");
    }

    #[test]
    fn client_events_need_an_event_type() {
        assert!(GameEvent::from_json(br#"{"event_type": "x", "n": 1}"#).is_ok());
        assert_eq!(
            GameEvent::from_json(br#"{"n": 1}"#).unwrap_err(),
            EventError::NoEventType
        );
        assert_eq!(
            GameEvent::from_json(br#"{"event_type": 7}"#).unwrap_err(),
            EventError::BadEventType
        );
        assert_eq!(
            GameEvent::from_json(b"[1]").unwrap_err(),
            EventError::NotObject
        );
        assert!(matches!(
            GameEvent::from_json(b"{nope").unwrap_err(),
            EventError::NotJson(_)
        ));
        let kept = GameEvent::from_json(br#"{"event_type": "x", "event_id": "mine"}"#)
            .unwrap()
            .seal(&HeaderMap::new(), SystemTime::now());
        assert_eq!(kept.event_id, "mine");
    }

    #[test]
    fn session_datetime_has_the_reference_format() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_534_126_580);
        assert_eq!(session_datetime(t), "2018-08-13 02:16:20");
    }
}
