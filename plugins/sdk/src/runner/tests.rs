//! Tests of the batch runner through what the host sees: outcomes, new
//! event bytes, table indexes.

use serde_json::json;

use super::{describe, run_filter, run_router, run_transform};
use crate::bindings::sluice::plugin::types::Outcome;
use crate::bindings::{Batch, Output};
use crate::outcome::{FilterOutput, RouterOutput, TransformOutput};
use crate::{Event, Route};

const PURCHASE: &str = r#"{"event_type": "purchase_sword", "Host": "user1.comcast.com"}"#;
const JOIN: &str = r#"{"event_type": "join_guild", "guild_name": "knights", "username": "user1"}"#;
const SIGNUP: &str = r#"{"event_type": "signup", "username": "user1"}"#;

fn batch(events: &[&str]) -> Batch {
    let mut data = Vec::new();
    let mut ends = Vec::new();
    for event in events {
        data.extend_from_slice(event.as_bytes());
        ends.push(u32::try_from(data.len()).expect("small"));
    }
    let count = events.len();
    Batch {
        data,
        ends,
        partitions: vec![7; count],
        offsets: (100..).take(count).collect(),
        timestamps: vec![1_534_126_580_000; count],
        header_ends: vec![0; count],
        header_keys: Vec::new(),
        header_values: Vec::new(),
    }
}

/// The new events of `output`, as text.
fn new_events(output: &Output) -> Vec<String> {
    let mut start = 0;
    output
        .ends
        .iter()
        .map(|&end| {
            let text = String::from_utf8(output.data[start..end as usize].to_vec()).expect("utf-8");
            start = end as usize;
            text
        })
        .collect()
}

fn fail_reason(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Fail(reason) => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_filter_keeps_and_drops_without_output_bytes() {
    let output = run_filter(batch(&[PURCHASE, JOIN, PURCHASE]), |e| {
        (e.event_type() == Some("purchase_sword")).into_outcome()
    });
    assert!(matches!(
        output.outcomes[..],
        [Outcome::Keep, Outcome::Drop, Outcome::Keep]
    ));
    assert!(output.data.is_empty() && output.ends.is_empty() && output.tables.is_empty());
}

#[test]
fn a_filter_error_fails_the_event_with_its_message() {
    let output = run_filter(batch(&[PURCHASE]), |_| {
        Err::<bool, _>("no good").into_outcome()
    });
    assert_eq!(fail_reason(&output.outcomes[0]), "no good");
}

#[test]
fn events_carry_their_metadata_and_headers() {
    let mut input = batch(&[PURCHASE, JOIN, SIGNUP]);
    input.header_ends = vec![1, 1, 3];
    input.header_keys = vec!["a".into(), "b".into(), "c".into()];
    input.header_values = vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()];
    let mut seen = Vec::new();
    run_filter(input, |e| {
        let headers: Vec<String> = e.headers().map(|(k, _)| k.to_owned()).collect();
        seen.push((e.partition(), e.offset(), e.timestamp_ms(), headers));
        Outcome::Keep
    });
    assert_eq!(
        seen,
        [
            (7, 100, 1_534_126_580_000, vec!["a".to_owned()]),
            (7, 101, 1_534_126_580_000, vec![]),
            (
                7,
                102,
                1_534_126_580_000,
                vec!["b".to_owned(), "c".to_owned()]
            ),
        ]
    );
}

#[test]
fn an_empty_batch_has_no_outcomes() {
    let output = run_filter(batch(&[]), |_| Outcome::Keep);
    assert!(output.outcomes.is_empty());
}

#[test]
fn a_malformed_batch_fails_its_events_and_never_panics() {
    let mut short_column = batch(&[PURCHASE, JOIN]);
    short_column.offsets.pop();
    let output = run_filter(short_column, |_| Outcome::Keep);
    assert_eq!(output.outcomes.len(), 2);
    assert!(fail_reason(&output.outcomes[1]).contains("`offsets` has 1 entries for 2 events"));

    let mut past_the_end = batch(&[PURCHASE, JOIN]);
    past_the_end.ends[1] += 10;
    let output = run_filter(past_the_end, |_| Outcome::Keep);
    assert!(matches!(output.outcomes[0], Outcome::Keep));
    assert!(fail_reason(&output.outcomes[1]).contains("event 1 spans bytes"));

    let mut backwards = batch(&[PURCHASE, JOIN, SIGNUP]);
    backwards.ends[1] = 3;
    let output = run_filter(backwards, |_| Outcome::Keep);
    assert!(matches!(
        output.outcomes[..],
        [Outcome::Keep, Outcome::Fail(_), Outcome::Keep]
    ));

    let mut bad_headers = batch(&[PURCHASE]);
    bad_headers.header_ends = vec![2];
    bad_headers.header_keys = vec!["a".into()];
    bad_headers.header_values = vec![b"1".to_vec()];
    let output = run_filter(bad_headers, |_| Outcome::Keep);
    assert!(fail_reason(&output.outcomes[0]).contains("headers 0..2 of 1"));
}

