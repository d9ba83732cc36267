//! Tests of [`Event`](super::Event): lazy reads, writes, and what an event
//! is written back as.

use serde_json::{Value, json};

use super::Event;
use crate::Error;

const BUY: &str = r#"{"username": "user1", "event_type": "buy_item", "Accept": "*/*", "User-Agent": "ApacheBench/2.3", "item_type": "shield", "Host": "user1.comcast.com", "inventory": ["sword", "potion", "shield"], "item_quality": "common", "user_info": {"session_datetime": "2018-08-13 02:16:20", "inventory": []}, "price": 12}"#;

fn event(json: &str) -> Event<'static> {
    Event::from_json(json).expect("a JSON object")
}

#[test]
fn reading_a_plain_string_does_not_parse_the_event() {
    let e = event(BUY);
    assert_eq!(e.event_type(), Some("buy_item"));
    assert_eq!(e.str("Host"), Some("user1.comcast.com"));
    assert!(e.object.get().is_none(), "str() parsed the whole event");
    assert_eq!(
        e.get_as::<Vec<String>>("inventory").expect("a list").len(),
        3
    );
    assert_eq!(e.get_as::<u32>("price"), Some(12));
    assert!(e.object.get().is_none(), "get_as() parsed the whole event");
}

#[test]
fn plain_strings_are_lent_from_the_event_bytes() {
    let e = event(BUY);
    let host = e.str("Host").expect("present");
    let raw = e.raw.as_ref().as_ptr_range();
    assert!(raw.contains(&host.as_ptr()));
}

#[test]
fn missing_and_non_string_values_are_none() {
    let e = event(BUY);
    assert_eq!(e.str("host"), None, "keys match exactly");
    assert_eq!(e.str("guild_name"), None);
    assert_eq!(e.str("inventory"), None);
    assert_eq!(e.str("price"), None);
    assert_eq!(e.str("user_info"), None);
    assert_eq!(e.get_as::<u32>("item_type"), None, "wrong type");
    assert_eq!(e.get_as::<u32>("nope"), None);
}

