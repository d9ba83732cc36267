//! The `POST /events` body parser: one JSON object, or NDJSON (one object a
//! line), into numbered events or the reason each line is not one. It owns
//! the per-request event cap, checked by counting lines before any line is
//! parsed, so a body of a million tiny lines costs one scan, not a million
//! parses and a million-line reply. Pure: bytes in, values out, no HTTP, so
//! the fuzz target `ndjson` runs exactly this.

use serde_json::{Map, Value};

/// The most events one `POST /events` request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;

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

/// Why a whole body is refused, before any of its events is logged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("no events: send a JSON object with an `event_type`, or one per line (NDJSON)")]
    Empty,
    #[error(
        "the body has more than {limit} events (lines); send at most {limit} per request, \
         or split it into several requests"
    )]
    TooManyEvents { limit: usize },
}

/// One line of the body: its 1-based number and the event or why not.
#[derive(Debug, PartialEq)]
pub struct Line {
    pub number: usize,
    pub event: Result<Map<String, Value>, EventError>,
}

/// The events of `body`: the whole body if it is one JSON value (a
/// pretty-printed object spans lines), else one per non-empty line. More
/// than `max_events` non-empty lines refuse the body whole.
pub fn parse(body: &[u8], max_events: usize) -> Result<Vec<Line>, BodyError> {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Ok(vec![Line {
            number: 1,
            event: event(body),
        }]);
    }
    let lines = || {
        body.split(|b| *b == b'\n')
            .enumerate()
            .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
    };
    match lines().nth(max_events) {
        Some(_) => Err(BodyError::TooManyEvents { limit: max_events }),
        None => {
            let parsed: Vec<Line> = lines()
                .map(|(number, text)| Line {
                    number,
                    event: event(text),
                })
                .collect();
            if parsed.is_empty() {
                Err(BodyError::Empty)
            } else {
                Ok(parsed)
            }
        }
    }
}

/// A client's event: a JSON object with a non-empty string `event_type` of
/// at most 64 characters.
pub fn event(text: &[u8]) -> Result<Map<String, Value>, EventError> {
    let value: Value =
        serde_json::from_slice(text).map_err(|e| EventError::NotJson(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(EventError::NotObject);
    };
    match fields.get("event_type") {
        None | Some(Value::Null) => Err(EventError::NoEventType),
        Some(Value::String(t)) if !t.is_empty() && t.chars().count() <= 64 => Ok(fields),
        Some(_) => Err(EventError::BadEventType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(lines: &[Line]) -> Vec<usize> {
        lines.iter().map(|l| l.number).collect()
    }

    #[test]
    fn a_body_is_one_object_or_ndjson() {
        let one = parse(b"{\n  \"event_type\": \"a\"\n}\n", 10).unwrap();
        assert_eq!(numbers(&one), [1]);
        assert!(one[0].event.is_ok());
        let many = parse(
            b"{\"event_type\":\"a\"}\n\nnot json\r\n{\"event_type\":\"b\"}\n",
            10,
        )
        .unwrap();
        assert_eq!(numbers(&many), [1, 3, 4]);
        assert!(matches!(many[1].event, Err(EventError::NotJson(_))));
        assert_eq!(parse(b"\n \n", 10), Err(BodyError::Empty));
    }

    #[test]
    fn more_lines_than_the_cap_refuse_the_body_before_parsing() {
        let body = "x\n".repeat(11);
        assert_eq!(
            parse(body.as_bytes(), 10),
            Err(BodyError::TooManyEvents { limit: 10 })
        );
        let body = "{\"event_type\":\"a\"}\n".repeat(10);
        assert_eq!(parse(body.as_bytes(), 10).unwrap().len(), 10);
    }

    #[test]
    fn client_events_need_an_event_type() {
        assert!(event(br#"{"event_type": "x", "n": 1}"#).is_ok());
        assert_eq!(event(br#"{"n": 1}"#).unwrap_err(), EventError::NoEventType);
        assert_eq!(
            event(br#"{"event_type": 7}"#).unwrap_err(),
            EventError::BadEventType
        );
        assert_eq!(event(b"[1]").unwrap_err(), EventError::NotObject);
        assert!(matches!(
            event(b"{nope").unwrap_err(),
            EventError::NotJson(_)
        ));
    }
}
