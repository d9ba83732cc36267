//! Property tests: the one-pass decoder against the two-pass reference
//! (`reference/`: the old projection to JSON, then arrow-json), on random
//! tables and random events for them. Both must make the same batch, and
//! refuse the same events for the same reasons (an unparsable value's path
//! is finer now, so only its kind is compared).
//!
//! The events are built as text, so their spelling is chosen here: keys in
//! any case and with `-`, escapes and surrogate pairs, numbers at the edges
//! of each type, values of the wrong kind, unknown keys holding nested
//! junk, duplicated keys, and cut-off events.

use std::fmt;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::reference::ReferenceDecoder;
use super::{DecodeLimits, Event, RejectReason, TableDecoder};
use crate::schema::Schema;

/// A Hive type, as the generator sees it.
#[derive(Debug, Clone)]
enum Ty {
    Leaf(&'static str),
    Array(Box<Ty>),
    Map(&'static str, Box<Ty>),
    Struct(Vec<Ty>),
}

/// Field names by position; none is a prefix-fold of another.
const NAMES: [&str; 5] = ["host", "user_agent", "a", "session_datetime", "x_1"];

/// Keys that name no field.
const UNKNOWN: [&str; 3] = ["Cookie", "extra", "zz-top"];

const LEAVES: [&str; 15] = [
    "boolean",
    "tinyint",
    "smallint",
    "int",
    "bigint",
    "float",
    "double",
    "decimal(4,2)",
    "decimal(38,10)",
    "decimal(10,0)",
    "string",
    "binary",
    "date",
    "timestamp",
    "string",
];

const MAP_KEYS: [&str; 9] = [
    "string",
    "int",
    "tinyint",
    "double",
    "decimal(4,2)",
    "date",
    "timestamp",
    "binary",
    "boolean",
];

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Leaf(name) => f.write_str(name),
            Ty::Array(item) => write!(f, "array<{item}>"),
            Ty::Map(key, value) => write!(f, "map<{key},{value}>"),
            Ty::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, ty) in fields.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{}:{ty}", NAMES[i])?;
                }
                f.write_str(">")
            }
        }
    }
}

fn ty() -> impl Strategy<Value = Ty> {
    select(&LEAVES[..])
        .prop_map(Ty::Leaf)
        .prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Ty::Array(Box::new(t))),
                (select(&MAP_KEYS[..]), inner.clone()).prop_map(|(k, v)| Ty::Map(k, Box::new(v))),
                vec(inner, 1..NAMES.len()).prop_map(Ty::Struct),
            ]
        })
}

/// The JSON text of one value for a column of type `ty`: mostly one that
/// fits, sometimes null, sometimes anything at all.
fn value(ty: &Ty) -> BoxedStrategy<String> {
    let fitting = match ty {
        Ty::Leaf(name) => leaf(name),
        Ty::Array(item) => vec(value(item), 0..4)
            .prop_map(|items| format!("[{}]", items.join(", ")))
            .boxed(),
        Ty::Map(key, v) => vec((map_key(key), value(v)), 0..3)
            .prop_map(|entries| {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("\"{k}\": {v}"))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            })
            .boxed(),
        Ty::Struct(fields) => object(fields),
    };
    prop_oneof![18 => fitting, 1 => Just("null".to_string()), 1 => junk()].boxed()
}

/// A struct's object: some of its fields under any spelling, unknown keys,
/// now and then a field twice.
fn object(fields: &[Ty]) -> BoxedStrategy<String> {
    let known: Vec<_> = fields
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            option::weighted(0.7, (spelling(NAMES[i]), value(ty)))
                .prop_map(|entry| entry.map(|(k, v)| format!("{k}: {v}")))
        })
        .collect();
    let unknown = vec(
        (select(&UNKNOWN[..]), junk()).prop_map(|(k, v)| format!("\"{k}\": {v}")),
        0..2,
    );
    (known, unknown, any::<u8>(), any::<bool>())
        .prop_map(|(known, unknown, twice, unknown_first)| {
            let mut entries: Vec<String> = known.into_iter().flatten().collect();
            if twice < 12
                && let Some(first) = entries.first().cloned()
            {
                entries.push(first);
            }
            if unknown_first {
                entries.splice(0..0, unknown);
            } else {
                entries.extend(unknown);
            }
            format!("{{{}}}", entries.join(", "))
        })
        .boxed()
}

