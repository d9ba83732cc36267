//! The splice against the full parse: every event here is edited twice,
//! once lazily (the splice) and once after a parse (the map path), and the
//! two must agree on the JSON written, on whether the event is modified,
//! and on every read. Hand-written cases cover the shapes a splice can get
//! wrong; a seeded generator covers the combinations.

use serde_json::{Value, json};

use crate::Event;
use crate::event::Metadata;

/// One write to an event.
#[derive(Debug, Clone)]
enum Op {
    Set(String, Value),
    Remove(String),
}

fn set(key: &str, value: Value) -> Op {
    Op::Set(key.to_owned(), value)
}

fn remove(key: &str) -> Op {
    Op::Remove(key.to_owned())
}

/// What the generator knows about an event it wrote.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    /// No escapes and only numbers as serde_json writes them: the splice
    /// must then write exactly the bytes serde_json writes.
    canonical: bool,
    /// A top-level key twice, or an escaped one: the splice gives up.
    unusual: bool,
}

/// The keys whose reads are compared, beyond those the ops touch.
const READ_KEYS: [&str; 6] = ["a", "b", "Host", "event_type", "ü", "absent"];

/// Applies `ops` to `json` lazily and after a parse, and checks that the
/// two agree. Returns whether the event came out modified.
#[track_caller]
fn check(json: &str, ops: &[Op], shape: Shape) -> bool {
    let context = format!("{json} with {ops:?}");
    let mut lazy = Event::from_json(json).unwrap_or_else(|e| panic!("{e}: {context}"));
    let mut full = lazy.clone();
    let _ = full.as_object();
    for op in ops {
        match op {
            Op::Set(key, value) => {
                lazy.set(key, value);
                full.set(key, value);
            }
            Op::Remove(key) => {
                assert_eq!(
                    lazy.remove(key),
                    full.remove(key),
                    "remove {key}: {context}"
                );
            }
        }
    }
    // Reads may parse (an escaped string is unescaped by the parse): they
    // go to a copy, so the event itself is written by the splice.
    let reader = lazy.clone();
    let spliced = !lazy.edits.is_empty();
    let lazy_out = lazy.to_json_bytes().into_owned();
    if !shape.unusual {
        assert!(
            lazy.object.get().is_none(),
            "an ordinary event was parsed: {context}"
        );
    } else if spliced {
        // The parse collapses duplicates, so comparing outputs would not
        // notice a splice that missed one: it must have given up.
        assert!(
            lazy.object.get().is_some(),
            "an unusual event was spliced: {context}"
        );
    }
    let mut keys: Vec<&str> = READ_KEYS.to_vec();
    keys.extend(ops.iter().map(|op| match op {
        Op::Set(key, _) | Op::Remove(key) => key.as_str(),
    }));
    // Before a parse, reads of a duplicated key see the first one, the
    // parse the last (as documented): compare only ordinary events.
    if !shape.unusual {
        for &key in &keys {
            assert_eq!(reader.str(key), full.str(key), "str({key}): {context}");
            assert_eq!(
                reader.get_as::<Value>(key),
                full.get_as::<Value>(key),
                "get_as({key}): {context}"
            );
        }
    }
    let full_out = full.to_json_bytes().into_owned();
    let parsed = |bytes: &[u8]| -> Value {
        serde_json::from_slice(bytes).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}: {context}",
                String::from_utf8_lossy(bytes)
            )
        })
    };
    if lazy.is_modified() {
        assert!(full.is_modified(), "{context}");
        // The same members in the same order, nested ones included.
        assert_eq!(
            serde_json::to_string(&parsed(&lazy_out)).ok(),
            serde_json::to_string(&parsed(&full_out)).ok(),
            "{context}"
        );
        if shape.canonical {
            assert_eq!(
                String::from_utf8_lossy(&lazy_out),
                String::from_utf8_lossy(&full_out),
                "{context}"
            );
        }
    } else {
        // Unmodified: the original bytes, and the parse agrees nothing
        // changed (map equality ignores order: a key removed and set back
        // moves, but keeps its value).
        assert_eq!(lazy_out, json.as_bytes(), "{context}");
        assert_eq!(parsed(&full_out), parsed(json.as_bytes()), "{context}");
    }
    // Reads that parse see what the map path sees.
    for &key in &keys {
        assert_eq!(reader.get(key), full.get(key), "get({key}): {context}");
        assert_eq!(
            reader.str(key),
            full.str(key),
            "str({key}) parsed: {context}"
        );
    }
    lazy.is_modified()
}

