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
//! - every event gets an `event_id`, a UUID the server draws (a `POST
//!   /events` client's own `event_id` is kept as `client_event_id`, never
//!   trusted as unique), a `source` (`game` for a game route's event,
//!   `ingest` for a `POST /events` one, whatever the client or a header
//!   said) and `server_time`, the instant the server logged it (RFC 3339,
//!   UTC), which is also the Kafka record timestamp;
//! - headers become fields once per request ([`HeaderFields`]), not once
//!   per event.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// `source` of an event a game route logged.
pub const GAME_SOURCE: &str = "game";
/// `source` of an event a client sent to `POST /events`.
pub const INGEST_SOURCE: &str = "ingest";

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

pub use super::ndjson::EventError;

impl GameEvent {
    pub fn new(event_type: &str) -> GameEvent {
        let mut fields = Map::new();
        fields.insert("event_type".into(), event_type.into());
        GameEvent { fields }
    }

    /// A client's event (`POST /events`), checked by
    /// [`ndjson::event`](super::ndjson::event), marked `source: "ingest"`
    /// whatever the client said, so it never passes as a game route's.
    pub fn from_client(mut fields: Map<String, Value>) -> GameEvent {
        fields.insert("source".into(), INGEST_SOURCE.into());
        GameEvent { fields }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> GameEvent {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// Merges `headers`, stamps the event and serializes it.
    pub fn seal(self, headers: &HeaderMap, now: SystemTime) -> SealedEvent {
        self.seal_with(&HeaderFields::new(headers), now)
    }

    /// Merges a request's headers, turned into fields once for all of its
    /// events, stamps the event and serializes it.
    pub fn seal_with(mut self, headers: &HeaderFields, now: SystemTime) -> SealedEvent {
        self.fields
            .entry("source")
            .or_insert_with(|| GAME_SOURCE.into());
        // The server names every event; a client's own id is kept beside it.
        if let Some(client_id) = self.fields.remove("event_id") {
            self.fields.insert("client_event_id".into(), client_id);
        }
        let event_id = uuid::Uuid::new_v4().to_string();
        self.fields
            .insert("event_id".into(), event_id.clone().into());
        let own: std::collections::HashSet<String> =
            self.fields.keys().map(|k| column_name(k)).collect();
        for (title, column, value) in &headers.fields {
            if !own.contains(column) {
                self.fields.insert(title.clone(), value.clone());
            }
        }
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

/// A request's headers as event fields: secrets left out, names title-cased
/// as Flask gave them, repeated headers joined. Built once per request.
#[derive(Debug, Clone, Default)]
pub struct HeaderFields {
    /// (title-cased name, its column name, value)
    fields: Vec<(String, String, Value)>,
}

impl HeaderFields {
    pub fn new(headers: &HeaderMap) -> HeaderFields {
        let fields = headers
            .keys()
            .filter(|name| !SECRET_HEADERS.contains(&name.as_str()))
            .map(|name| {
                let title = title_case(name.as_str());
                let value = headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ");
                let column = column_name(&title);
                (title, column, Value::from(value))
            })
            .collect();
        HeaderFields { fields }
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
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
    fn client_events_are_marked_and_their_event_id_is_not_trusted() {
        let client = |line: &[u8]| {
            GameEvent::from_client(crate::api::ndjson::event(line).unwrap())
                .seal(&headers(&[("source", "game")]), SystemTime::now())
        };
        let a = client(br#"{"event_type": "buy_item", "event_id": "mine", "source": "game"}"#);
        let b = client(br#"{"event_type": "buy_item", "event_id": "mine"}"#);
        assert_ne!(a.event_id, "mine");
        assert_ne!(a.event_id, b.event_id, "two events, two ids");
        let j = json(&a);
        assert_eq!(j["event_id"], a.event_id.as_str());
        assert_eq!(j["client_event_id"], "mine");
        assert_eq!(j["source"], "ingest");
        assert!(!j.contains_key("Source"));
        // A game route's event says so, and a header cannot say otherwise.
        let game =
            GameEvent::new("buy_item").seal(&headers(&[("source", "ingest")]), SystemTime::now());
        assert_eq!(json(&game)["source"], "game");
        assert!(!json(&game).contains_key("Source"));
    }

    #[test]
    fn headers_are_merged_once_for_many_events() {
        let fields = HeaderFields::new(&headers(&[("host", "h"), ("cookie", "secret")]));
        assert_eq!(fields.len(), 1);
        let events: Vec<SealedEvent> = (0..3)
            .map(|i| {
                GameEvent::new("e")
                    .with("n", i)
                    .seal_with(&fields, SystemTime::now())
            })
            .collect();
        for e in &events {
            assert_eq!(json(e)["Host"], "h");
        }
    }

    #[test]
    fn session_datetime_has_the_reference_format() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_534_126_580);
        assert_eq!(session_datetime(t), "2018-08-13 02:16:20");
    }
}