/// A key for field `name`, quoted: any case, `_` as `-` or not, its first
/// letter now and then a `\u` escape.
fn spelling(name: &'static str) -> impl Strategy<Value = String> {
    (vec(any::<(bool, bool)>(), name.len()), any::<u8>()).prop_map(move |(flips, escape)| {
        let mut key: String = name
            .chars()
            .zip(flips)
            .map(|(c, (upper, dash))| match c {
                '_' if dash => '-',
                c if upper => c.to_ascii_uppercase(),
                c => c,
            })
            .collect();
        if escape < 20 {
            let first = key.remove(0);
            key = format!("\\u{:04X}{key}", u32::from(first));
        }
        format!("\"{key}\"")
    })
}

/// Any JSON value, nested a little, with strings that are hard to read.
fn junk() -> BoxedStrategy<String> {
    select(
        &[
            r#"{"deep": [1, 2, {"a": null, "b": "\uD800"}]}"#,
            r#"[1, "x", [true, {}]]"#,
            r#""str\n""#,
            "1.5",
            "-7",
            "true",
            "{}",
            "[]",
            r#"{"host": [1e400]}"#,
        ][..],
    )
    .prop_map(str::to_string)
    .boxed()
}

fn quoted(texts: &'static [&'static str]) -> BoxedStrategy<String> {
    (select(texts), any::<bool>())
        .prop_map(|(t, quote)| {
            if quote {
                format!("\"{t}\"")
            } else {
                t.to_string()
            }
        })
        .boxed()
}

fn ints(bits: u32) -> BoxedStrategy<String> {
    let max = (1i128 << (bits - 1)) - 1;
    let min = -max - 1;
    let edges: Vec<String> = [min - 1, min, min + 1, -1, 0, 1, max - 1, max, max + 1]
        .iter()
        .map(i128::to_string)
        .collect();
    prop_oneof![
        6 => (select(edges), any::<bool>())
            .prop_map(|(t, quote)| if quote { format!("\"{t}\"") } else { t }),
        4 => any::<i16>().prop_map(|v| v.to_string()),
        1 => select(&["1.5", "1e3", "-0", "\"007\"", "\"+5\"", "\" 5\"", "\"abc\"", "\"\\u0035\""][..])
            .prop_map(str::to_string),
    ]
    .boxed()
}