fn ordinary() -> Shape {
    Shape {
        canonical: true,
        unusual: false,
    }
}

fn escaped_values() -> Shape {
    Shape {
        canonical: false,
        unusual: false,
    }
}

fn unusual() -> Shape {
    Shape {
        canonical: false,
        unusual: true,
    }
}

const REFERENCE: &str = r#"{"event_type": "buy_item", "username": "user17", "item_type": "shield", "item_quality": "common", "inventory": ["sword", "potion"], "Host": "user2.att.com", "Accept": "*/*", "User-Agent": "ApacheBench/2.3", "event_id": "9e3779b1-0011-4011-8002-000000000011"}"#;

#[test]
fn munge_on_a_reference_event() {
    let ops = [
        set("Host", json!("moe")),
        set("Cache-Control", json!("no-cache")),
    ];
    check(REFERENCE, &ops, ordinary());
    let mut e = Event::from_json(REFERENCE).expect("an object");
    e.set("Host", "moe");
    e.set("Cache-Control", "no-cache");
    assert_eq!(
        String::from_utf8_lossy(&e.to_json_bytes()),
        r#"{"event_type":"buy_item","username":"user17","item_type":"shield","item_quality":"common","inventory":["sword","potion"],"Host":"moe","Accept":"*/*","User-Agent":"ApacheBench/2.3","event_id":"9e3779b1-0011-4011-8002-000000000011","Cache-Control":"no-cache"}"#
    );
}

#[test]
fn set_remove_and_both_at_every_position() {
    let json = r#"{"a": 1, "b": "two", "c": [3], "d": {"e": null}}"#;
    for key in ["a", "b", "c", "d", "new"] {
        check(json, &[set(key, json!("x"))], ordinary());
        check(json, &[remove(key)], ordinary());
        check(json, &[remove(key), set(key, json!(7))], ordinary());
        check(json, &[set(key, json!(7)), remove(key)], ordinary());
        check(
            json,
            &[set(key, json!(7)), set(key, json!([8]))],
            ordinary(),
        );
    }
    check(
        json,
        &[remove("a"), remove("b"), remove("c"), remove("d")],
        ordinary(),
    );
    check(
        json,
        &[
            remove("a"),
            remove("b"),
            remove("c"),
            remove("d"),
            set("z", json!({})),
        ],
        ordinary(),
    );
    check(
        json,
        &[
            set("n1", json!(1)),
            set("n2", json!(2)),
            remove("n1"),
            set("n1", json!(3)),
        ],
        ordinary(),
    );
    check(
        json,
        &[remove("b"), set("x", json!(1)), set("b", json!("two"))],
        ordinary(),
    );
}

#[test]
fn setting_what_is_there_changes_nothing() {
    let json = r#"{"s": "moe", "n": 12, "f": 1.5, "t": true, "z": null, "a": [1, {"b": "c"}], "o": {}, "e": "caf\u00e9", "u": "grüße 🎮"}"#;
    let same = [
        set("s", json!("moe")),
        set("n", json!(12)),
        set("f", json!(1.5)),
        set("t", json!(true)),
        set("z", json!(null)),
        set("a", json!([1, {"b": "c"}])),
        set("o", json!({})),
        set("e", json!("café")),
        set("u", json!("grüße 🎮")),
        remove("absent"),
    ];
    check(json, &same, escaped_values());
    let mut e = Event::from_json(json).expect("an object");
    for op in &same {
        match op {
            Op::Set(key, value) => e.set(key, value),
            Op::Remove(key) => assert_eq!(e.remove(key), None),
        }
    }
    assert!(!e.is_modified());
    // Another type with the same look is another value.
    for op in [
        set("n", json!(12.0)),
        set("n", json!("12")),
        set("s", json!(["moe"])),
        set("z", json!(false)),
    ] {
        check(json, &[op], escaped_values());
    }
}