#[test]
fn an_escaped_string_is_unescaped_through_a_parse() {
    let e = event(r#"{"description": "very \"sharp\" knife", "event_type": "purchase_knife"}"#);
    assert_eq!(e.str("description"), Some(r#"very "sharp" knife"#));
    assert!(e.object.get().is_some());
    assert_eq!(e.event_type(), Some("purchase_knife"));
}

#[test]
fn an_escaped_key_is_found_through_a_parse() {
    let e = event(r#"{"event\u005ftype": "purchase_sword"}"#);
    assert_eq!(e.event_type(), Some("purchase_sword"));
    assert_eq!(
        e.get_as::<String>("event_type").as_deref(),
        Some("purchase_sword")
    );
}

#[test]
fn get_reads_any_value() {
    let e = event(BUY);
    assert_eq!(
        e.get("inventory"),
        Some(&json!(["sword", "potion", "shield"]))
    );
    assert_eq!(
        e.get("user_info").and_then(|u| u.get("inventory")),
        Some(&json!([]))
    );
    assert_eq!(e.get("nope"), None);
}

#[test]
fn reads_see_writes() {
    let mut e = event(BUY);
    e.set("event_type", "sell_item");
    assert_eq!(e.event_type(), Some("sell_item"));
    assert_eq!(
        e.get_as::<String>("event_type").as_deref(),
        Some("sell_item")
    );
    e.remove("event_type");
    assert_eq!(e.event_type(), None);
}

#[test]
fn an_unchanged_event_writes_back_its_own_bytes() {
    let e = event(BUY);
    let _ = e.get("inventory");
    assert!(!e.is_modified());
    assert_eq!(&*e.to_json_bytes(), BUY.as_bytes());
}

#[test]
fn set_and_remove_keep_key_order() {
    let mut e = event(r#"{"a": 1, "b": 2, "c": 3}"#);
    e.set("b", 20);
    e.set("d", 4);
    assert_eq!(e.remove("a"), Some(json!(1)));
    assert!(e.is_modified());
    assert!(e.object.get().is_none(), "set and remove parsed the event");
    assert_eq!(&*e.to_json_bytes(), br#"{"b":20,"c":3,"d":4}"#);
}

#[test]
fn set_takes_any_string_key() {
    let name = String::from("b");
    let mut e = event(r#"{"a": 1}"#);
    e.set(&name, 2);
    e.set(name.clone(), 3);
    e.set(std::borrow::Cow::Borrowed("c"), 4);
    assert_eq!(&*e.to_json_bytes(), br#"{"a":1,"b":3,"c":4}"#);
}

#[test]
fn setting_the_same_value_or_removing_nothing_changes_nothing() {
    let mut e = event(r#"{"Host": "moe", "n": 1, "list": [1, 2], "s": "caf\u00e9"}"#);
    e.set("Host", "moe");
    e.set("n", 1);
    e.set("list", json!([1, 2]));
    e.set("s", "café");
    assert_eq!(e.remove("absent"), None);
    assert!(!e.is_modified());
    assert!(e.object.get().is_none(), "judged without parsing the event");
    e.set("n", 1.5);
    assert!(e.is_modified());
}

#[test]
fn edits_that_cancel_out_leave_the_event_unmodified() {
    let mut e = event(r#"{"Host": "user1.comcast.com", "n": 1}"#);
    e.set("Host", "moe");
    e.set("Host", "user1.comcast.com");
    e.set("new", true);
    e.remove("new");
    assert!(!e.is_modified());
    assert_eq!(
        &*e.to_json_bytes(),
        br#"{"Host": "user1.comcast.com", "n": 1}"#
    );
}

#[test]
fn remove_returns_the_value_lazily_and_sees_earlier_edits() {
    let mut e = event(r#"{"a": {"x": [1, "two"]}, "b": "\u00e9"}"#);
    assert_eq!(e.remove("a"), Some(json!({"x": [1, "two"]})));
    assert_eq!(e.remove("a"), None);
    assert_eq!(e.remove("b"), Some(json!("é")));
    e.set("c", 3);
    assert_eq!(e.remove("c"), Some(json!(3)));
    assert!(e.object.get().is_none(), "remove parsed the event");
    assert_eq!(&*e.to_json_bytes(), b"{}");
}

#[test]
fn a_key_removed_then_set_again_moves_to_the_end() {
    let mut e = event(r#"{"a": 1, "b": 2}"#);
    e.remove("a");
    e.set("a", 1);
    assert!(!e.is_modified(), "every key has its value");
    e.set("b", 3);
    assert_eq!(&*e.to_json_bytes(), br#"{"b":3,"a":1}"#);
}

#[test]
fn reads_after_a_parse_see_edits_made_before_it() {
    let mut e = event(r#"{"a": 1, "b": 2}"#);
    e.set("b", "two");
    e.remove("a");
    e.set("c", json!({"d": null}));
    assert_eq!(e.get("c"), Some(&json!({"d": null})));
    assert!(e.object.get().is_some());
    assert_eq!(e.str("b"), Some("two"));
    assert_eq!(e.get("a"), None);
    assert!(e.is_modified());
    e.set("a", 1);
    assert_eq!(&*e.to_json_bytes(), br#"{"b":"two","c":{"d":null},"a":1}"#);
}

#[test]
fn an_escaped_edit_is_read_unescaped() {
    let mut e = event(r#"{"a": 1}"#);
    e.set("q", "say \"hi\"\n");
    assert_eq!(e.str("q"), Some("say \"hi\"\n"));
    assert_eq!(e.get_as::<String>("q").as_deref(), Some("say \"hi\"\n"));
    e.set("n", 5);
    assert_eq!(e.str("n"), None, "not a string");
    assert_eq!(e.get_as::<u8>("n"), Some(5));
}

#[test]
fn a_value_too_deep_to_reparse_goes_through_the_parsed_map() {
    let mut deep = json!(1);
    for _ in 0..150 {
        deep = json!([deep]);
    }
    let mut e = event(r#"{"a": 1}"#);
    e.set("deep", deep.clone());
    assert!(e.object.get().is_some());
    assert_eq!(e.get("deep"), Some(&deep));
    assert!(e.is_modified());
}

#[test]
fn as_object_mut_marks_the_event_modified() {
    let mut e = event(r#"{"a": {"b": 1}}"#);
    if let Some(Value::Object(a)) = e.as_object_mut().get_mut("a") {
        a.insert("c".into(), json!(2));
    }
    assert!(e.is_modified());
    assert_eq!(&*e.to_json_bytes(), br#"{"a":{"b":1,"c":2}}"#);
}

#[test]
fn new_and_derived_events_are_modified_and_derived_ones_carry_metadata() {
    let parent = event(BUY)
        .with_partition(3)
        .with_offset(99)
        .with_timestamp_ms(1_534_126_580_000)
        .with_header("trace", b"abc".to_vec());
    let child = parent.derive(json!({"event_type": "guild_member_added"}));
    assert!(child.is_modified());
    assert_eq!(child.partition(), 3);
    assert_eq!(child.offset(), 99);
    assert_eq!(child.timestamp_ms(), 1_534_126_580_000);
    assert_eq!(child.header("trace"), Some(&b"abc"[..]));
    assert_eq!(child.event_type(), Some("guild_member_added"));

    let fresh = Event::new(json!({"a": 1}));
    assert!(fresh.is_modified());
    assert_eq!(
        (fresh.partition(), fresh.offset(), fresh.header("trace")),
        (0, 0, None)
    );
}

#[test]
fn headers_match_names_exactly_and_keep_order() {
    let e = event("{}")
        .with_header("a", "1")
        .with_header("b", "2")
        .with_header("a", "3");
    assert_eq!(e.header("a"), Some(&b"1"[..]));
    assert_eq!(e.header("A"), None);
    let all: Vec<_> = e.headers().collect();
    assert_eq!(all, [("a", &b"1"[..]), ("b", &b"2"[..]), ("a", &b"3"[..])]);
}

#[test]
#[should_panic(expected = "an event must be a JSON object, not an array")]
fn new_refuses_a_non_object() {
    let _ = Event::new(json!([1, 2, 3]));
}

#[test]
fn from_json_refuses_what_is_not_an_object() {
    assert!(matches!(
        Event::from_json("[1]"),
        Err(Error::NotAnObject { found: "an array" })
    ));
    assert!(matches!(
        Event::from_json(" 7 "),
        Err(Error::NotAnObject { found: "a number" })
    ));
    assert!(matches!(
        Event::from_json("null"),
        Err(Error::NotAnObject { found: "null" })
    ));
    assert!(matches!(Event::from_json("{\"a\": 1"), Err(Error::Json(_))));
    assert!(matches!(Event::from_json("{} {}"), Err(Error::Json(_))));
    assert!(matches!(Event::from_json(""), Err(Error::Json(_))));
    let message = Event::from_json("[1]").expect_err("an array").to_string();
    assert_eq!(message, "an event must be a JSON object, not an array");
}

#[test]
fn a_broken_input_event_reads_as_empty_and_never_panics() {
    // The host validates events; if one slipped through, reads find nothing.
    let meta = super::Metadata::default();
    for raw in [&b"{\"event_type\": \"x"[..], b"[1, 2]", b"\xff\xfe", b""] {
        let e = Event::from_batch(raw, meta.clone());
        assert_eq!(e.event_type(), None);
        assert_eq!(e.get("event_type"), None);
        assert_eq!(e.get_as::<String>("event_type"), None);
    }
    let e = Event::from_batch(b"{\"event_type\": \"\xff\"}", meta);
    assert_eq!(e.event_type(), None, "not UTF-8");
}

#[test]
fn debug_shows_the_json() {
    let shown = format!("{:?}", event(r#"{"a": 1}"#).with_offset(5));
    assert!(shown.contains(r#"json: "{\"a\": 1}""#), "{shown}");
    assert!(shown.contains("offset: 5"), "{shown}");
}