fn leaf(name: &str) -> BoxedStrategy<String> {
    match name {
        "boolean" => prop_oneof![
            6 => select(&["true", "false"][..]),
            1 => select(&["\"true\"", "1"][..]),
        ]
        .prop_map(str::to_string)
        .boxed(),
        "tinyint" => ints(8),
        "smallint" => ints(16),
        "int" => ints(32),
        "bigint" => ints(64),
        "float" | "double" => prop_oneof![
            quoted(&[
                "1.5",
                "-2e3",
                "1e39",
                "1e400",
                "-1e-400",
                "0.1",
                "3.4028235e38",
                "7",
                "-0.0",
                "123456789.123456789",
                "1E+2",
            ]),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| format!("{f:e}")),
            select(&["\"abc\"", "\"1.5 \"", "\"\\u0031\""][..]).prop_map(str::to_string),
            any::<f32>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
        ]
        .boxed(),
        n if n.starts_with("decimal") => quoted(&[
            "12.34",
            "12.345",
            "123456.5",
            "-0.001",
            "1e3",
            "1.5e-3",
            "99",
            "1e400",
            "99999999999999999999999999999.5",
            "-12.3",
            "0",
        ]),
        "string" => prop_oneof![
            3 => text().prop_map(|t| format!("\"{t}\"")),
            1 => select(&["42", "-1.5e3", "true", "false", "1e400", "0"][..])
                .prop_map(str::to_string),
        ]
        .boxed(),
        "binary" => prop_oneof![
            vec(select(&b"0123456789abcdefABCDEF"[..]), 0..9)
                .prop_map(|digits| format!("\"{}\"", String::from_utf8_lossy(&digits))),
            select(
                &[
                    "\"zz\"",
                    "\"0g\"",
                    "\"\\u0030\\u0031\"",
                    "\"caf\u{e9}\"",
                    "12"
                ][..]
            )
            .prop_map(str::to_string),
        ]
        .boxed(),
        "date" => select(
            &[
                "\"2018-08-13\"",
                "\"1970-01-01\"",
                "\"yesterday\"",
                "\"2018-02-30\"",
                "\"2018-8-1\"",
                "\"2018-08-13T00:00:00\"",
                "\" 2018-08-13\"",
                "\"+10000-01-01\"",
                "\"20180813\"",
                "17756",
            ][..],
        )
        .prop_map(str::to_string)
        .boxed(),
        "timestamp" => select(
            &[
                "\"2018-08-13 02:16:20\"",
                "\"2018-08-13T02:16:20.123456Z\"",
                "\"2018-08-13T02:16:20+02:00\"",
                "\"2018-08-13\"",
                "\"garbage\"",
                "\"\"",
                "\"1534126580\"",
                "1534126580000000",
                "1.5",
                "-1",
                "1e30",
                "-9223372036854775809",
                "12345678901234567890",
            ][..],
        )
        .prop_map(str::to_string)
        .boxed(),
        other => unreachable!("no values for `{other}`"),
    }
}

/// A string's content as written in JSON: plain characters, escapes,
/// surrogate pairs in either case, and lone surrogates.
fn text() -> impl Strategy<Value = String> {
    vec(
        select(
            &[
                "a",
                "Z",
                " ",
                "\u{e9}",
                "\u{1F600}",
                "\\n",
                "\\\"",
                "\\\\",
                "\\/",
                "\\b\\f\\r\\t",
                "\\u0041",
                "\\u00e9",
                "\\u0000",
                "\\uD83D\\uDE00",
                "\\ud83d\\ude00",
                "\\uD800",
                "\\uDC00",
                "\\uD800\\u0041",
                "\\uDE00\\uD83D",
            ][..],
        ),
        0..6,
    )
    .prop_map(|pieces| pieces.concat())
}

/// A map key of type `key`, without its quotes.
fn map_key(key: &str) -> BoxedStrategy<String> {
    let texts: &'static [&'static str] = match key {
        "string" => return text().boxed(),
        "int" | "tinyint" => &["7", "-128", "127", "128", "abc", "1.5", "\\u0037", "007"],
        "double" | "decimal(4,2)" => &["1.5", "abc", "1e3", "\\u0031", "123456.5"],
        "date" => &["2018-08-13", "nope"],
        "timestamp" => &["2018-08-13 02:16:20", "x"],
        "binary" => &["cafe", "zz", "0"],
        "boolean" => &["true"],
        other => unreachable!("no keys for `{other}`"),
    };
    select(texts).prop_map(str::to_string).boxed()
}

/// A table of up to five columns and a few events for it; one in ten is
/// cut short, and some are not objects at all.
fn table_and_events() -> impl Strategy<Value = (String, Vec<String>)> {
    vec(ty(), 1..NAMES.len()).prop_flat_map(|columns| {
        let schema: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, ty)| format!("{} {ty}", NAMES[i]))
            .collect();
        let event =
            (object(&columns), any::<u8>(), any::<Index>()).prop_map(|(json, cut, at)| match cut {
                0..12 => {
                    let boundaries: Vec<usize> = json.char_indices().map(|(i, _)| i).collect();
                    json[..*at.get(&boundaries)].to_string()
                }
                12..16 => "[1, {\"a\": 2}]".to_string(),
                _ => json,
            });
        (Just(schema.join(", ")), vec(event, 1..8))
    })
}