#[test]
fn empty_objects_and_whitespace_everywhere() {
    for json in [
        "{}",
        "{ }",
        " \n\t{\r\n}\n ",
        "{\"a\":1}",
        " {\n\t\"a\" \r\n:\t1 ,\n\"b\"  :  [ 1 , { \"c\" : \"d\" } , [ ] ] , \"e\":{ } }\n",
        "{\"a\":\"\",\"b\":[],\"c\":{}}",
    ] {
        check(json, &[], ordinary());
        check(json, &[set("a", json!(2))], ordinary());
        check(json, &[set("new", json!("v"))], ordinary());
        check(json, &[remove("a")], ordinary());
        check(json, &[remove("b"), remove("e")], ordinary());
    }
}

#[test]
fn nested_values_are_copied_compact_and_whole() {
    let json = r#"{"user_info": {"session_datetime": "2018-08-13 02:16:20", "inventory": ["sword", {"deep": [[], [{}], "}]\"["]}]}, "Host": "h", "n": [-1.5e3, 0, true, null]}"#;
    check(json, &[set("Host", json!("moe"))], escaped_values());
    check(json, &[set("user_info", json!({"x": 1}))], escaped_values());
    check(json, &[remove("user_info")], escaped_values());
    check(
        json,
        &[set("new", json!({"a": [1, 2, {"b": "c\"d"}]}))],
        escaped_values(),
    );
}

#[test]
fn escapes_in_values_are_copied_as_they_are() {
    let json = r#"{"a": "tab\there", "b": "quote\"d \\ back\/slash", "c": "\u00e9\ud83c\udfae", "d": "x"}"#;
    check(json, &[set("d", json!("y"))], escaped_values());
    check(json, &[set("a", json!("plain"))], escaped_values());
    check(json, &[set("a", json!("tab\there"))], escaped_values());
    check(
        json,
        &[remove("b"), set("c", json!("é🎮"))],
        escaped_values(),
    );
    let mut e = Event::from_json(json).expect("an object");
    e.set("d", "y");
    assert!(e.to_json_bytes().starts_with(
        br#"{"a":"tab\there","b":"quote\"d \\ back\/slash","c":"\u00e9\ud83c\udfae""#
    ));
}

#[test]
fn keys_that_need_escapes_are_escaped_when_added() {
    let json = r#"{"a": 1}"#;
    for key in [
        "a\"b",
        "back\\slash",
        "tab\t",
        "nul\u{0}",
        "ü",
        "🎮",
        "",
        " ",
    ] {
        check(json, &[set(key, json!(key))], ordinary());
        check(json, &[set(key, json!(1)), remove(key)], ordinary());
    }
}

#[test]
fn unicode_keys_and_values() {
    let json = r#"{"ü": "grüße", "🎮": ["🗡️", "🛡️"], "日本": {"語": 1}}"#;
    check(json, &[set("ü", json!("größer"))], ordinary());
    check(json, &[remove("🎮"), set("日本", json!("語"))], ordinary());
    check(json, &[set("ñ", json!("ñ"))], ordinary());
}

#[test]
fn numbers_keep_their_text_when_copied() {
    let json = r#"{"big": 123456789012345678901234567890, "e": 1E3, "f": 2.50, "neg": -0, "k": 1}"#;
    check(json, &[set("k", json!(2))], escaped_values());
    let mut e = Event::from_json(json).expect("an object");
    e.set("k", 2);
    assert_eq!(
        &*e.to_json_bytes(),
        br#"{"big":123456789012345678901234567890,"e":1E3,"f":2.50,"neg":-0,"k":2}"#
    );
}

#[test]
fn escaped_and_duplicate_keys_are_parsed_instead() {
    for json in [
        r#"{"event\u005ftype": "a", "b": 1}"#,
        r#"{"b": 1, "Ho\u0073t": "h"}"#,
        r#"{"a\"b": 1}"#,
        r#"{"Host": "a", "Host": "b"}"#,
        r#"{"a": 1, "b": 2, "a": 3}"#,
        r#"{"a": 1, "b": 2, "b": 2}"#,
    ] {
        check(json, &[set("Host", json!("moe"))], unusual());
        check(json, &[set("a", json!(1))], unusual());
        check(json, &[set("b", json!(2))], unusual());
        check(json, &[remove("a")], unusual());
        check(json, &[remove("Host"), set("x", json!(0))], unusual());
    }
}