#[test]
fn an_unchanged_event_from_a_transform_is_a_keep() {
    let output = run_transform(batch(&[PURCHASE, JOIN]), |e, new| e.into_outcome(new));
    assert!(matches!(
        output.outcomes[..],
        [Outcome::Keep, Outcome::Keep]
    ));
    assert!(output.data.is_empty());
}

#[test]
fn a_changed_event_is_a_replace_with_its_json() {
    let output = run_transform(batch(&[PURCHASE, JOIN]), |mut e, new| {
        if e.event_type() == Some("join_guild") {
            e.set("Host", "moe");
        }
        e.into_outcome(new)
    });
    assert!(matches!(
        output.outcomes[..],
        [Outcome::Keep, Outcome::Replace(1)]
    ));
    assert_eq!(
        new_events(&output),
        [r#"{"event_type":"join_guild","guild_name":"knights","username":"user1","Host":"moe"}"#]
    );
    assert_eq!(output.tables, [None]);
}

#[test]
fn option_none_drops_and_some_keeps_or_replaces() {
    let output = run_transform(batch(&[PURCHASE, JOIN]), |e, new| {
        let keep = e.event_type() == Some("purchase_sword");
        keep.then_some(e).into_outcome(new)
    });
    assert!(matches!(
        output.outcomes[..],
        [Outcome::Keep, Outcome::Drop]
    ));
}

#[test]
fn a_split_writes_every_event_and_unchanged_originals_verbatim() {
    let output = run_transform(batch(&[SIGNUP, JOIN, PURCHASE]), |e, new| {
        let events = match e.event_type() {
            Some("join_guild") => {
                let member = e.derive(json!({"event_type": "guild_member_added"}));
                vec![e, member]
            }
            Some("signup") => Vec::new(),
            _ => vec![e],
        };
        events.into_outcome(new)
    });
    assert!(matches!(
        output.outcomes[..],
        [Outcome::Drop, Outcome::Replace(2), Outcome::Keep]
    ));
    assert_eq!(
        new_events(&output),
        [JOIN, r#"{"event_type":"guild_member_added"}"#]
    );
    assert_eq!(output.tables, [None, None]);
}

#[test]
fn the_same_original_twice_is_a_replace() {
    let output = run_transform(batch(&[PURCHASE]), |e, new| {
        vec![e.clone(), e].into_outcome(new)
    });
    assert!(matches!(output.outcomes[..], [Outcome::Replace(2)]));
    assert_eq!(new_events(&output), [PURCHASE, PURCHASE]);
}

#[test]
fn a_transform_error_fails_the_event() {
    let output = run_transform(batch(&[PURCHASE, JOIN]), |e, new| {
        let result: Result<Event<'_>, String> = match e.event_type() {
            Some("join_guild") => Err("no guilds today".into()),
            _ => Ok(e),
        };
        result.into_outcome(new)
    });
    assert!(matches!(output.outcomes[0], Outcome::Keep));
    assert_eq!(fail_reason(&output.outcomes[1]), "no guilds today");
}

const TABLES: &[(&str, &str)] = &[
    ("events_buy", "host string"),
    ("events_guild", "guild_name string"),
    ("events_user", "username string"),
];

fn game_events(e: &Event<'_>) -> Route {
    match e.event_type() {
        Some("purchase_sword") => Route::to("events_buy"),
        Some("join_guild") => Route::to("events_guild"),
        Some("signup") => Route::to(String::from("events_usr")),
        _ => Route::Drop,
    }
}

#[test]
fn a_router_names_tables_and_the_host_gets_their_indexes() {
    let output = run_router(batch(&[JOIN, PURCHASE, r#"{"a": 1}"#]), TABLES, |e| {
        game_events(e).into_route()
    });
    assert!(matches!(
        output.outcomes[..],
        [Outcome::Route(1), Outcome::Route(0), Outcome::Drop]
    ));
}

#[test]
fn a_route_to_an_undeclared_table_fails_with_the_declared_names() {
    let output = run_router(batch(&[SIGNUP]), TABLES, |e| game_events(e).into_route());
    assert_eq!(
        fail_reason(&output.outcomes[0]),
        "route to undeclared table `events_usr`; declared: events_buy, events_guild, events_user"
    );
}

#[test]
fn a_router_keeps_and_fails() {
    let output = run_router(batch(&[PURCHASE, JOIN]), &[], |e| match e.event_type() {
        Some("purchase_sword") => Ok(Route::Keep),
        _ => Err::<Route, _>("unknown").into_route(),
    });
    assert!(matches!(output.outcomes[0], Outcome::Keep));
    assert_eq!(fail_reason(&output.outcomes[1]), "unknown");
}

#[test]
fn describe_lists_tables_in_order() {
    let info = describe("game_events", "0.1.0", TABLES);
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("game_events", "0.1.0")
    );
    let names: Vec<&str> = info.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["events_buy", "events_guild", "events_user"]);
    assert_eq!(info.tables[1].schema, "guild_name string");
}