/// What the two decoders must agree on, for one table and one batch.
fn same_as_reference(
    schema: &str,
    jsons: &[String],
    max_depth: usize,
) -> Result<(), TestCaseError> {
    let schema = Schema::parse(schema).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let limits = DecodeLimits {
        max_depth,
        ..DecodeLimits::default()
    };
    let events: Vec<Event<'_>> = jsons
        .iter()
        .enumerate()
        .map(|(i, json)| Event {
            json: json.as_bytes(),
            timestamp_ms: 1_534_126_580_000,
            partition: 0,
            offset: i64::try_from(i).unwrap_or(i64::MAX),
        })
        .collect();
    let one_pass = TableDecoder::new("t", &schema, limits)
        .unwrap()
        .decode(&events)
        .unwrap();
    let two_pass = ReferenceDecoder::new("t", &schema, limits)
        .unwrap()
        .decode(&events)
        .unwrap();
    let indices = |rejected: &[super::Rejection]| -> Vec<usize> {
        rejected.iter().map(|r| r.index).collect()
    };
    prop_assert_eq!(
        indices(&one_pass.rejected),
        indices(&two_pass.rejected),
        "rejected events; one pass: {:?}, two passes: {:?}",
        one_pass.rejected,
        two_pass.rejected
    );
    for (new, old) in one_pass.rejected.iter().zip(&two_pass.rejected) {
        let event = &jsons[new.index];
        match (&new.reason, &old.reason) {
            (RejectReason::Unparsable { .. }, RejectReason::Unparsable { .. }) => {}
            (new, old) => prop_assert_eq!(new, old, "{}", event),
        }
    }
    prop_assert_eq!(&one_pass.offsets, &two_pass.offsets);
    prop_assert_eq!(&one_pass.batch, &two_pass.batch);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2048,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn one_pass_decodes_as_the_two_pass_reference(
        (schema, events) in table_and_events(),
        max_depth in 3usize..7,
    ) {
        same_as_reference(&schema, &events, max_depth)?;
    }
}

#[test]
fn unicode_escapes_decode_as_arrow_json_decodes_them() {
    let events = [
        r#"{"s": "\uD83D\uDE00 \ud83d\ude00 \u00e9\u0041\n\"\\\/"}"#,
        r#"{"s": "\uD800"}"#,
        r#"{"s": "\uDE00\uD83D"}"#,
        r#"{"s": "a\uD800\u0041"}"#,
        r#"{"s": "ok", "other": "\uD800 in a key no column names"}"#,
    ]
    .map(String::from);
    same_as_reference("s string", &events, 64).unwrap();

    let schema = Schema::parse("s string").unwrap();
    let mut decoder = TableDecoder::new("t", &schema, DecodeLimits::default()).unwrap();
    let batch: Vec<Event<'_>> = events
        .iter()
        .map(|json| Event {
            json: json.as_bytes(),
            timestamp_ms: 0,
            partition: 0,
            offset: 0,
        })
        .collect();
    let decoded = decoder.decode(&batch).unwrap();
    let s = decoded.batch.column_by_name("s").unwrap();
    let s = s
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    assert_eq!(s.value(0), "\u{1F600} \u{1F600} \u{e9}A\n\"\\/");
    let reasons: Vec<String> = decoded
        .rejected
        .iter()
        .map(|r| r.reason.to_string())
        .collect();
    assert_eq!(
        reasons,
        [
            r#"column `s` cannot hold the event's value: `"\uD800"` has a lone UTF-16 surrogate"#,
            r#"column `s` cannot hold the event's value: `"\uDE00\uD83D"` has an invalid UTF-16 surrogate pair"#,
            r#"column `s` cannot hold the event's value: `"a\uD800\u0041"` has an invalid UTF-16 surrogate pair"#,
        ]
    );
}