#[test]
fn duplicate_keys_are_caught_at_the_very_end() {
    // Keys in the last eight bytes are read byte by byte.
    for json in [
        r#"{"b":1,"b":2}"#,
        r#"{"abcdefghij":1,"abcdefghij":2}"#,
        r#"{"x": 0, "b":1,"b":2}"#,
        r#"{"":1,"":2}"#,
    ] {
        check(json, &[set("z", json!(0))], unusual());
    }
    for json in [r#"{"a":1,"b":2}"#, r#"{"":1,"b":2}"#, r#"{"b":1,"c":2}"#] {
        check(json, &[set("z", json!(0))], ordinary());
    }
}

#[test]
fn duplicate_keys_are_caught_among_many() {
    // Past the 32 hashes kept on the stack, and keys long and short.
    let mut members: Vec<String> = (0..40).map(|i| format!("\"key_{i}\": {i}")).collect();
    members.push(r#""a_long_key_name_that_repeats": 1"#.to_owned());
    let unique = format!("{{{}}}", members.join(", "));
    check(&unique, &[set("key_3", json!(0))], ordinary());
    for repeat in [
        r#""key_7": 7"#,
        r#""key_39": 0"#,
        r#""a_long_key_name_that_repeats": 2"#,
    ] {
        let mut with_repeat = members.clone();
        with_repeat.push(repeat.to_owned());
        let json = format!("{{{}}}", with_repeat.join(", "));
        check(&json, &[set("key_3", json!(0))], unusual());
    }
    // Keys equal in their first and last eight bytes and their length.
    let json = r#"{"session_start_time_ms": 1, "session_pause_time_ms": 2}"#;
    check(json, &[set("x", json!(0))], ordinary());
    let json = r#"{"a_long_ke1_name_which_differs_only_near_the_st": 1, "a_long_ke2_name_which_differs_only_near_the_st": 2}"#;
    check(json, &[set("x", json!(0))], ordinary());
}

#[test]
fn a_key_hashes_the_same_wherever_it_stands() {
    // Near the end of the text keys are read byte by byte, elsewhere eight
    // bytes a step: a duplicate is caught either way, at any length.
    for len in 0..20 {
        let key = "k".repeat(len);
        for padding in 0..10 {
            let pad = " ".repeat(padding);
            let json = format!(r#"{{"{key}":1,{pad}"{key}":2}}"#);
            check(&json, &[set("z", json!(0))], unusual());
            let json = format!(r#"{{"{key}":1,{pad}"{key}x":2}}"#);
            check(&json, &[set("z", json!(0))], ordinary());
        }
    }
}

#[test]
fn a_broken_input_event_is_parsed_and_never_panics() {
    // The host validates events; if one slipped through, writes still work
    // (on the empty object the parse falls back to) and never panic.
    let meta = Metadata::default();
    for raw in [
        &b"{\"event_type\": \"x"[..],
        b"[1, 2]",
        b"\xff\xfe",
        b"",
        b"{\"a\": 1,}",
        b"{\"a\" 1}",
        b"{\"a\": 1} x",
        b"{\"a\": [1, 2}",
        b"{\"a\": \"unterminated",
        b"{\"a\": ",
        b"{\"a\"",
        b"{,}",
    ] {
        let mut e = Event::from_batch(raw, meta.clone());
        e.set("Host", "moe");
        let out = e.to_json_bytes();
        let out: Value = serde_json::from_slice(&out).unwrap_or_else(|error| {
            panic!(
                "{}: {error}: {}",
                String::from_utf8_lossy(raw),
                String::from_utf8_lossy(&out)
            )
        });
        assert_eq!(out["Host"], "moe");
    }
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'t>(&mut self, items: &[&'t str]) -> &'t str {
        items[self.below(items.len())]
    }
}

const GEN_KEYS: [&str; 9] = [
    "a",
    "b",
    "Host",
    "Cache-Control",
    "event_type",
    "ü",
    "x y",
    "a_key_longer_than_sixteen_bytes",
    "",
];

/// Writes a random JSON object to `out`, noting what makes it unusual.
fn gen_object(rng: &mut Rng, out: &mut String, shape: &mut Shape, depth: usize, top: bool) {
    let ws = |rng: &mut Rng| rng.pick(&["", "", " ", "  ", "\n", "\t", "\r\n  "]);
    out.push('{');
    out.push_str(ws(rng));
    let members = rng.below(if depth == 0 { 8 } else { 4 });
    let mut used = Vec::new();
    for i in 0..members {
        if i > 0 {
            out.push(',');
            out.push_str(ws(rng));
        }
        let key = rng.pick(&GEN_KEYS);
        if used.contains(&key) {
            if top && rng.below(4) == 0 {
                shape.unusual = true;
            } else {
                // Mostly keep keys apart: a duplicate makes the event
                // unusual, and a nested one collapses in the parse.
                out.push_str(&format!("\"{key}{i}\""));
                used.push(key);
                out.push_str(ws(rng));
                out.push(':');
                out.push_str(ws(rng));
                gen_value(rng, out, shape, depth + 1);
                out.push_str(ws(rng));
                continue;
            }
        }
        used.push(key);
        if top && key == "a" && rng.below(10) == 0 {
            out.push_str(r#""\u0061""#);
            shape.unusual = true;
            shape.canonical = false;
        } else {
            out.push_str(&serde_json::to_string(key).expect("a string"));
        }
        out.push_str(ws(rng));
        out.push(':');
        out.push_str(ws(rng));
        gen_value(rng, out, shape, depth + 1);
        out.push_str(ws(rng));
    }
    out.push('}');
}

fn gen_value(rng: &mut Rng, out: &mut String, shape: &mut Shape, depth: usize) {
    let kinds = if depth >= 3 { 6 } else { 8 };
    match rng.below(kinds) {
        0 | 1 => out.push_str(rng.pick(&[
            r#""moe""#,
            r#""""#,
            r#""no-cache""#,
            r#""grüße 🎮""#,
            r#""user1.comcast.com""#,
            r#""a string long enough to take several words""#,
            r#""}]:,{[""#,
        ])),
        2 => {
            out.push_str(rng.pick(&[
                r#""quote\"d""#,
                r#""tab\tnew\nline""#,
                r#""\u00e9""#,
                r#""back\\slash\/""#,
                r#""\ud83c\udfae""#,
            ]));
            shape.canonical = false;
        }
        3 => out.push_str(rng.pick(&["0", "-7", "12", "1.5", "-0.25", "123456789", "1e-7"])),
        4 => {
            out.push_str(rng.pick(&["1E3", "2.50", "1e+2", "-0", "0.0e0"]));
            shape.canonical = false;
        }
        5 => out.push_str(rng.pick(&["true", "false", "null"])),
        6 => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push_str(rng.pick(&[",", ", ", " ,\n"]));
                }
                gen_value(rng, out, shape, depth + 1);
            }
            out.push(']');
        }
        _ => gen_object(rng, out, shape, depth, false),
    }
}

fn gen_ops(rng: &mut Rng, json: &str) -> Vec<Op> {
    let present: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let values = [
        json!("moe"),
        json!("no-cache"),
        json!(""),
        json!(12),
        json!(-0.25),
        json!(null),
        json!([1, "two", {"three": 3}]),
        json!({"a": {"b": []}}),
        json!("quote\"d"),
    ];
    let keys = [&GEN_KEYS[..], &["a\"b", "new", "tab\t"][..]].concat();
    (0..1 + rng.below(4))
        .map(|_| {
            let key = rng.pick(&keys);
            match rng.below(5) {
                0 => remove(key),
                // The value the key has, if any: a set that changes nothing.
                1 | 2 => set(key, present.get(key).cloned().unwrap_or(json!(1))),
                _ => set(key, values[rng.below(values.len())].clone()),
            }
        })
        .collect()
}

#[test]
fn random_events_and_edits_agree_with_the_parse() {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    // (modified, unmodified, unusual, canonical) cases, so the generator
    // is seen to cover them all.
    let mut seen = [0; 4];
    for _ in 0..4000 {
        let mut json = String::new();
        let mut shape = ordinary();
        json.push_str(rng.pick(&["", " ", "\n"]));
        gen_object(&mut rng, &mut json, &mut shape, 0, true);
        json.push_str(rng.pick(&["", " ", "\n"]));
        let ops = gen_ops(&mut rng, &json);
        let modified = check(&json, &ops, shape);
        seen[usize::from(!modified)] += 1;
        seen[2] += usize::from(shape.unusual);
        seen[3] += usize::from(shape.canonical);
    }
    assert!(seen.iter().all(|&n| n > 300), "{seen:?}");
}
